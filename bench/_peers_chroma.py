"""The chromadb side of bench/peers.py: an embedded chromadb answering timed commands, run in its own venv.

    .venv-peers/bin/python bench/_peers_chroma.py WORKDIR

WORKDIR holds `data.npy` (L2-normalised float32 rows), `buckets.npy` (each row's value of the
`bucket` metadata field), `queries.npy` and `query_buckets.npy`. Commands come one JSON object a
line on stdin and each is answered with one JSON line on stdout; this process times its own work:

- `{"op": "build", "ef": E}`: a collection with HNSW ef_search E (chromadb fixes it when the index
  is built: `modify` does not reach an index already in memory), the rows added in batches of the
  client's largest batch size; answers `{"seconds": ...}`;
- `{"op": "batch", "ef": E}`: every query in one `query` call: `{"seconds": ..., "ids": [[...]]}`;
- `{"op": "grouped", "ef": E}`: the queries grouped by their bucket, one call with a `where`
  filter per bucket (untimed, for recall): `{"ids": [[...]]}` in query order;
- `{"op": "singles", "ef": E, "count": N, "filtered": F}`: the first N queries one call each
  (with `where` on the query's bucket when F): `{"ms": [...], "ids": [[...]]}`;
- `{"op": "drop", "ef": E}`.

Only numpy and chromadb are imported: the project's packages are not installed here.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
from chromadb.config import Settings

K = 10
OPS = {"build", "batch", "grouped", "singles", "drop"}


class Chroma:
    def __init__(self, workdir: Path) -> None:
        self.data = np.load(workdir / "data.npy")
        self.buckets = np.load(workdir / "buckets.npy")
        self.queries = np.load(workdir / "queries.npy")
        self.query_buckets = np.load(workdir / "query_buckets.npy")
        self.client = chromadb.EphemeralClient(settings=Settings(anonymized_telemetry=False))

    def collection(self, ef: int) -> Any:
        return self.client.get_collection(f"bench-ef{ef}")

    def build(self, ef: int) -> dict[str, Any]:
        ids = [str(i) for i in range(len(self.data))]
        metadatas = [{"bucket": int(b)} for b in self.buckets]
        step = self.client.get_max_batch_size()
        started = time.perf_counter()
        collection = self.client.create_collection(
            f"bench-ef{ef}", embedding_function=None, configuration={"hnsw": {"space": "ip", "ef_search": ef}}
        )
        for at in range(0, len(self.data), step):
            collection.add(
                ids=ids[at : at + step], embeddings=self.data[at : at + step], metadatas=metadatas[at : at + step]
            )
        return {"seconds": time.perf_counter() - started}

    def batch(self, ef: int) -> dict[str, Any]:
        collection = self.collection(ef)
        started = time.perf_counter()
        answer = collection.query(query_embeddings=self.queries, n_results=K, include=[])
        seconds = time.perf_counter() - started
        return {"seconds": seconds, "ids": as_ints(answer["ids"])}

    def grouped(self, ef: int) -> dict[str, Any]:
        collection = self.collection(ef)
        ids: list[list[int]] = [[] for _ in self.queries]
        for value in np.unique(self.query_buckets):
            rows = np.flatnonzero(self.query_buckets == value)
            answer = collection.query(
                query_embeddings=self.queries[rows], n_results=K, where={"bucket": int(value)}, include=[]
            )
            for row, found in zip(rows, as_ints(answer["ids"])):
                ids[row] = found
        return {"ids": ids}

    def singles(self, ef: int, count: int, filtered: bool) -> dict[str, Any]:
        collection = self.collection(ef)
        ms, ids = [], []
        for row in range(count):
            where = {"bucket": int(self.query_buckets[row])} if filtered else None
            started = time.perf_counter()
            answer = collection.query(
                query_embeddings=self.queries[row : row + 1], n_results=K, where=where, include=[]
            )
            ms.append((time.perf_counter() - started) * 1000)
            ids.extend(as_ints(answer["ids"]))
        return {"ms": ms, "ids": ids}

    def drop(self, ef: int) -> dict[str, Any]:
        self.client.delete_collection(f"bench-ef{ef}")
        return {}


def as_ints(ids: list[list[str]]) -> list[list[int]]:
    return [[int(i) for i in row] for row in ids]


def main() -> int:
    # Answers go to the original stdout; anything chromadb prints goes to stderr.
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    chroma = Chroma(Path(sys.argv[1]))
    for line in sys.stdin:
        command = json.loads(line)
        op = command.pop("op")
        if op not in OPS:
            raise ValueError(f"unknown command {op!r}")
        answer = getattr(chroma, op)(**command)
        answers.write(json.dumps(answer) + "\n")
        answers.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
