"""A shard's snapshots in the object store: writing one, loading the newest readable one, pruning the old ones.

A snapshot lives under `{root}/{seq:020d}/`: the index, the records (one JSON line each) and a
manifest written last, so a folder without a manifest is ignored. `seq` is the log position the
snapshot holds everything up to; the SNAPSHOTS_KEPT newest are kept.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path

from simmesh.indexer.shard_records import FrozenRecords, RecordTable
from simmesh.indexer.vector_store import FrozenIndex
from simmesh.indexer.vectors import VectorIndex
from simmesh.kit import reasons
from simmesh.kit.blobstore import BlobStore
from simmesh.kit.errors import Internal

log = logging.getLogger(__name__)

SNAPSHOTS_KEPT = 2
MANIFEST = "manifest.json"
INDEX_FILE = "index.bin"
RECORDS_FILE = "records.jsonl"


def storage_root(storage: str, prefix: str = "snapshots") -> str:
    """Where the snapshots of a storage's shards live in the blob store."""
    return f"{prefix.strip('/')}/{storage}"


def snapshot_root(storage: str, shard: int, prefix: str = "snapshots") -> str:
    """Where the snapshots of a storage's shard live in the blob store."""
    return f"{storage_root(storage, prefix)}/{shard}"


def copy_snapshot(blobstore: BlobStore, source: str, target: str) -> None:
    """Copies the snapshot folder `source` to `target` (both blob prefixes, no trailing `/`),
    its manifest last, so that an interrupted copy is ignored as unfinished."""
    keys = [info.key[len(source) + 1 :] for info in blobstore.list(f"{source}/")]
    with tempfile.TemporaryDirectory() as scratch:
        for name in sorted(keys, key=lambda key: key == MANIFEST):
            path = Path(scratch) / "blob"
            blobstore.get_to_file(f"{source}/{name}", path)
            blobstore.put_file(f"{target}/{name}", path)


@dataclasses.dataclass(frozen=True)
class SnapshotInfo:
    uri: str
    seq: int
    record_count: int
    time: float = 0.0


@dataclasses.dataclass(frozen=True)
class StagedSnapshot:
    """What a snapshot holds, taken while the shard held still; its index frozen until `publish`
    has written it (writes go on meanwhile)."""

    seq: int
    index: FrozenIndex
    records: FrozenRecords
    next_row: int
    index_kind: int
    index_state: int


@dataclasses.dataclass(frozen=True)
class LoadedSnapshot:
    seq: int
    time: float
    next_row: int
    vectors: VectorIndex


