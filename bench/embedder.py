"""Embedding throughput through the embedder vs the same work in-process, in one run.

For each model (the built-in `color`, `match` and `generic`, and MobileNetV2 from
../shared/models when present) it embeds the ImageNet-sample JPEGs (decode + preprocess +
inference) three ways:

- in-process: Pillow decode on a thread pool, the embedder's own preprocessing, ONNX Runtime
  `session.run` on the batch (the engine underneath, no service);
- through the embedder over gRPC (a `python -m simmesh.embedder` process, in-process ONNX
  Runtime), two batches in flight;
- through the embedder with the Triton runtime (tritonserver reading its repository from S3).

    python bench/embedder.py [--batch 32] [--images 600] [--no-triton] [--models generic ...]

Each way is measured in `--rounds` rounds, interleaved, and its best round is kept, so that a
passing load on the machine does not decide the ratio. Prints a Markdown table of images/s and
the ratios service / in-process.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
import onnxruntime as ort
from _pretrained import MOBILENET_V2, SHARED, mobilenet_v2_manifest

from simmesh.devstack.process import ManagedProcess
from simmesh.devstack.s3 import S3Server
from simmesh.devstack.service import start_service
from simmesh.devstack.triton import TritonServer, tritonserver_available
from simmesh.embedder.builtin import BUILTIN_MODELS
from simmesh.embedder.triton_runtime import prepare_repository
from simmesh.imaging.decode import decode
from simmesh.imaging.preprocess import preprocess
from simmesh.kit.blobstore_s3 import S3BlobStore
from simmesh_proto.v1 import common_pb2, embedder_pb2, embedder_pb2_grpc

SAMPLE = SHARED / "datasets" / "imagenet-sample"


def models() -> dict[str, tuple[bytes, embedder_pb2.ModelManifest]]:
    out = {name: (builtin.export_onnx(), builtin.manifest()) for name, builtin in BUILTIN_MODELS.items()}
    if MOBILENET_V2.exists():
        out["mobilenet-v2"] = (MOBILENET_V2.read_bytes(), mobilenet_v2_manifest())
    return out


def batches(images: list[bytes], size: int) -> list[list[bytes]]:
    return [images[i : i + size] for i in range(0, len(images), size)]


def in_process(onnx: bytes, manifest, images: list[bytes], batch: int) -> float:
    """Images/s for decode + preprocess + ONNX Runtime, batch after batch, in this process."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = os.cpu_count() or 2
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(onnx, options, providers=["CPUExecutionProvider"])
    with concurrent.futures.ThreadPoolExecutor(max(2, (os.cpu_count() or 2) * 2)) as pool:

        def run(chunk: list[bytes]) -> None:
            decoded = list(pool.map(decode, chunk))
            x = preprocess(decoded, manifest)
            session.run([manifest.output_name], {manifest.input_name: x})

        run(images[:batch])  # warm-up
        started = time.perf_counter()
        for chunk in batches(images, batch):
            run(chunk)
        return len(images) / (time.perf_counter() - started)


def through_service(address: str, model: str, images: list[bytes], batch: int, in_flight: int = 2) -> float:
    """Images/s for Embed calls over gRPC, `in_flight` batches at a time."""
    with grpc.insecure_channel(
        address, options=[("grpc.max_receive_message_length", 1 << 26), ("grpc.max_send_message_length", 1 << 26)]
    ) as channel:
        stub = embedder_pb2_grpc.EmbedderServiceStub(channel)
        requests = [
            embedder_pb2.EmbedRequest(model=model, images=[common_pb2.Image(content=b) for b in chunk])
            for chunk in batches(images, batch)
        ]
        stub.Embed(requests[0], timeout=300)  # warm-up (and first load into the runtime)
        lock, position = threading.Lock(), iter(requests)

        def worker() -> None:
            while True:
                with lock:
                    request = next(position, None)
                if request is None:
                    return
                reply = stub.Embed(request, timeout=300)
                if reply.errors:
                    raise RuntimeError(f"{len(reply.errors)} images failed: {reply.errors[0]}")

        started = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(in_flight)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return len(images) / (time.perf_counter() - started)


def start_embedder(root: Path, env: dict[str, str]) -> tuple[ManagedProcess, str]:
    return start_service(
        "embedder",
        ["simmesh.embedder"],
        data_dir=root / "data",
        log_path=root / "embedder.log",
        env={"SIMMESH_LOG_LEVEL": "WARNING", **env},
    )


