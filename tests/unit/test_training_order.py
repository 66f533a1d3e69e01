"""The training set's order comes from the images' contents, not their ids (made at random on
upload): the same images uploaded again train the same model for the same seed."""

from __future__ import annotations

from datetime import UTC, datetime

from simmesh.catalog.dataset import training_set
from simmesh.catalog.records import GraphGroup, GraphImage, Task, TrainingGraph

NOW = datetime.now(UTC)
TASK = Task("t", "", "", ("s",), {}, 0, 0, "m", NOW, NOW)
CONTENTS = [b"red", b"green", b"blue", b"cyan"]


def graph(ids: list[str]) -> tuple[TrainingGraph, dict[str, bytes]]:
    """The four images under `ids`, in one group listed in id order as the store lists them."""
    images = {i: GraphImage(i, f"sha-{data.decode()}", f"k/{i}", "", 1, 1) for i, data in zip(ids, CONTENTS)}
    group = GraphGroup("g", "s", tuple(sorted(ids)), (), ())
    return TrainingGraph(TASK, (group,), (), images), dict(zip(ids, CONTENTS))


def test_the_same_images_under_other_ids_come_in_the_same_order() -> None:
    first = training_set(*graph(["a1", "b2", "c3", "d4"]))
    again = training_set(*graph(["z9", "y8", "x7", "w6"]))  # the store lists these the other way round
    assert first.images == again.images == sorted(CONTENTS, key=lambda data: f"sha-{data.decode()}")
    assert first.image_groups == again.image_groups == [0, 0, 0, 0]
