"""Label suggestions through the labeler vs the Embed and Search calls they consist of, in one run.

A labeler, an embedder (built-in `color` model, in-process ONNX Runtime) and an indexer (router
and two shard nodes on etcd) run as processes. A project holds 500 labeled coloured PNGs (five
colours); a batch of 1,000 new ones is then labeled two ways, with the same k:

- SuggestLabels: one call for the batch (the labeler embeds with one StreamEmbed call of two
  messages and searches its voters with one Search call of 1,000 queries, then votes);
- the calls it consists of, made directly: StreamEmbed of the same two chunks to the embedder,
  then one Search of the 1,000 vectors with the same k, filter and metadata.

    python bench/labeler.py [--images 1000] [--k 10] [--repeat 3]

Prints a Markdown table of images/s and the ratio labeler / direct calls.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import grpc
import numpy as np
from google.protobuf import struct_pb2
from PIL import Image

from simmesh.devstack.etcd import EtcdServer
from simmesh.devstack.process import ManagedProcess
from simmesh.devstack.service import start_service
from simmesh_proto.v1 import (
    common_pb2,
    embedder_pb2,
    embedder_pb2_grpc,
    indexer_pb2,
    indexer_pb2_grpc,
    labeler_pb2,
    labeler_pb2_grpc,
)

COLOURS = [(220, 25, 25), (25, 180, 25), (25, 35, 220), (225, 215, 25), (10, 170, 210)]
NAMES = ["red", "green", "blue", "yellow", "cyan"]
OPTIONS = [("grpc.max_receive_message_length", 1 << 26), ("grpc.max_send_message_length", 1 << 26)]


def png(colour: tuple[int, int, int], rng: np.random.Generator, size: int = 64) -> bytes:
    """A noisy image of `colour`."""
    base = np.array(colour, dtype=np.float32) + rng.integers(-12, 13, size=3)
    pixels = base[None, None, :] + rng.normal(0, 10, size=(size, size, 3))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB").save(buffer, "PNG")
    return buffer.getvalue()


class Stack:
    """etcd, two shard nodes, a router, an embedder and a labeler, as processes under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: list[ManagedProcess] = []
        self.etcd = EtcdServer(root / "etcd", root / "logs").start()
        self.embedder = self._start("embedder", ["simmesh.embedder"], {})
        shard_env = {"SIMMESH_ETCD_ENDPOINTS": self.etcd.endpoint}
        for ordinal in range(2):
            self._start(
                f"shard-{ordinal}", ["simmesh.indexer", "shard"], {**shard_env, "SIMMESH_SHARD_ORDINAL": str(ordinal)}
            )
        self.router = self._start(
            "router", ["simmesh.indexer", "router"], {**shard_env, "SIMMESH_EMBEDDER_ADDR": self.embedder}
        )
        self.labeler = self._start(
            "labeler",
            ["simmesh.labeler"],
            {
                "SIMMESH_EMBEDDER_ADDR": self.embedder,
                "SIMMESH_INDEXER_ADDR": self.router,
                "SIMMESH_COLLECTION_SHARDS": "2",
            },
        )

    def _start(self, name: str, module: list[str], env: dict[str, str]) -> str:
        proc, address = start_service(
            name,
            module,
            data_dir=self.root / name,
            log_path=self.root / "logs" / f"{name}.log",
            env={"SIMMESH_LOG_LEVEL": "WARNING", **env},
        )
        self.procs.append(proc)
        return address

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.etcd.stop()


