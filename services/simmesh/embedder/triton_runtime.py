"""The tritonserver runtime: model entries written to its object-store repository, inference over gRPC."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Iterator

import numpy as np
import tritonclient.grpc.aio as tritonaio
from tritonclient.utils import InferenceServerException

from simmesh.embedder.runtime import TensorSpec, not_loaded, split_rows
from simmesh.embedder.triton_repository import ModelConfig, repository_files
from simmesh.kit import reasons
from simmesh.kit.blobstore import BlobStore
from simmesh.kit.errors import Internal, NotFound, Unavailable
from simmesh_proto.v1.embedder_pb2 import ModelManifest

REPOSITORY_MARKER = "README"
_MARKER_TEXT = b"Triton model repository kept by the simmesh embedder: one folder per loaded model.\n"


def prepare_repository(repository: BlobStore, prefix: str = "triton") -> None:
    """Writes a marker file under `prefix/`, so the folder exists before any model is loaded.

    tritonserver refuses to start on an object-store location with nothing under it.
    """
    key = f"{prefix.strip('/')}/{REPOSITORY_MARKER}" if prefix.strip("/") else REPOSITORY_MARKER
    if not repository.exists(key):
        repository.put_bytes(key, _MARKER_TEXT, content_type="text/plain")


class TritonRuntime:
    """Models served by a tritonserver that reads its model repository from the object store.

    `load` writes the entry (`config.pbtxt`, `config.gpu.pbtxt`, `1/model.onnx`, `1/model.py`)
    under `prefix/key/` in `repository` and asks Triton to load `key`. Triton must serve that
    location: for blobs at `s3://bucket/triton/...` (`repository_uri`) its command line says
    `--model-repository=s3://http://ENDPOINT/bucket/triton`; `prepare_repository` makes the
    folder exist before Triton starts. `unload` asks Triton to unload and then deletes the
    entry, so the repository holds exactly the loaded models (the registry keeps the ONNX
    files; an entry is cheap to write again). Inference goes through one
    `tritonclient.grpc.aio` client, made on first use in the running event loop; batches larger
    than `max_batch` (the entry's max_batch_size) are sent as concurrent chunks.

    `intra_op_threads` is passed to the CPU entry's ONNX Runtime (0: the Triton host decides).
    """

    def __init__(
        self,
        url: str,
        repository: BlobStore,
        prefix: str = "triton",
        *,
        max_batch: int = 64,
        intra_op_threads: int = 0,
        timeout: float = 60.0,
        load_timeout: float = 300.0,
    ) -> None:
        self.url = url
        self.repository = repository
        self.prefix = prefix.strip("/")
        self.max_batch = max_batch
        self.intra_op_threads = intra_op_threads
        self.timeout = timeout
        self.load_timeout = load_timeout
        self._specs: dict[str, TensorSpec] = {}
        self._client: tritonaio.InferenceServerClient | None = None
        self._locks: collections.defaultdict[str, asyncio.Lock] = collections.defaultdict(asyncio.Lock)

    @property
    def repository_uri(self) -> str:
        """Where the entries live, as the blob store names it (`s3://bucket/.../triton`)."""
        return self.repository.uri(f"{self.prefix}/k")[: -len("/k")]

    def _client_now(self) -> tritonaio.InferenceServerClient:
        if self._client is None:
            self._client = tritonaio.InferenceServerClient(self.url)
        return self._client

    def _key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    async def load(self, key: str, onnx: bytes, manifest: ModelManifest) -> None:
        spec = TensorSpec.from_manifest(key, manifest)
        config = ModelConfig(
            input_name=spec.input_name,
            output_name=spec.output_name,
            dimension=spec.dimension,
            max_batch_size=self.max_batch,
            input_shape=spec.item_shape,
            intra_op_threads=self.intra_op_threads,
        )
        files = repository_files(key, 1, onnx, config)
        async with self._locks[key]:
            await asyncio.to_thread(prepare_repository, self.repository, self.prefix)
            await asyncio.to_thread(self._write_entry, key, files)
            with _triton_errors(key, "loading", "MODEL_LOAD_FAILED"):
                await self._client_now().load_model(key, client_timeout=self.load_timeout)
            self._specs[key] = spec

    def _write_entry(self, key: str, files: dict[str, bytes]) -> None:
        stale = {info.key for info in self.repository.list(self._key(f"{key}/"))}
        for relative, data in files.items():
            self.repository.put_bytes(self._key(relative), data)
            stale.discard(self._key(relative))
        for leftover in stale:  # files of an earlier entry under the same key
            self.repository.delete(leftover)

    async def unload(self, key: str) -> None:
        async with self._locks[key]:
            self._specs.pop(key, None)
            with _triton_errors(key, "unloading", "MODEL_UNLOAD_FAILED"):
                await self._client_now().unload_model(key, client_timeout=self.timeout)
            await asyncio.to_thread(self.repository.delete_prefix, self._key(f"{key}/"))

    def loaded(self, key: str) -> bool:
        return key in self._specs

    async def infer(self, key: str, batch: np.ndarray) -> np.ndarray:
        spec = self._specs.get(key)
        if spec is None:
            raise not_loaded(key)
        array = spec.check_batch(key, batch)
        if len(array) == 0:
            return np.zeros((0, spec.dimension), np.float32)
        chunks = split_rows(array, self.max_batch)
        outputs = await asyncio.gather(*(self._infer_chunk(key, spec, chunk) for chunk in chunks))
        return outputs[0] if len(outputs) == 1 else np.concatenate(outputs)

    async def _infer_chunk(self, key: str, spec: TensorSpec, chunk: np.ndarray) -> np.ndarray:
        tensor = tritonaio.InferInput(spec.input_name, list(chunk.shape), "FP32")
        tensor.set_data_from_numpy(chunk)
        try:
            with _triton_errors(key, "running", "INFERENCE_FAILED"):
                result = await self._client_now().infer(
                    key,
                    [tensor],
                    outputs=[tritonaio.InferRequestedOutput(spec.output_name)],
                    client_timeout=self.timeout,
                )
        except NotFound:
            self._specs.pop(key, None)  # unloaded behind this runtime's back (or Triton restarted)
            raise
        output = result.as_numpy(spec.output_name)
        if output is None:
            raise Internal(
                f"model {key}: Triton returned no {spec.output_name!r} output",
                reason=reasons.INFERENCE_FAILED,
                metadata={"model": key},
            )
        return spec.check_output(key, output, len(chunk))

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()


_UNREACHABLE = {"StatusCode.UNAVAILABLE", "StatusCode.DEADLINE_EXCEEDED", "StatusCode.CANCELLED"}


@contextlib.contextmanager
def _triton_errors(key: str, doing: str, reason: str) -> Iterator[None]:
    """Turns tritonclient failures into catalogue errors that name the model."""
    try:
        yield
    except InferenceServerException as error:
        status, message = error.status() or "", error.message() or str(error)
        metadata = {"model": key, "triton_status": status}
        if status in _UNREACHABLE and "unknown model" not in message and "not ready" not in message:
            raise Unavailable(
                f"tritonserver unavailable while {doing} model {key}: {message}",
                reason=reasons.TRITON_UNAVAILABLE,
                metadata=metadata,
            ) from None
        if "unknown model" in message or ("not ready" in message and reason == "INFERENCE_FAILED"):
            raise NotFound(
                f"model {key} is not loaded in tritonserver: {message}",
                reason=reasons.MODEL_NOT_LOADED,
                metadata=metadata,
            ) from None
        raise Internal(
            f"tritonserver failed {doing} model {key}: {message}", reason=reason, metadata=metadata
        ) from None