def import_model(address: str, model_id: str, onnx: bytes, manifest) -> None:
    with grpc.insecure_channel(address) as channel:
        stub = embedder_pb2_grpc.EmbedderServiceStub(channel)

        def parts():
            yield embedder_pb2.ImportModelRequest(
                header=embedder_pb2.ImportModelRequest.Header(
                    model_id=model_id, manifest=manifest, size_bytes=len(onnx)
                )
            )
            for start in range(0, len(onnx), 1 << 20):
                yield embedder_pb2.ImportModelRequest(chunk=onnx[start : start + (1 << 20)])

        stub.ImportModel(parts(), timeout=300)


def start_runtime(root: Path, env: dict[str, str], chosen) -> tuple[ManagedProcess, str]:
    """An embedder process with every chosen model in its registry."""
    proc, address = start_embedder(root, env)
    for name, (onnx, manifest) in chosen.items():
        if name not in BUILTIN_MODELS:
            import_model(address, name, onnx, manifest)
    return proc, address


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--no-triton", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models", nargs="+", help="only these (default: every built-in model and MobileNetV2)")
    parser.add_argument("--sample", type=Path, default=SAMPLE, help="the folder of ImageNet-sample JPEGs")
    args = parser.parse_args(argv)
    if not args.sample.exists():
        print(f"skipped: the ImageNet sample is not at {args.sample}")
        return 0
    images = [p.read_bytes() for p in sorted(args.sample.glob("*.JPEG"))[: args.images]]
    chosen = {name: model for name, model in models().items() if not args.models or name in args.models}
    local = {name: 0.0 for name in chosen}
    service = {name: 0.0 for name in chosen}
    triton: dict[str, float] = {}
    reason = "disabled" if args.no_triton else tritonserver_available()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        processes: list = []
        try:
            ort_proc, ort_address = start_runtime(root / "ort", {"SIMMESH_RUNTIME": "onnxruntime"}, chosen)
            processes.append(ort_proc)
            triton_address = ""
            if not reason:
                s3 = S3Server(root / "s3", root / "logs").start()
                processes.append(s3)
                store = S3BlobStore(s3.endpoint, "bench-models", "", s3.access_key, s3.secret_key, s3.region)
                prepare_repository(store, "triton")
                server = TritonServer(
                    f"s3://{s3.endpoint}/bench-models/triton",
                    root / "logs",
                    s3_credentials={
                        "AWS_ACCESS_KEY_ID": s3.access_key,
                        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
                        "AWS_DEFAULT_REGION": s3.region,
                    },
                )
                processes.append(server)
                server.start(timeout=90)
                triton_proc, triton_address = start_runtime(
                    root / "triton",
                    {
                        "SIMMESH_RUNTIME": "triton",
                        "SIMMESH_TRITON_URL": server.grpc_url,
                        "SIMMESH_BLOB_URL": "s3://bench-models",
                        "SIMMESH_S3_ENDPOINT": s3.endpoint,
                        "SIMMESH_S3_ACCESS_KEY": s3.access_key,
                        "SIMMESH_S3_SECRET_KEY": s3.secret_key,
                    },
                    chosen,
                )
                processes.append(triton_proc)
                triton = {name: 0.0 for name in chosen}
            for _ in range(args.rounds):
                for name, (onnx, manifest) in chosen.items():
                    local[name] = max(local[name], in_process(onnx, manifest, images, args.batch))
                    service[name] = max(
                        service[name], through_service(ort_address, f"models/{name}", images, args.batch)
                    )
                    if triton_address:
                        triton[name] = max(
                            triton[name], through_service(triton_address, f"models/{name}", images, args.batch)
                        )
        finally:
            for proc in reversed(processes):
                proc.stop()
    print(
        f"\nEmbedding {len(images)} ImageNet-sample JPEGs (decode + preprocess + inference), batch {args.batch}, "
        f"{os.cpu_count()} cores\n"
    )
    print(
        "| model | in-process ONNX Runtime (img/s) | embedder over gRPC (img/s) | ratio | "
        "embedder via Triton (img/s) | ratio |"
    )
    print("|---|---|---|---|---|---|")
    for name in chosen:
        t = triton.get(name)
        print(
            f"| {name} | {local[name]:.1f} | {service[name]:.1f} | {service[name] / local[name]:.2f} | "
            + (f"{t:.1f} | {t / local[name]:.2f} |" if t else f"n/a | ({reason}) |")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