def timed(call, repeat: int) -> float:
    """Median seconds of `repeat` runs of `call` after one warm-up run."""
    call()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--labeled", type=int, default=500)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    labeled = [(f"seed-{i}", png(COLOURS[i % 5], rng), NAMES[i % 5]) for i in range(args.labeled)]
    batch = [png(COLOURS[i % 5], rng) for i in range(args.images)]
    truth = [NAMES[i % 5] for i in range(args.images)]
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(Path(tmp))
        try:
            rows = measure(stack, labeled, batch, truth, args)
        finally:
            stack.stop()
    print(
        f"\nSuggesting labels for a batch of {args.images} PNGs (64x64, model `color`, k={args.k}, "
        f"{args.labeled} labeled images, 2 shards), {os.cpu_count()} cores, median of {args.repeat}\n"
    )
    print("| path | calls | seconds | images/s | ratio |")
    print("|---|---|---|---|---|")
    direct = rows[1][2]
    for name, calls, seconds in rows:
        print(f"| {name} | {calls} | {seconds:.3f} | {args.images / seconds:.0f} | {direct / seconds:.2f} |")
    return 0


def measure(stack: Stack, labeled, batch: list[bytes], truth: list[str], args) -> list[tuple[str, str, float]]:
    with (
        grpc.insecure_channel(stack.labeler, options=OPTIONS) as lc,
        grpc.insecure_channel(stack.embedder, options=OPTIONS) as ec,
        grpc.insecure_channel(stack.router, options=OPTIONS) as rc,
    ):
        labeler = labeler_pb2_grpc.LabelerServiceStub(lc)
        embedder = embedder_pb2_grpc.EmbedderServiceStub(ec)
        router = indexer_pb2_grpc.IndexerServiceStub(rc)
        project = labeler.CreateProject(
            labeler_pb2.CreateProjectRequest(project_id="bench", project=labeler_pb2.Project(model="models/color")),
            timeout=120,
        )
        added = labeler.AddImages(
            labeler_pb2.AddImagesRequest(
                project="projects/bench",
                images=[
                    labeler_pb2.ImageInput(id=i, image=common_pb2.Image(content=data), labels=[label])
                    for i, data, label in labeled
                ],
            ),
            timeout=300,
        )
        assert not added.errors, added.errors[0]
        images = [common_pb2.Image(content=data) for data in batch]
        request = labeler_pb2.SuggestLabelsRequest(
            project="projects/bench",
            items=[labeler_pb2.SuggestItem(image=i) for i in images],
            params=labeler_pb2.SuggestParams(k=args.k, threshold=30.0, use_first=True),
        )
        reply = labeler.SuggestLabels(request, timeout=300)
        correct = sum(s.labels and s.labels[0].label == truth[s.index] for s in reply.suggestions)
        print(f"suggestions correct: {correct} of {len(batch)}", file=sys.stderr)

        chunks = [images[i : i + 512] for i in range(0, len(images), 512)]
        voters = struct_pb2.Struct()
        voters.update({"state": {"$in": ["labeled", "suggested"]}})

        def direct() -> None:
            requests = [embedder_pb2.EmbedRequest(model="models/color/versions/1", images=c) for c in chunks]
            if len(requests) == 1:
                replies = [embedder.Embed(requests[0], timeout=300)]
            else:
                replies = list(embedder.StreamEmbed(iter(requests), timeout=300))
            vectors = np.concatenate(
                [np.frombuffer(r.vectors.data, "<f4").reshape(r.vectors.count, -1) for r in replies]
            )
            router.Search(
                indexer_pb2.SearchRequest(
                    collection=project.collection,
                    k=args.k,
                    filter=voters,
                    include_metadata=True,
                    queries=[
                        indexer_pb2.Query(vector=common_pb2.Vector(dimension=vectors.shape[1], data=row.tobytes()))
                        for row in vectors
                    ],
                ),
                timeout=300,
            )

        through = timed(lambda: labeler.SuggestLabels(request, timeout=300), args.repeat)
        plain = timed(direct, args.repeat)
        embed_calls = "StreamEmbed (2 messages)" if len(chunks) > 1 else "Embed"
        return [
            ("SuggestLabels through the labeler", "1 SuggestLabels", through),
            ("the same Embed + Search calls, direct", f"{embed_calls} + 1 Search", plain),
        ]


if __name__ == "__main__":
    sys.exit(main())
