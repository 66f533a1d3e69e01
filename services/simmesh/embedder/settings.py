"""Embedder settings (flags and SIMMESH_* variables)."""

from __future__ import annotations

import dataclasses

from simmesh.kit.settings import BlobSettings, ServerSettings


@dataclasses.dataclass(frozen=True)
class EmbedderSettings(ServerSettings, BlobSettings):
    port: int = 50051
    runtime: str = dataclasses.field(
        default="onnxruntime", metadata={"help": "`onnxruntime` (in-process) or `triton`"}
    )
    triton_url: str = dataclasses.field(default="", metadata={"help": "tritonserver gRPC host:port (runtime triton)"})
