"""Embedder settings (flags and SIMMESH_* variables)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from simmesh.imaging.budget import BudgetSettings
from simmesh.imaging.limits import ImageSettings
from simmesh.kit.settings import BlobSettings, EtcdSettings, ServerSettings


@dataclasses.dataclass(frozen=True)
class EmbedderSettings(ServerSettings, BlobSettings, ImageSettings, BudgetSettings, EtcdSettings):
    port: int = 50051
    runtime: str = dataclasses.field(default="onnxruntime", metadata={"help": "`onnxruntime` (in-process) or `triton`"})
    triton_url: str = dataclasses.field(default="", metadata={"help": "tritonserver gRPC host:port (runtime triton)"})
    images_blob_url: str = dataclasses.field(
        default="", metadata={"help": "object store that `uri` images may come from (default: blob_url)"}
    )
    builtin_models: bool = dataclasses.field(
        default=True, metadata={"help": "create `color`, `match` and `generic` at start"}
    )
    builtin_cache_dir: str = dataclasses.field(
        default="~/.cache/simmesh/builtin-models",
        metadata={"help": "where the built-in models' ONNX exports are kept between starts; empty = no cache"},
    )

    def builtin_cache(self) -> Path | None:
        return Path(self.builtin_cache_dir).expanduser() if self.builtin_cache_dir else None
