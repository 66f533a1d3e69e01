"""A soak of the local mesh: mixed load for half an hour while one shard is killed every few minutes.

Starts the whole mesh on this machine (etcd, S3 server, two shard nodes, router, embedder, catalog,
labeler; without Triton unless `--triton`), under the same supervision as `make up`, and runs
through the SDK (`simmesh.devstack.load.MixedLoad`):

- on a 64-d vector collection: bulk inserts, searches (half with a metadata filter) and deletes
  that keep `--keep` records alive, and one index training (`--kill-every` / 2 in);
- on an image collection (ImageNet-sample JPEGs from ../shared/datasets, built-in `color` model):
  image inserts, image searches, deletes, and one re-embed to the `match` model (1.5 x
  `--kill-every` in), under those writes.

Every `--kill-every` minutes shard node 0 gets SIGKILL; the supervisor restarts it and the bench
notes when it answers health checks again. An error counts as inside a kill's retry window when
its call began between WINDOW_LEAD s before the kill and `--grace` s after the shard served again.
Each mesh process's RSS is read from /proc every `--sample-every` s.

    python bench/soak.py [--minutes 30] [--kill-every 5] [--interval 0.1] [--triton]

Prints Markdown tables (operations, kills, memory) and exits non-zero when a target is missed:
an error outside the kill windows, an acknowledged write lost, a shard that did not come back, or
a process (not restarted) whose RSS grew by `--max-growth` or more over the last `--growth-window`
minutes (the last two thirds of a shorter run).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _pretrained import SHARED

from simmesh.devstack.load import (
    MixedLoad,
    OperationStats,
    file_image_query,
    file_image_record,
    summary_rows,
    vector_query,
    vector_record,
)
from simmesh.devstack.mesh import Mesh, MeshConfig, serving
from simmesh_client import Client
from simmesh_client.config import ClientConfig
from simmesh_client.errors import SimmeshError

SAMPLE = SHARED / "datasets" / "imagenet-sample"
VECTORS, IMAGES = "soak-vectors", "soak-images"
DIMENSION = 64
KILLED = "shard-0"
# A call that began this long before a kill may still have been cut by it.
WINDOW_LEAD = 5.0
MIB = 1024.0


@dataclass
class Kill:
    at: float  # monotonic
    rss_before: int | None  # KiB of the process killed
    back: float | None = None  # when it answered SERVING again


@dataclass
class MemoryLog:
    """RSS (KiB) of each mesh process by pid, sampled over the run."""

    samples: list[tuple[float, dict[str, tuple[int, int]]]] = field(default_factory=list)

    def sample(self, mesh: Mesh) -> None:
        now = {}
        for name, _, pid, _ in mesh.processes():
            rss = rss_kib(pid) if pid else None
            if pid and rss is not None:
                now[name] = (pid, rss)
        self.samples.append((time.monotonic(), now))

    def at(self, when: float) -> dict[str, tuple[int, int]]:
        """The first sample taken at or after `when` (the last one if none is)."""
        return next((s for t, s in self.samples if t >= when), self.samples[-1][1])


def rss_kib(pid: int) -> int | None:
    """The resident set of process `pid` in KiB, None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def kill_shard(mesh: Mesh, name: str, timeout: float = 120.0) -> Kill:
    """SIGKILL `name` (its process, not its group: a crash) and wait until it serves again."""
    pid = mesh.services[name].pid
    assert pid is not None
    kill = Kill(time.monotonic(), rss_kib(pid))
    os.kill(pid, signal.SIGKILL)
    deadline = kill.at + timeout
    while time.monotonic() < deadline:
        current = mesh.services[name].pid
        if current != pid and serving(mesh.address_of(name), timeout=1.0):
            kill.back = time.monotonic()
            break
        time.sleep(0.1)
    return kill


def one_shot(stats: OperationStats, call: Callable[[], object]) -> None:
    """Time one call into `stats`, as `MixedLoad` does for its operations."""
    began = time.monotonic()
    try:
        call()
    except SimmeshError as error:
        stats.failures.append((began, error.reason or error.code.name))
        print(f"  {error.code.name} {error.reason}: {error.message}", file=sys.stderr, flush=True)
    stats.latencies.append(time.monotonic() - began)


