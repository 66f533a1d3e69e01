"""The labeler as users run it: in-process labeler and embedder (built-in `color` model), a real
indexer (router and two shard processes on real etcd and S3). Labels are colour names, images
coloured PNGs made in code."""

from __future__ import annotations

import csv
import io
import json
import re
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import pytest
from fixtures.status import fails, outcome, reason_of
from google.protobuf import field_mask_pb2
from prometheus_client.parser import text_string_to_metric_families
from support.models import png_bytes

from simmesh.embedder.app import build_app as build_embedder
from simmesh.embedder.settings import EmbedderSettings
from simmesh.kit.server import App
from simmesh.labeler.app import build_app as build_labeler
from simmesh.labeler.settings import LabelerSettings
from simmesh_proto.v1 import common_pb2, indexer_pb2, indexer_pb2_grpc, labeler_pb2, labeler_pb2_grpc

pytestmark = pytest.mark.integration

COLOURS = {
    "red": (220, 25, 25),
    "green": (25, 180, 25),
    "blue": (25, 35, 220),
    "yellow": (225, 215, 25),
    "cyan": (10, 170, 210),
}
LABELED = labeler_pb2.IMAGE_STATE_LABELED
SUGGESTED = labeler_pb2.IMAGE_STATE_SUGGESTED
POOL = labeler_pb2.IMAGE_STATE_POOL


