"""A task's training graph as the trainer's `TrainingSet`, with the image bytes from the blob store.

    graph = store.training_graph("shoes")
    data = load_images(blobs, graph.images.values(), should_stop)   # threads
    training_set = training_set(graph, data)

Every group of the task's types becomes one group index (training groups first, then test
groups); an image in several groups appears once per group. An image whose bytes have gone from
the store since the graph was read (deleted meanwhile) is left out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

from simmesh.catalog.records import GraphImage, TrainingGraph
from simmesh.catalog.training import TrainingSet
from simmesh.kit import reasons
from simmesh.kit.blobstore import BlobStore
from simmesh.kit.errors import Cancelled, NotFound

log = logging.getLogger(__name__)

# Threads reading image bytes at once.
READ_THREADS = 8


def training_group_count(graph: TrainingGraph) -> int:
    """Training (not test) groups that hold at least one image."""
    return sum(1 for group in graph.groups if group.images)


def load_images(
    blobs: BlobStore, images: Iterable[GraphImage], should_stop: Callable[[], bool] = lambda: False
) -> dict[str, bytes]:
    """The bytes of each image by id; images whose blob is gone are left out. Blocks."""

    def read(image: GraphImage) -> tuple[str, bytes | None]:
        if should_stop():
            raise Cancelled("training was cancelled while reading its images", reason=reasons.TRAINING_CANCELLED)
        try:
            return image.id, blobs.get_bytes(image.blob_key)
        except NotFound:
            log.warning("training image %s has no bytes at %s (deleted meanwhile); left out", image.id, image.blob_key)
            return image.id, None

    with ThreadPoolExecutor(READ_THREADS, thread_name_prefix="training-images") as pool:
        return {image_id: data for image_id, data in pool.map(read, list(images)) if data is not None}


def training_set(graph: TrainingGraph, data: Mapping[str, bytes]) -> TrainingSet:
    """The graph's groups, parents, test marking and images as a `TrainingSet`. A group's images
    come in the order of their contents' digests, not of their ids (made at random on upload), so
    that the same images, uploaded again, train the same model for the same seed."""
    groups = [*graph.groups, *graph.test_groups]
    index = {group.id: i for i, group in enumerate(groups)}
    images: list[bytes] = []
    image_groups: list[int] = []

    def content_order(image_id: str) -> tuple[str, str]:
        image = graph.images.get(image_id)
        return (image.sha256 if image is not None else "", image_id)

    for i, group in enumerate(groups):
        for image_id in sorted(group.images, key=content_order):
            if image_id in data:
                images.append(data[image_id])
                image_groups.append(i)
    return TrainingSet(
        images=images,
        image_groups=image_groups,
        group_parents=[[index[p] for p in group.parents if p in index] for group in groups],
        test_groups=frozenset(range(len(graph.groups), len(groups))),
        group_names=[group.id for group in groups],
    )
