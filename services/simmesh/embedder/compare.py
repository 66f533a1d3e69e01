"""Compare: the cosine similarity of candidate images to a reference image under one model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simmesh.embedder.embedding import MAX_BATCH_IMAGES, Embedder
from simmesh.kit import reasons
from simmesh.kit.errors import InvalidArgument, SimmeshError
from simmesh_proto.v1 import common_pb2


@dataclass(frozen=True)
class Comparison:
    model_version: str
    # Cosine similarity of each candidate to the reference, in the candidates' order.
    similarities: np.ndarray


async def compare(
    embedder: Embedder, model: str, reference: common_pb2.Image, candidates: Sequence[common_pb2.Image]
) -> Comparison:
    """Embeds the reference and the candidates in one batch and compares them.

    Unlike `Embedder.embed`, a bad image fails the whole call: its error names the image
    (`reference` or `candidates[i]`) and keeps the image's own reason.
    """
    if not candidates:
        raise InvalidArgument(
            "candidates must hold at least one image", reason=reasons.NO_CANDIDATES, field="candidates"
        )
    if len(candidates) >= MAX_BATCH_IMAGES:
        raise InvalidArgument(
            f"a comparison holds at most {MAX_BATCH_IMAGES - 1} candidates, got {len(candidates)}",
            reason=reasons.BATCH_TOO_LARGE,
            field="candidates",
        )
    version = await embedder.resolve(model)
    names = ["reference", *(f"candidates[{i}]" for i in range(len(candidates)))]
    rows = await embedder.pipeline.fit_batch([reference, *candidates], version.manifest, names=names)
    fitted = []
    for row in rows:
        if isinstance(row, SimmeshError):
            raise row
        fitted.append(row)
    vectors = await embedder.vectors(version, fitted)
    return Comparison(model_version=version.name, similarities=cosine_to_first(vectors))


def cosine_to_first(vectors: np.ndarray) -> np.ndarray:
    """The cosine similarity of rows 1.. to row 0; 0 where either row is all zeros."""
    norms = np.maximum(np.linalg.norm(vectors, axis=1), 1e-12)
    unit = vectors / norms[:, None]
    return np.clip(unit[1:] @ unit[0], -1.0, 1.0).astype(np.float32)