def reasons(counts: Counter[str]) -> str:
    return ", ".join(f"{reason} x{n}" for reason, n in counts.most_common()) or "0"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--kill-every", type=float, default=5.0, help="minutes between kills of shard node 0")
    parser.add_argument("--interval", type=float, default=0.1, help="pause (s) between a vector thread's calls")
    parser.add_argument("--image-interval", type=float, default=1.0, help="pause (s) between an image thread's calls")
    parser.add_argument("--batch", type=int, default=50, help="records per vector insert call")
    parser.add_argument("--image-batch", type=int, default=4, help="images per image insert call")
    parser.add_argument("--keep", type=int, default=5000, help="vector records the deletes leave alive")
    parser.add_argument("--keep-images", type=int, default=150, help="image records the deletes leave alive")
    parser.add_argument("--grace", type=float, default=15.0, help="seconds after a restart still in its window")
    parser.add_argument("--sample-every", type=float, default=30.0, help="seconds between RSS samples")
    parser.add_argument("--growth-window", type=float, default=20.0, help="minutes the memory growth is taken over")
    parser.add_argument("--max-growth", type=float, default=0.05)
    parser.add_argument("--triton", action="store_true", help="embed with tritonserver (default: ONNX Runtime)")
    parser.add_argument("--sample", type=Path, default=SAMPLE, help="the folder of ImageNet-sample JPEGs")
    parser.add_argument("--data-dir", type=Path, help="keep the mesh's data and logs here (default: a temp dir)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    paths = sorted(args.sample.glob("*.JPEG"))
    if not paths:
        print(f"cannot run: no ImageNet-sample JPEGs at {args.sample} (see ../shared/datasets/README.md)")
        return 2
    with tempfile.TemporaryDirectory(prefix="simmesh-soak-") as tmp:
        data_dir = args.data_dir or Path(tmp)
        config = MeshConfig(data_dir, ports="auto", with_triton=args.triton, env={"SIMMESH_LOG_LEVEL": "WARNING"})
        print(f"starting the mesh in {data_dir} ...", file=sys.stderr, flush=True)
        with Mesh(config) as mesh:
            return soak(mesh, paths, args)


def mixed_load(
    client: Client,
    collection: str,
    record: Callable[[int], dict[str, Any]],
    query: Callable[[random.Random], dict[str, Any]],
    batch: int,
    keep: int,
    interval: float,
    seed: int = 0,
) -> MixedLoad:
    """Inserts, searches and deletes on `collection`; deletes as large as inserts, leaving `keep` records."""
    return MixedLoad(
        client,
        collection,
        record=record,
        query=query,
        batch=batch,
        delete_batch=batch,
        keep_live=keep,
        interval=interval,
        prefix=collection,
        seed=seed,
    )


def soak(mesh: Mesh, paths: list[Path], args: argparse.Namespace) -> int:
    supervisor = mesh.supervise(report=lambda line: print(f"  supervisor: {line}", file=sys.stderr, flush=True))
    stop = threading.Event()
    supervising = threading.Thread(target=supervisor.run, args=(stop,), name="supervisor", daemon=True)
    supervising.start()
    addresses = mesh.addresses
    client = Client(ClientConfig(indexer_address=addresses["indexer"], embedder_address=addresses["embedder"]))
    try:
        client.indexer.create_collection(VECTORS, DIMENSION, shard_count=2, indexed_fields=["group"])
        client.indexer.create_collection(IMAGES, model="color", shard_count=2, indexed_fields=["group"])
        vectors = mixed_load(
            client, VECTORS, vector_record(DIMENSION), vector_query(DIMENSION), args.batch, args.keep, args.interval
        )
        images = mixed_load(
            client,
            IMAGES,
            file_image_record(paths),
            file_image_query(paths),
            args.image_batch,
            args.keep_images,
            args.image_interval,
            seed=1,
        )
        jobs = {"train index": OperationStats(), "re-embed": OperationStats()}
        events: list[tuple[float, str]] = [(args.kill_every * 30, "train"), (args.kill_every * 90, "reembed")]
        events += [(60 * args.kill_every * n, "kill") for n in range(1, int(args.minutes / args.kill_every) + 1)]
        events = sorted((at, what) for at, what in events if at < args.minutes * 60)
        actions: dict[str, Callable[[], object]] = {
            "train": lambda: one_shot(jobs["train index"], lambda: client.indexer.train_index(VECTORS, timeout=600)),
            "reembed": lambda: one_shot(jobs["re-embed"], lambda: client.indexer.reembed(IMAGES, "match", timeout=600)),
        }
        kills: list[Kill] = []
        actions["kill"] = lambda: kills.append(kill_shard(mesh, KILLED))
        memory = MemoryLog()
        running: list[threading.Thread] = []
        vectors.start()
        images.start()
        started = time.monotonic()
        memory.sample(mesh)
        next_sample, next_progress = started + args.sample_every, started + 60
        end = started + args.minutes * 60
        try:
            while (now := time.monotonic()) < end and supervisor.gave_up is None:
                while events and started + events[0][0] <= now:
                    what = events.pop(0)[1]
                    print(f"  {(now - started) / 60:.1f} min: {what}", file=sys.stderr, flush=True)
                    running.append(threading.Thread(target=actions[what], name=what, daemon=True))
                    running[-1].start()
                if now >= next_sample:
                    memory.sample(mesh)
                    next_sample += args.sample_every
                if now >= next_progress:
                    calls = f"vectors {vectors.calls()}, images {images.calls()}"
                    print(f"  {(now - started) / 60:.0f} min: calls: {calls}", file=sys.stderr, flush=True)
                    next_progress += 60
                time.sleep(0.2)
        finally:
            seconds = time.monotonic() - started
            memory.sample(mesh)
            vectors.stop()
            images.stop()
            for thread in running:
                thread.join(600)
        problems = {name: load.ledger.problems(client, name) for name, load in ((VECTORS, vectors), (IMAGES, images))}
        stats = vectors.stats | {f"image {name}": s for name, s in images.stats.items()} | jobs
        return report(mesh, args, stats, kills, memory, problems, supervisor.gave_up, started, seconds)
    finally:
        stop.set()
        supervising.join(10)
        client.close()


def report(
    mesh: Mesh,
    args: argparse.Namespace,
    stats: dict[str, OperationStats],
    kills: list[Kill],
    memory: MemoryLog,
    problems: dict[str, list[str]],
    gave_up: str | None,
    started: float,
    seconds: float,
) -> int:
    """Prints the tables and returns the exit status: 1 when a target was missed."""
    windows = [(kill.at - WINDOW_LEAD, (kill.back or float("inf")) + args.grace) for kill in kills]

    def outside(at: float) -> bool:
        return not any(begin <= at <= end for begin, end in windows)

    missed: list[str] = []
    setup = "embedder on tritonserver" if args.triton else "embedder on ONNX Runtime, no Triton"
    print(
        f"\nSoak: {seconds / 60:.1f} min of mixed load on the local mesh ({setup}, 2 shard nodes, "
        f"{os.cpu_count()} cores), {KILLED} killed (SIGKILL) every {args.kill_every:g} min\n"
    )
    print("| operation | calls | calls/s | p50 ms | p99 ms | errors in kill windows | errors outside |")
    print("|---|---|---|---|---|---|---|")
    for row, (name, s) in zip(summary_rows(stats, seconds), stats.items(), strict=True):
        within, beyond = s.errors_by_reason(lambda at: not outside(at)), s.errors_by_reason(outside)
        print("| " + " | ".join(row[:5]) + f" | {reasons(within)} | {reasons(beyond)} |")
        if beyond:
            missed.append(f"{name}: {sum(beyond.values())} errors outside the kill windows")
    total = sum(s.calls for s in stats.values())
    print(f"| all | {total} | {total / seconds:.1f} | | | | |")

    print("\n| kill | at min | serving again after s |")
    print("|---|---|---|")
    for n, kill in enumerate(kills, 1):
        back = f"{kill.back - kill.at:.1f}" if kill.back else "never"
        print(f"| {n} | {(kill.at - started) / 60:.1f} | {back} |")
        if kill.back is None:
            missed.append(f"{KILLED} did not serve again after kill {n}")

    window = min(args.growth_window * 60, seconds * 2 / 3)  # seconds
    missed += memory_table(memory, args, started, seconds, window, kills)
    missed += [f"{name}: {problem}" for name, found in problems.items() for problem in found]
    if gave_up:
        missed.append(f"the supervisor gave up on {gave_up}")
    print(
        "\nTargets: no error outside a kill's retry window, nothing acknowledged lost, RSS growth under "
        f"{100 * args.max_growth:.0f}% over the last {window / 60:.0f} min: " + ("held." if not missed else "MISSED:")
    )
    for line in missed:
        print(f"- {line}")
    return 1 if missed else 0


def memory_table(
    memory: MemoryLog, args: argparse.Namespace, started: float, seconds: float, window: float, kills: list[Kill]
) -> list[str]:
    """Prints each process's RSS at start, at the start of the last `window` seconds and at the end;
    returns the processes that grew too much."""
    first, base, last = memory.samples[0][1], memory.at(started + seconds - window), memory.samples[-1][1]
    print(
        f"\n| process | RSS start MiB | RSS at {(seconds - window) / 60:.0f} min | RSS end MiB | "
        f"growth over the last {window / 60:.0f} min |"
    )
    print("|---|---|---|---|---|")
    missed = []
    for name, (pid, rss) in last.items():
        start, middle = first.get(name), base.get(name)
        if start is None or middle is None or middle[0] != pid or start[0] != pid:
            before = ", ".join(f"{k.rss_before / MIB:.0f}" for k in kills if k.rss_before and name == KILLED)
            growth = f"restarted; RSS before each kill: {before or '-'} MiB"
        else:
            change = (rss - middle[1]) / middle[1]
            growth = f"{100 * change:+.1f}%"
            if change >= args.max_growth:
                missed.append(f"{name}: RSS grew {growth} over the last {window / 60:.0f} min")
        cells = [f"{x[1] / MIB:.0f}" if x else "-" for x in (start, middle)]
        print(f"| {name} | {cells[0]} | {cells[1]} | {rss / MIB:.0f} | {growth} |")
    return missed


if __name__ == "__main__":
    sys.exit(main())
