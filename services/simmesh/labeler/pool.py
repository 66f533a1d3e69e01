"""MinePool: the unlabeled images most similar to a few examples, near-duplicates removed.

Examples are images (embedded in one Embed call), ids of project images, and/or every image
carrying a label. One Search call (1,000 queries a call) asks each example for its nearest pool
images; hits are merged by best similarity and thinned greedily (see `mining`), fetching the
vectors of the best-ranked hits only. Pages are offsets into that ranking; a page that needs
more hits than were fetched searches deeper, up to the indexer's 1,000 hits per query.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from simmesh.kit import reasons
from simmesh.kit.errors import InvalidArgument, NotFound
from simmesh.kit.paging import clamp_page_size, decode_offset, fingerprint, offset_token
from simmesh.labeler.backends import Backends
from simmesh.labeler.batches import at_field
from simmesh.labeler.mining import DEFAULT_DUPLICATE_SIMILARITY, PoolCandidate, merge_best, without_near_duplicates
from simmesh.labeler.records import VOTERS, Project, State
from simmesh_proto.v1 import common_pb2

# Hits per query the indexer gives at most.
MAX_HITS = 1000
POOL_FILTER = {"state": State.POOL.value}


class PoolMiner:
    def __init__(self, backends: Backends) -> None:
        self.backends = backends

    async def mine(
        self,
        project_id: str,
        examples: Sequence[common_pb2.Image],
        example_ids: Sequence[str],
        label: str,
        page_size: int,
        page_token: str,
        duplicate_similarity: float,
        timeout: float | None,
    ) -> tuple[list[PoolCandidate], str]:
        if not examples and not example_ids and not label:
            raise InvalidArgument("give examples, example_ids or a label", reason=reasons.NO_EXAMPLES, field="examples")
        threshold = duplicate_similarity or DEFAULT_DUPLICATE_SIMILARITY
        if not 0.0 < threshold <= 1.0:
            raise InvalidArgument(
                f"duplicate_similarity must be within 0..1 (0 for {DEFAULT_DUPLICATE_SIMILARITY}), "
                f"got {duplicate_similarity}",
                reason=reasons.INVALID_DUPLICATE_SIMILARITY,
                field="duplicate_similarity",
            )
        size = clamp_page_size(page_size)
        digest = hashlib.sha256(b"".join(e.SerializeToString(deterministic=True) for e in examples)).hexdigest()
        fp = fingerprint("mine", project_id, digest, list(example_ids), label, threshold)
        offset = decode_offset(page_token, fp)
        backends = self.backends
        project = await backends.project(project_id)
        vectors, exclude = await self._examples(project, examples, example_ids, label, timeout)
        need = offset + size + 1
        kept = await self._ranked(project, vectors, exclude, threshold, need, timeout)
        page = kept[offset : offset + size]
        more = len(kept) > offset + size
        return page, offset_token(offset + size, fp) if more else ""

    async def _examples(
        self,
        project: Project,
        examples: Sequence[common_pb2.Image],
        example_ids: Sequence[str],
        label: str,
        timeout: float | None,
    ) -> tuple[np.ndarray, set[str]]:
        backends = self.backends
        rows: list[np.ndarray] = []
        if examples:
            embedded, failures = await backends.embedding.embed(project.model_version, list(examples), timeout)
            if failures:
                index, error = min(failures.items())
                raise at_field(error, f"examples[{index}]")
            rows += list(embedded)
        ids = list(dict.fromkeys(example_ids))
        if label:
            carrying = await backends.run(backends.store.image_labels, project.id, list(VOTERS))
            with_label = [i for i, labels in carrying.items() if label in labels]
            if not with_label:
                raise NotFound(
                    f"no image of projects/{project.id} carries the label {label!r}",
                    reason=reasons.LABEL_NOT_FOUND,
                    field="label",
                )
            ids += [i for i in with_label if i not in ids]
        records = await backends.collections.get_records(project.collection, ids, timeout)
        for i, image_id in enumerate(example_ids):
            if image_id not in records:
                raise NotFound(
                    f"projects/{project.id}/images/{image_id} does not exist",
                    reason=reasons.IMAGE_NOT_FOUND,
                    field=f"example_ids[{i}]",
                )
        rows += [records[i].vector for i in ids]
        return np.stack(rows).astype(np.float32), set(ids)

    async def _ranked(
        self,
        project: Project,
        vectors: np.ndarray,
        exclude: set[str],
        threshold: float,
        need: int,
        timeout: float | None,
    ) -> list[PoolCandidate]:
        """At least `need` thinned hits when the pool has them, best first."""
        backends = self.backends
        k = min(MAX_HITS, max(2 * need, 50))
        while True:
            results = await backends.collections.search(project.collection, vectors, k, POOL_FILTER, timeout=timeout)
            ranked = merge_best([[PoolCandidate(h.id, h.score, h.url) for h in r.hits] for r in results], exclude)
            kept = await self._thin(project, ranked, threshold, need, timeout)
            deeper = any(len(r.hits) >= k for r in results)
            if len(kept) >= need or not deeper or k >= MAX_HITS:
                return kept
            k = min(MAX_HITS, k * 4)

    async def _thin(
        self, project: Project, ranked: list[PoolCandidate], threshold: float, need: int, timeout: float | None
    ) -> list[PoolCandidate]:
        """Greedy near-duplicate removal over a growing prefix of `ranked`, fetching its vectors."""
        vectors: dict[str, np.ndarray] = {}
        length = min(len(ranked), 2 * need)
        while True:
            missing = [c.id for c in ranked[:length] if c.id not in vectors]
            records = await self.backends.collections.get_records(project.collection, missing, timeout)
            vectors.update({i: r.vector for i, r in records.items()})
            prefix = [c for c in ranked[:length] if c.id in vectors]
            matrix = np.stack([vectors[c.id] for c in prefix]) if prefix else np.zeros((0, 1), np.float32)
            kept = without_near_duplicates(prefix, matrix, threshold, need)
            if len(kept) >= need or length >= len(ranked):
                return kept
            length = min(len(ranked), length * 3)