def shades(colour: tuple[int, int, int], count: int, seed: int, spread: int = 8) -> list[bytes]:
    """`count` PNGs of `colour`, each channel moved by up to `spread`, in a few sizes."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        moved = tuple(int(np.clip(c + rng.integers(-spread, spread + 1), 0, 255)) for c in colour)
        out.append(png_bytes(moved, size=(32 + 8 * (i % 3), 24 + 4 * (i % 4))))
    return out


def image(content: bytes) -> common_pb2.Image:
    return common_pb2.Image(content=content)


def rpc_count(metrics_text: str, method: str) -> float:
    """Calls of `method` a server counted (simmesh_rpc_requests_total, every code)."""
    total = 0.0
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == "simmesh_rpc_requests_total" and sample.labels.get("method") == method:
                total += sample.value
    return total


@dataclass
class Mesh:
    labeler_address: str
    labeler: labeler_pb2_grpc.LabelerServiceStub
    indexer: indexer_pb2_grpc.IndexerServiceStub
    embedder_app: App
    router_metrics_url: str

    def embed_calls(self) -> float:
        text = self.embedder_app.metrics.text()
        return rpc_count(text, "Embed") + rpc_count(text, "StreamEmbed")

    def search_calls(self) -> float:
        with urllib.request.urlopen(self.router_metrics_url, timeout=10) as response:
            return rpc_count(response.read().decode(), "Search")

    async def create(self, project_id: str, **params) -> labeler_pb2.Project:
        return await self.labeler.CreateProject(
            labeler_pb2.CreateProjectRequest(
                project_id=project_id,
                project=labeler_pb2.Project(
                    model="models/color", display_name=project_id, default_params=labeler_pb2.SuggestParams(**params)
                ),
            )
        )

    async def add(self, project_id: str, images: dict[str, tuple[bytes, list[str]]], upsert: bool = False):
        return await self.labeler.AddImages(
            labeler_pb2.AddImagesRequest(
                project=f"projects/{project_id}",
                upsert=upsert,
                images=[
                    labeler_pb2.ImageInput(id=i, image=image(data), labels=labels)
                    for i, (data, labels) in images.items()
                ],
            )
        )

    async def suggest(
        self, project_id: str, images: list[bytes], *, save: bool = False, ids: list[str] | None = None, **params
    ) -> labeler_pb2.SuggestLabelsResponse:
        items = [
            labeler_pb2.SuggestItem(image=image(data), id=(ids[i] if ids else "")) for i, data in enumerate(images)
        ]
        return await self.labeler.SuggestLabels(
            labeler_pb2.SuggestLabelsRequest(
                project=f"projects/{project_id}", items=items, save=save, params=labeler_pb2.SuggestParams(**params)
            )
        )

    async def images(self, project_id: str, **filters) -> list[labeler_pb2.LabeledImage]:
        out, token = [], ""
        while True:
            page = await self.labeler.ListImages(
                labeler_pb2.ListImagesRequest(
                    project=f"projects/{project_id}", page_size=100, page_token=token, **filters
                )
            )
            out += page.images
            token = page.next_page_token
            if not token:
                return out


def router_metrics_port(log_path: Path) -> int:
    for line in log_path.read_text().splitlines():
        match = re.search(r'"metrics_port": (\d+)', line)
        if match:
            return int(match.group(1))
    raise AssertionError(f"the router logged no metrics port in {log_path}")


@pytest.fixture
async def mesh(tmp_path, indexer_cluster) -> AsyncIterator[Mesh]:
    embedder = await build_embedder(
        EmbedderSettings(host="127.0.0.1", port=0, data_dir=str(tmp_path / "embedder"), builtin_models=True)
    )
    await embedder.start()
    cluster = indexer_cluster(shards=2, embedder_addr=embedder.address, env={"SIMMESH_METRICS_PORT": "0"})
    labeler = await build_labeler(
        LabelerSettings(
            host="127.0.0.1",
            port=0,
            data_dir=str(tmp_path / "labeler"),
            embedder_addr=embedder.address,
            indexer_addr=cluster.router_address,
            collection_shards=2,
        )
    )
    await labeler.start()
    port = router_metrics_port(cluster.root / "router.log")
    try:
        async with (
            grpc.aio.insecure_channel(labeler.address) as channel,
            grpc.aio.insecure_channel(cluster.router_address) as router,
        ):
            yield Mesh(
                labeler.address,
                labeler_pb2_grpc.LabelerServiceStub(channel),
                indexer_pb2_grpc.IndexerServiceStub(router),
                embedder,
                f"http://127.0.0.1:{port}/metrics",
            )
    finally:
        await labeler.stop(grace=0)
        await embedder.stop(grace=0)


def labeled_set(per_colour: int = 8) -> dict[str, tuple[bytes, list[str]]]:
    out = {}
    for c, (name, colour) in enumerate(COLOURS.items()):
        for i, data in enumerate(shades(colour, per_colour, seed=c)):
            out[f"{name}-{i}"] = (data, [name])
    return out


async def test_projects_crud_and_bad_references(mesh):
    project = await mesh.create("colours", k=7, threshold=40.0)
    assert project.name == "projects/colours" and project.model == "models/color"
    assert project.collection == "collections/lbl-colours"
    assert (project.default_params.k, project.default_params.threshold) == (7, 40.0)
    collection = await mesh.indexer.GetCollection(indexer_pb2.GetCollectionRequest(name=project.collection))
    assert collection.metric == indexer_pb2.METRIC_COSINE and collection.model == "models/color/versions/1"
    assert set(collection.indexed_fields) == {"labels", "state"} and collection.shard_count == 2

    updated = await mesh.labeler.UpdateProject(
        labeler_pb2.UpdateProjectRequest(
            project=labeler_pb2.Project(
                name="projects/colours", description="five colours", default_params=labeler_pb2.SuggestParams(k=3)
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["description", "default_params.k"]),
        )
    )
    assert updated.description == "five colours" and updated.default_params.k == 3
    assert updated.default_params.threshold == 40.0
    await mesh.create("other")
    listed = await mesh.labeler.ListProjects(labeler_pb2.ListProjectsRequest(page_size=1))
    rest = await mesh.labeler.ListProjects(
        labeler_pb2.ListProjectsRequest(page_size=1, page_token=listed.next_page_token)
    )
    assert [p.name for p in [*listed.projects, *rest.projects]] == ["projects/colours", "projects/other"]

    await fails(mesh.create("colours"), grpc.StatusCode.ALREADY_EXISTS, "PROJECT_EXISTS", "project_id")
    await fails(
        mesh.labeler.CreateProject(
            labeler_pb2.CreateProjectRequest(project_id="tasky", project=labeler_pb2.Project(model="tasks/shoes"))
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "NO_CATALOG",
        "project.model",
    )
    await fails(
        mesh.labeler.CreateProject(
            labeler_pb2.CreateProjectRequest(project_id="ghost", project=labeler_pb2.Project(model="models/nope"))
        ),
        grpc.StatusCode.NOT_FOUND,
        "MODEL_NOT_FOUND",
        "project.model",
    )
    await fails(
        mesh.labeler.GetProject(labeler_pb2.GetProjectRequest(name="projects/nope")),
        grpc.StatusCode.NOT_FOUND,
        "PROJECT_NOT_FOUND",
    )
    await fails(
        mesh.labeler.UpdateProject(
            labeler_pb2.UpdateProjectRequest(
                project=labeler_pb2.Project(name="projects/colours", model="models/match"),
                update_mask=field_mask_pb2.FieldMask(paths=["model"]),
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_UPDATE_MASK",
        "update_mask",
    )
    await fails(
        mesh.create("bad", threshold=120.0),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_THRESHOLD",
        "project.default_params.threshold",
    )

    await mesh.labeler.DeleteProject(labeler_pb2.DeleteProjectRequest(name="projects/colours"))
    await fails(
        mesh.indexer.GetCollection(indexer_pb2.GetCollectionRequest(name=project.collection)),
        grpc.StatusCode.NOT_FOUND,
        "COLLECTION_NOT_FOUND",
    )
    await fails(
        mesh.labeler.GetProject(labeler_pb2.GetProjectRequest(name="projects/colours")),
        grpc.StatusCode.NOT_FOUND,
        "PROJECT_NOT_FOUND",
    )


async def test_a_batch_costs_one_embed_and_one_search_and_labels_colours(mesh):
    await mesh.create("colours")
    added = await mesh.add("colours", labeled_set(8))
    assert not added.errors and len(added.ids) == 40
    counts = await mesh.labeler.ListLabels(labeler_pb2.ListLabelsRequest(project="projects/colours"))
    assert {c.label: (c.labeled_count, c.suggested_count) for c in counts.labels} == {n: (8, 0) for n in COLOURS}
    reds = await mesh.images("colours", label="red")
    assert sorted(i.id for i in reds) == [f"red-{i}" for i in range(8)] and all(i.state == LABELED for i in reds)

    batch, truth = [], []
    for c, (name, colour) in enumerate(COLOURS.items()):
        batch += shades(colour, 24, seed=100 + c)
        truth += [name] * 24
    embeds, searches = mesh.embed_calls(), mesh.search_calls()
    reply = await mesh.suggest("colours", batch, k=5, threshold=50.0, use_first=True)
    assert mesh.embed_calls() - embeds == 1
    assert mesh.search_calls() - searches == 1
    assert not reply.errors and [s.index for s in reply.suggestions] == list(range(len(batch)))
    for suggestion, name in zip(reply.suggestions, truth):
        assert [s.label for s in suggestion.labels] == [name]
        assert suggestion.labels[0].score >= 50.0
        assert len(suggestion.neighbors) == 5
        sims = [n.similarity for n in suggestion.neighbors]
        assert sims == sorted(sims, reverse=True) and sims[0] > 0.3
        assert suggestion.neighbors[0].labels == [name] and suggestion.neighbors[0].id.startswith(name)
        assert suggestion.scores[0].label == name

    # Without use_first every label at the threshold is listed; the project's defaults apply.
    mixed = png_bytes((220, 25, 25), size=(40, 30))
    half = await mesh.suggest("colours", [mixed], threshold=0.0)
    assert half.suggestions[0].labels[0].label == "red"
    assert [s.label for s in half.suggestions[0].labels] == [s.label for s in half.suggestions[0].scores if s.score > 0]


async def test_bad_input_fails_precisely_and_saves_nothing_for_failed_items(mesh):
    await mesh.create("colours")
    await mesh.add("colours", labeled_set(4))

    good = shades(COLOURS["green"], 2, seed=9)
    await fails(mesh.suggest("nope", good), grpc.StatusCode.NOT_FOUND, "PROJECT_NOT_FOUND")
    await fails(
        mesh.suggest("colours", good, threshold=150.0),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_THRESHOLD",
        "params.threshold",
    )
    await fails(
        mesh.suggest("colours", good, threshold=-0.5),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_THRESHOLD",
        "params.threshold",
    )
    await fails(mesh.suggest("colours", good, k=-1), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_K", "params.k")
    await fails(mesh.suggest("colours", good, k=0), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_K", "params.k")
    await fails(mesh.suggest("colours", []), grpc.StatusCode.INVALID_ARGUMENT, "EMPTY_BATCH", "items")

    before = len(await mesh.images("colours"))
    reply = await mesh.suggest("colours", [good[0], b"not an image", good[1]], save=True, ids=["g1", "broken", "g2"])
    assert [(e.index, e.id, reason_of(e.status)) for e in reply.errors] == [(1, "broken", "IMAGE_UNDECODABLE")]
    assert [(s.index, s.id) for s in reply.suggestions] == [(0, "g1"), (2, "g2")]
    stored = {i.id: i for i in await mesh.images("colours")}
    assert len(stored) == before + 2 and "broken" not in stored
    assert stored["g1"].state == SUGGESTED and list(stored["g1"].labels) == ["green"]
    records = await mesh.indexer.BatchGetRecords(
        indexer_pb2.BatchGetRecordsRequest(collection="collections/lbl-colours", ids=["g1", "broken"])
    )
    assert [r.id for r in records.records] == ["g1"] and list(records.missing_ids) == ["broken"]
    assert list(records.records[0].metadata["labels"]) == ["green"]
    assert records.records[0].metadata["state"] == "suggested"

    # An existing id is refused for that item only; so is an undecodable image on AddImages.
    added = await mesh.add("colours", {"g1": (good[0], ["green"]), "new": (good[1], []), "bad": (b"junk", ["x"])})
    assert [(e.index, reason_of(e.status)) for e in added.errors] == [(0, "IMAGE_EXISTS"), (2, "IMAGE_UNDECODABLE")]
    assert list(added.ids) == ["", "new", ""]
    assert {i.id for i in await mesh.images("colours", state=POOL)} == {"new"}


async def test_saved_suggestions_help_the_next_batch(mesh):
    """Colours drift from a seed towards a hue no seed resembles: once a batch of intermediate
    shades is saved with its (correct) suggestions, the far shades find them as neighbours."""
    await mesh.create("drift", k=3, threshold=30.0, use_first=True)
    seeds = {f"warm-{i}": (d, ["warm"]) for i, d in enumerate(shades((220, 20, 20), 3, seed=1, spread=4))}
    seeds |= {f"cool-{i}": (d, ["cool"]) for i, d in enumerate(shades((20, 30, 220), 3, seed=2, spread=4))}
    await mesh.add("drift", seeds)
    batch2 = (
        shades((228, 55, 12), 4, 3, 4)
        + shades((236, 90, 5), 4, 4, 4)
        + shades((15, 70, 215), 4, 5, 4)
        + shades((10, 110, 210), 4, 6, 4)
    )
    truth2 = ["warm"] * 8 + ["cool"] * 8
    batch3 = shades((240, 125, 0), 4, 7, 4) + shades((5, 130, 207), 6, 8, 4)
    truth3 = ["warm"] * 4 + ["cool"] * 6

    def accuracy(reply, truth) -> float:
        got = {s.index: [score.label for score in s.labels] for s in reply.suggestions}
        return sum(got.get(i) == [t] for i, t in enumerate(truth)) / len(truth)

    before = await mesh.suggest("drift", batch3)
    saved = await mesh.suggest("drift", batch2, save=True, ids=[f"b2-{i}" for i in range(len(batch2))])
    assert accuracy(saved, truth2) == 1.0
    after = await mesh.suggest("drift", batch3)
    assert accuracy(after, truth3) >= accuracy(saved, truth2)
    assert accuracy(after, truth3) >= accuracy(before, truth3)
    for old, new in zip(before.suggestions, after.suggestions):
        assert new.neighbors[0].id.startswith("b2-")
        assert new.neighbors[0].similarity > old.neighbors[0].similarity
    counts = await mesh.labeler.ListLabels(labeler_pb2.ListLabelsRequest(project="projects/drift"))
    assert {c.label: (c.labeled_count, c.suggested_count) for c in counts.labels} == {"warm": (3, 8), "cool": (3, 8)}


def two_colour_png(left: tuple[int, int, int], right: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> bytes:
    from PIL import Image as PILImage

    width, height = size
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[:, : width // 2] = left
    pixels[:, width // 2 :] = right
    buffer = io.BytesIO()
    PILImage.fromarray(pixels, "RGB").save(buffer, "PNG")
    return buffer.getvalue()


async def test_review_relabel_delete_and_suggest_for_stored_images(mesh):
    await mesh.create("colours", k=5, threshold=50.0)
    await mesh.add("colours", labeled_set(4))
    shots = shades(COLOURS["red"], 3, seed=20) + shades(COLOURS["cyan"], 1, seed=21)
    saved = await mesh.suggest("colours", shots, save=True, ids=["s1", "s2", "s3", "s4"])
    assert [s.labels[0].label for s in saved.suggestions] == ["red", "red", "red", "cyan"]

    Action = labeler_pb2.Review
    reply = await mesh.labeler.ReviewSuggestions(
        labeler_pb2.ReviewSuggestionsRequest(
            project="projects/colours",
            reviews=[
                labeler_pb2.Review(image_id="s1", action=Action.ACTION_ACCEPT),
                labeler_pb2.Review(image_id="s2", action=Action.ACTION_CHANGE, labels=["red", "warm"]),
                labeler_pb2.Review(image_id="s3", action=Action.ACTION_REJECT),
                labeler_pb2.Review(image_id="red-0", action=Action.ACTION_ACCEPT),
                labeler_pb2.Review(image_id="nope", action=Action.ACTION_REJECT),
                labeler_pb2.Review(image_id="s4"),
            ],
        )
    )
    assert (reply.accepted_count, reply.changed_count, reply.rejected_count) == (1, 1, 1)
    assert [(e.index, reason_of(e.status)) for e in reply.errors] == [
        (3, "IMAGE_NOT_SUGGESTED"),
        (4, "IMAGE_NOT_FOUND"),
        (5, "INVALID_ACTION"),
    ]
    stored = {i.id: i for i in await mesh.images("colours")}
    assert (stored["s1"].state, list(stored["s1"].labels)) == (LABELED, ["red"])
    assert (stored["s2"].state, list(stored["s2"].labels)) == (LABELED, ["red", "warm"])
    assert (stored["s3"].state, list(stored["s3"].labels)) == (POOL, [])
    assert stored["s4"].state == SUGGESTED
    records = await mesh.indexer.BatchGetRecords(
        indexer_pb2.BatchGetRecordsRequest(collection="collections/lbl-colours", ids=["s2", "s3"])
    )
    meta = {r.id: (list(r.metadata["labels"]), r.metadata["state"]) for r in records.records}
    assert meta == {"s2": (["red", "warm"], "labeled"), "s3": ([], "pool")}

    # Suggest for images already in the project, by id: a pool image and a labeled one.
    by_id = await mesh.labeler.SuggestLabels(
        labeler_pb2.SuggestLabelsRequest(
            project="projects/colours",
            save=True,
            items=[
                labeler_pb2.SuggestItem(image_id="s3"),
                labeler_pb2.SuggestItem(image_id="green-1"),
                labeler_pb2.SuggestItem(image_id="missing"),
            ],
        )
    )
    assert [(e.index, reason_of(e.status)) for e in by_id.errors] == [(2, "IMAGE_NOT_FOUND")]
    pool_one, labeled_one = by_id.suggestions
    assert pool_one.id == "s3" and pool_one.labels[0].label == "red"
    assert labeled_one.id == "green-1" and "green-1" not in [n.id for n in labeled_one.neighbors]
    assert len(labeled_one.neighbors) == 5 and labeled_one.labels[0].label == "green"
    after = {i.id: i for i in await mesh.images("colours")}
    assert after["s3"].state == SUGGESTED and after["green-1"].state == LABELED

    changed = await mesh.labeler.UpdateImage(
        labeler_pb2.UpdateImageRequest(
            image=labeler_pb2.LabeledImage(name="projects/colours/images/blue-0", labels=["navy"]),
            update_mask=field_mask_pb2.FieldMask(paths=["labels"]),
        )
    )
    assert list(changed.labels) == ["navy"] and changed.state == LABELED
    got = await mesh.labeler.GetImage(labeler_pb2.GetImageRequest(name="projects/colours/images/blue-0"))
    assert list(got.labels) == ["navy"]

    deleted = await mesh.labeler.DeleteImages(
        labeler_pb2.DeleteImagesRequest(project="projects/colours", ids=["s1", "blue-1", "never"])
    )
    assert deleted.deleted_count == 2 and list(deleted.missing_ids) == ["never"]
    gone = await mesh.indexer.BatchGetRecords(
        indexer_pb2.BatchGetRecordsRequest(collection="collections/lbl-colours", ids=["s1", "blue-1", "blue-2"])
    )
    assert list(gone.missing_ids) == ["s1", "blue-1"]
    project = await mesh.labeler.GetProject(labeler_pb2.GetProjectRequest(name="projects/colours"))
    assert project.labeled_count == 20 - 1 + 1 and project.pool_count == 0


async def test_evaluate_one_setting_and_a_sweep(mesh):
    await mesh.create("colours")
    images = labeled_set(8)
    images["odd"] = (shades(COLOURS["red"], 1, seed=50)[0], ["green"])
    await mesh.add("colours", images)
    reply = await mesh.labeler.Evaluate(
        labeler_pb2.EvaluateRequest(
            project="projects/colours", params=labeler_pb2.SuggestParams(k=5, threshold=50.0, use_first=True)
        )
    )
    assert reply.image_count == 41 and len(reply.evaluations) == 1
    [result] = reply.evaluations
    assert result.accuracy == pytest.approx(40 / 41) and result.coverage == 1.0
    figures = {a.label: a for a in result.labels}
    assert figures["green"].support == 9 and figures["green"].recall == pytest.approx(8 / 9)
    assert figures["red"].precision == pytest.approx(8 / 9) and figures["red"].recall == 1.0
    cells = {(c.actual, c.predicted): c.count for c in result.confusion}
    assert cells[("green", "red")] == 1 and cells[("red", "red")] == 8 and sum(cells.values()) == 41

    sweep = await mesh.labeler.Evaluate(
        labeler_pb2.EvaluateRequest(project="projects/colours", k_values=[1, 3, 5], threshold_values=[30.0, 99.0])
    )
    assert len(sweep.evaluations) == 6
    assert {(e.params.k, e.params.threshold) for e in sweep.evaluations} == {
        (k, t) for k in (1, 3, 5) for t in (30.0, 99.0)
    }
    keys = [(-e.accuracy, -e.coverage) for e in sweep.evaluations]
    assert keys == sorted(keys)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await mesh.labeler.Evaluate(
            labeler_pb2.EvaluateRequest(
                project="projects/colours", params=labeler_pb2.SuggestParams(k=3), k_values=[1, 2]
            )
        )
    assert outcome(raised.value)[:3] == (grpc.StatusCode.INVALID_ARGUMENT, "PARAMS_AND_SWEEP", ["params"])


async def test_mine_the_pool_without_near_duplicates_and_list_uncertain(mesh):
    await mesh.create("colours", k=6)
    await mesh.add("colours", labeled_set(4))
    pool = {f"dup-{i}": (png_bytes(COLOURS["red"]), []) for i in range(5)}
    pool |= {f"reddish-{i}": (d, []) for i, d in enumerate(shades((200, 60, 40), 6, seed=30, spread=30))}
    pool |= {f"blue-pool-{i}": (d, []) for i, d in enumerate(shades(COLOURS["blue"], 4, seed=31))}
    pool["torn"] = (two_colour_png(COLOURS["red"], COLOURS["green"]), [])
    await mesh.add("colours", pool)

    async def mine(page_size: int, **query) -> list[labeler_pb2.PoolHit]:
        hits, token = [], ""
        while True:
            reply = await mesh.labeler.MinePool(
                labeler_pb2.MinePoolRequest(project="projects/colours", page_size=page_size, page_token=token, **query)
            )
            hits += reply.hits
            token = reply.next_page_token
            if not token:
                return hits

    example = [image(png_bytes((222, 28, 26)))]
    whole = await mine(50, examples=example)
    paged = await mine(2, examples=example)
    assert [h.id for h in paged] == [h.id for h in whole]
    ids = [h.id for h in whole]
    assert len(ids) == len(set(ids)) and sum(i.startswith("dup-") for i in ids) == 1
    assert ids[0].startswith("dup-")
    sims = [h.similarity for h in whole]
    assert sims == sorted(sims, reverse=True)
    assert all(not i.startswith(("red-", "green-")) for i in ids)
    records = await mesh.indexer.BatchGetRecords(
        indexer_pb2.BatchGetRecordsRequest(collection="collections/lbl-colours", ids=ids, include_vectors=True)
    )
    vectors = np.stack([np.frombuffer(r.vector.data, "<f4") for r in records.records])
    cosine = vectors @ vectors.T
    assert (cosine[~np.eye(len(ids), dtype=bool)] < 0.95).all()

    by_label = await mine(50, label="blue")
    assert by_label[0].id.startswith("blue-pool-")
    strict = await mine(50, examples=example, duplicate_similarity=0.3)
    assert 0 < len(strict) < len(whole) and strict[0].id == ids[0]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await mesh.labeler.MinePool(labeler_pb2.MinePoolRequest(project="projects/colours"))
    assert outcome(raised.value)[:2] == (grpc.StatusCode.INVALID_ARGUMENT, "NO_EXAMPLES")

    first = await mesh.labeler.ListUncertain(labeler_pb2.ListUncertainRequest(project="projects/colours", page_size=3))
    second = await mesh.labeler.ListUncertain(
        labeler_pb2.ListUncertainRequest(project="projects/colours", page_size=100, page_token=first.next_page_token)
    )
    uncertain = [*first.images, *second.images]
    assert len(uncertain) == len(pool) and first.images[0].id == "torn"
    assert {s.label for s in first.images[0].scores} >= {"red", "green"}
    margins = [u.margin for u in uncertain]
    assert margins == sorted(margins) and margins[-1] > 90.0


async def test_export_csv_and_json(mesh):
    await mesh.create("colours")
    await mesh.add("colours", labeled_set(3) | {"pool-0": (png_bytes((90, 90, 90)), [])})
    await mesh.suggest("colours", shades(COLOURS["yellow"], 2, seed=40), save=True, ids=["sug-0", "sug-1"])

    async def export(fmt, include_suggested=False) -> tuple[str, bytes]:
        chunks = [
            c
            async for c in mesh.labeler.ExportLabels(
                labeler_pb2.ExportLabelsRequest(
                    project="projects/colours", format=fmt, include_suggested=include_suggested
                )
            )
        ]
        return chunks[0].content_type, b"".join(c.data for c in chunks)

    content_type, data = await export(labeler_pb2.EXPORT_FORMAT_CSV)
    assert content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert len(rows) == 15 and {r["state"] for r in rows} == {"labeled"}
    assert {r["id"]: r["labels"] for r in rows}["cyan-2"] == "cyan"
    content_type, data = await export(labeler_pb2.EXPORT_FORMAT_JSON, include_suggested=True)
    assert content_type == "application/json"
    items = json.loads(data)
    assert len(items) == 17 and {i["id"]: i["labels"] for i in items}["sug-1"] == ["yellow"]
    assert {i["state"] for i in items} == {"labeled", "suggested"}
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await export(labeler_pb2.EXPORT_FORMAT_UNSPECIFIED)
    assert outcome(raised.value)[:2] == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_FORMAT")


async def test_simctl_label_verbs(mesh, tmp_path, capsys):
    import asyncio

    from simmesh_client.cli import main

    labeled, fresh = tmp_path / "labeled", tmp_path / "fresh"
    for name in ("red", "blue", "green"):
        (labeled / name).mkdir(parents=True)
        for i, data in enumerate(shades(COLOURS[name], 4, seed=60 + len(name))):
            (labeled / name / f"{i}.png").write_bytes(data)
    fresh.mkdir()
    for i, data in enumerate(shades(COLOURS["blue"], 3, seed=70)):
        (fresh / f"b{i}.png").write_bytes(data)
    (tmp_path / "more.csv").write_text("path,label\nfresh/b0.png,blue\nfresh/b0.png,sky\n")
    address = ["--labeler", mesh.labeler_address]

    async def simctl(*argv: str) -> tuple[int, str]:
        code = await asyncio.to_thread(main, [*argv, *address])
        return code, capsys.readouterr().out

    assert (await simctl("label", "create", "cli", "--model", "models/color", "--k", "3"))[0] == 0
    code, out = await simctl("label", "add", "cli", "--folder", str(labeled))
    assert code == 0 and "added 12 of 12" in out
    code, out = await simctl("label", "add", "cli", "--csv", str(tmp_path / "more.csv"))
    assert code == 0 and "added 1 of 1" in out
    code, out = await simctl("label", "suggest", "cli", str(fresh), "--use-first", "--save", "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 3 and {r["labels"][0]["label"] for r in rows} == {"blue"}
    code, out = await simctl("label", "evaluate", "cli", "--sweep-k", "1,3", "--sweep-threshold", "30,60")
    assert code == 0 and out.count("\n") >= 6 and "ACCURACY" in out
    code, out = await simctl("label", "export", "cli", "--format", "csv", "--include-suggested")
    assert code == 0 and out.startswith("id,labels,state,url") and "fresh:b0.png,blue;sky,labeled" in out
