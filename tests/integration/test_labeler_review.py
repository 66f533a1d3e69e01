"""The labeler in a real mesh: review and relabelling, evaluation, pool mining, export and simctl."""

from __future__ import annotations

import csv
import io
import json

import grpc
import numpy as np
import pytest
from fixtures.labeler import image
from fixtures.status import outcome, reason_of
from google.protobuf import field_mask_pb2
from support.models import png_bytes
from test_labeler import COLOURS, LABELED, POOL, SUGGESTED, labeled_set, shades

from simmesh_proto.v1 import indexer_pb2, labeler_pb2

pytestmark = pytest.mark.integration


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