class SnapshotStore:
    """The snapshots of one shard under `root` in the blob store; `scratch` is a local folder for staging."""

    def __init__(
        self,
        blobstore: BlobStore,
        root: str,
        scratch: Path,
        collection_id: str,
        shard: int,
        *,
        spill: Path | None = None,
    ) -> None:
        """`spill`: where loaded indexes keep their raw vectors (see `VectorIndex`)."""
        self.blobstore = blobstore
        self._spill = spill
        self.root = root
        self._scratch = scratch
        self._collection_id = collection_id
        self._shard = shard

    def stage(
        self, seq: int, vectors: VectorIndex, records: FrozenRecords, next_row: int, index_state: int
    ) -> StagedSnapshot:
        """Takes the index as it is (see `VectorIndex.freeze`); call it while nothing changes the
        index. The snapshot is written by `publish`, which may run while writes go on."""
        return StagedSnapshot(seq, vectors.freeze(), records, next_row, vectors.kind, index_state)

    def publish(self, staged: StagedSnapshot) -> SnapshotInfo:
        """Writes the index and the records and uploads the snapshot, the manifest last."""
        index_path, records_path = self._scratch / INDEX_FILE, self._scratch / RECORDS_FILE
        self._scratch.mkdir(exist_ok=True)
        try:
            with open(index_path, "wb") as out:
                staged.index.dump(out)
        finally:
            staged.index.release()
        with open(records_path, "wb") as out:
            out.writelines(staged.records.json_lines())
        base = self._folder(staged.seq)
        self.blobstore.put_file(f"{base}/{INDEX_FILE}", index_path)
        self.blobstore.put_file(f"{base}/{RECORDS_FILE}", records_path)
        stamp = time.time()
        manifest = {
            "format": 1,
            "collection": self._collection_id,
            "shard": self._shard,
            "seq": staged.seq,
            "record_count": len(staged.records),
            "next_row": staged.next_row,
            "index_kind": staged.index_kind,
            "index_state": staged.index_state,
            "time": stamp,
            "files": {INDEX_FILE: index_path.stat().st_size, RECORDS_FILE: records_path.stat().st_size},
        }
        self.blobstore.put_bytes(f"{base}/{MANIFEST}", json.dumps(manifest).encode(), "application/json")
        shutil.rmtree(self._scratch, ignore_errors=True)
        return SnapshotInfo(self.blobstore.uri(f"{base}/{MANIFEST}"), staged.seq, len(staged.records), stamp)

    def prune(self) -> int | None:
        """Deletes all but the SNAPSHOTS_KEPT newest complete snapshots (and unfinished ones older
        than the newest); returns the seq of the oldest kept, or None when there is none."""
        complete, every = self._seqs()
        kept = complete[:SNAPSHOTS_KEPT]
        for seq in every:
            if seq not in kept and (not kept or seq < kept[0]):
                self.blobstore.delete_prefix(f"{self._folder(seq)}/")
        return kept[-1] if kept else None

    def load_newest(self, table: RecordTable) -> LoadedSnapshot | None:
        """The newest snapshot that reads back whole, its records loaded into `table` (left empty
        when there is none); None when there is none."""
        complete, _ = self._seqs()
        for seq in complete:
            try:
                return self._load(seq, table)
            except Exception as error:  # an unreadable snapshot: fall back to the one before
                table.clear()
                log.warning(
                    "skipping an unreadable snapshot",
                    extra={"collection": self._collection_id, "shard": self._shard, "seq": seq, "error": repr(error)},
                )
        return None

    def newest_folder(self) -> str | None:
        """The blob prefix of the newest complete snapshot; None when there is none."""
        complete, _ = self._seqs()
        return self._folder(complete[0]) if complete else None

    def delete_all(self) -> None:
        self.blobstore.delete_prefix(f"{self.root}/")

    def _folder(self, seq: int) -> str:
        return f"{self.root}/{seq:020d}"

    def _seqs(self) -> tuple[list[int], list[int]]:
        """Sequence numbers of complete snapshots and of every snapshot folder, newest first."""
        complete, every = set(), set()
        for info in self.blobstore.list(f"{self.root}/"):
            parts = info.key[len(self.root) + 1 :].split("/")
            if len(parts) == 2 and parts[0].isdigit():
                every.add(int(parts[0]))
                if parts[1] == MANIFEST:
                    complete.add(int(parts[0]))
        return sorted(complete, reverse=True), sorted(every, reverse=True)

    def _load(self, seq: int, table: RecordTable) -> LoadedSnapshot:
        base = self._folder(seq)
        manifest = json.loads(self.blobstore.get_bytes(f"{base}/{MANIFEST}"))
        tmp = self._scratch
        tmp.mkdir(exist_ok=True)
        try:
            for name, size in manifest["files"].items():
                self.blobstore.get_to_file(f"{base}/{name}", tmp / name)
                if (tmp / name).stat().st_size != size:
                    raise Internal(f"snapshot file {name} has the wrong size", reason=reasons.SNAPSHOT_CORRUPT)
            with open(tmp / INDEX_FILE, "rb") as source:
                vectors = VectorIndex.load(source, spill=self._spill)
            with open(tmp / RECORDS_FILE, encoding="utf-8") as source:
                for line in source:
                    row, create_ns, update_ns, doc = json.loads(line)
                    table.load_record(row, create_ns, update_ns, doc)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if vectors.count != len(table):
            raise Internal(
                f"snapshot holds {vectors.count} vectors for {len(table)} records", reason=reasons.SNAPSHOT_CORRUPT
            )
        table.next_row = manifest["next_row"]
        return LoadedSnapshot(seq, manifest["time"], manifest["next_row"], vectors)
