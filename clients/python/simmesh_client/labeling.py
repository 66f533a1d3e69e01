"""Values the labeler methods of the SDK take and give: params, batches, add summaries."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from simmesh_client.errors import ItemFailure
from simmesh_proto.v1 import labeler_pb2

T = TypeVar("T")

# Images per AddImages / SuggestLabels call the SDK sends by default (the server takes up to 5,000).
DEFAULT_BATCH = 256

EXPORT_FORMATS = {"csv": labeler_pb2.EXPORT_FORMAT_CSV, "json": labeler_pb2.EXPORT_FORMAT_JSON}


def suggest_params(
    k: int | None = None, threshold: float | None = None, use_first: bool = False
) -> labeler_pb2.SuggestParams:
    """SuggestParams; k and threshold None leave the project's defaults."""
    params = labeler_pb2.SuggestParams(use_first=use_first)
    if k is not None:
        params.k = k
    if threshold is not None:
        params.threshold = threshold
    return params


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    if size < 1:
        raise ValueError(f"batch size must be positive, got {size}")
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass(frozen=True)
class LabeledItem:
    """An image to add: `image` is bytes, a path, a URL or an `Image`; no labels = the pool."""

    image: object
    labels: Sequence[str] = ()
    id: str = ""


@dataclass
class AddSummary:
    """What an `add_images` run stored; failures carry their position in the whole input."""

    ids: list[str] = field(default_factory=list)
    failures: list[ItemFailure] = field(default_factory=list)

    @property
    def added(self) -> int:
        return len(self.ids)


def review_list(
    accept: Sequence[str] = (), change: dict[str, Sequence[str]] | None = None, reject: Sequence[str] = ()
) -> list[labeler_pb2.Review]:
    Action = labeler_pb2.Review
    return (
        [Action(image_id=i, action=Action.ACTION_ACCEPT) for i in accept]
        + [Action(image_id=i, action=Action.ACTION_CHANGE, labels=list(labels)) for i, labels in (change or {}).items()]
        + [Action(image_id=i, action=Action.ACTION_REJECT) for i in reject]
    )
