"""Building a shard's new vector index off-lock while writes go on, then swapping it in with the writes replayed."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import numpy as np

from simmesh.indexer.rwlock import ReadWriteLock
from simmesh.indexer.vectors import IVF_KINDS, VectorIndex
from simmesh.kit import reasons
from simmesh.kit.errors import FailedPrecondition, InvalidArgument
from simmesh_proto.v1 import indexer_pb2

log = logging.getLogger(__name__)

DEFAULT_MIN_TRAIN_VECTORS = 1000

Build = Callable[[np.ndarray, np.ndarray], VectorIndex]


def check_trainable(spec: indexer_pb2.IndexSpec, have: int, shared: bool) -> None:
    """Refuses a spec without a kind, and an IVF index trained here on fewer vectors than it asks for."""
    if spec.kind == indexer_pb2.INDEX_KIND_UNSPECIFIED:
        raise InvalidArgument("index kind is required", reason=reasons.INVALID_INDEX_KIND, field="index.kind")
    if spec.kind in IVF_KINDS and not shared:
        need = spec.min_train_vectors or DEFAULT_MIN_TRAIN_VECTORS
        if have < need:
            raise FailedPrecondition(
                f"need at least {need} vectors to train, have {have}",
                reason=reasons.NEED_MORE_SAMPLES,
                metadata={"need": need, "have": have},
            )


class IndexBuilds:
    """One build at a time of a shard's vector index. The build runs on a copy of the vectors while
    writes go on; they are journalled (`note`) and re-applied to the new index before it is
    installed under a short exclusive lock.

    `writer` serialises the shard's mutations, `rw` guards its searches, `current` gives the
    index in use, `install` replaces it and `check_open` refuses work on a dropped shard.
    """

    def __init__(
        self,
        writer: threading.RLock,
        rw: ReadWriteLock,
        current: Callable[[], VectorIndex],
        install: Callable[[VectorIndex], None],
        check_open: Callable[[], None],
        collection_id: str,
        shard: int,
    ) -> None:
        self._writer = writer
        self._rw = rw
        self._current = current
        self._install = install
        self._check_open = check_open
        self._collection_id = collection_id
        self._shard = shard
        self._journal: list[tuple[np.ndarray, np.ndarray | None]] | None = None

    @property
    def running(self) -> bool:
        return self._journal is not None

    def note(self, rows: np.ndarray, vectors: np.ndarray | None) -> None:
        """Records a write (or, with no vectors, a removal) for the build under way, if any."""
        if self._journal is not None:
            self._journal.append((rows, vectors))

    def swap_in(self, build: Build) -> None:
        """Builds the new index from the current rows and vectors and installs it."""
        with self._writer:
            self._check_open()
            if self._journal is not None:
                raise FailedPrecondition(
                    "the shard's index is already being built", reason=reasons.TRAINING_IN_PROGRESS
                )
            rows, matrix = self._current().export()
            self._journal = []
        try:
            fresh = build(rows, matrix)
            with self._writer:
                for journal_rows, journal_vectors in self._journal:
                    if journal_vectors is None:
                        fresh.remove(journal_rows)
                    else:
                        fresh.add(journal_rows, journal_vectors)
                with self._rw.write():
                    self._install(fresh)
                    self._journal = None
        except BaseException:
            with self._writer:
                self._journal = None
            raise

    def rebuild_if_wanted(self) -> None:
        """Rebuilds an HNSW index in the background once its tombstones pile up."""
        current = self._current()
        if not current.wants_rebuild or self._journal is not None:
            return

        spec, trained = current.settings.to_spec(), current.trained_bytes

        def rebuild() -> None:
            try:
                self.swap_in(
                    lambda rows, matrix: VectorIndex.build(
                        current.dim, current.metric, spec, rows, matrix, trained=trained, spill=current.spill
                    )
                )
            except FailedPrecondition:
                pass  # another build is already running
            except Exception:
                log.exception(
                    "rebuilding the shard's index failed",
                    extra={"collection": self._collection_id, "shard": self._shard},
                )

        threading.Thread(target=rebuild, name=f"rebuild-{self._collection_id}-{self._shard}", daemon=True).start()
