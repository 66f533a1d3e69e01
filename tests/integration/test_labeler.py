"""The labeler as users run it: in-process labeler and embedder (built-in `color` model), a real
indexer (router and two shard processes on real etcd and S3). Labels are colour names, images
coloured PNGs made in code."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from fixtures.status import fails, reason_of
from google.protobuf import field_mask_pb2
from support.models import png_bytes

from simmesh_proto.v1 import indexer_pb2, labeler_pb2

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
        mesh.create("tasky", model="tasks/shoes"), grpc.StatusCode.FAILED_PRECONDITION, "NO_CATALOG", "project.model"
    )
    await fails(
        mesh.create("ghost", model="models/nope"), grpc.StatusCode.NOT_FOUND, "MODEL_NOT_FOUND", "project.model"
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


async def test_a_project_that_names_no_model_embeds_photos_with_generic(mesh):
    project = await mesh.labeler.CreateProject(
        labeler_pb2.CreateProjectRequest(project_id="photos", project=labeler_pb2.Project(display_name="photos"))
    )
    assert project.model == "models/generic"
    collection = await mesh.indexer.GetCollection(indexer_pb2.GetCollectionRequest(name=project.collection))
    assert collection.model == "models/generic/versions/1" and collection.dimension == 1280
    explicit = await mesh.create("swatches")
    assert explicit.model == "models/color", "a model the request names is kept"


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
