"""Embedder settings (flags and SIMMESH_* variables)."""

from __future__ import annotations

import dataclasses

from simmesh.embedder.images import ImageLimits
from simmesh.kit.settings import BlobSettings, ServerSettings


@dataclasses.dataclass(frozen=True)
class ImageSettings:
    """What a service accepts as an image (shared by every service that reads images)."""

    max_image_bytes: int = dataclasses.field(default=20 * 1024 * 1024, metadata={"help": "largest encoded image"})
    max_image_pixels: int = dataclasses.field(default=40_000_000, metadata={"help": "largest decoded image"})
    url_timeout: float = dataclasses.field(default=10.0, metadata={"help": "seconds to fetch an image URL"})
    url_schemes: tuple[str, ...] = dataclasses.field(
        default=("https", "http"), metadata={"help": "URL schemes images may be fetched with"}
    )
    url_hosts: tuple[str, ...] = dataclasses.field(
        default=("*",), metadata={"help": "hosts images may be fetched from (`*.example.com` patterns; `*` any)"}
    )

    def image_limits(self) -> ImageLimits:
        return ImageLimits(max_bytes=self.max_image_bytes, max_pixels=self.max_image_pixels,
                           fetch_timeout=self.url_timeout, allowed_schemes=self.url_schemes,
                           allowed_hosts=self.url_hosts)


@dataclasses.dataclass(frozen=True)
class EmbedderSettings(ServerSettings, BlobSettings, ImageSettings):
    port: int = 50051
    runtime: str = dataclasses.field(
        default="onnxruntime", metadata={"help": "`onnxruntime` (in-process) or `triton`"}
    )
    triton_url: str = dataclasses.field(default="", metadata={"help": "tritonserver gRPC host:port (runtime triton)"})
    images_blob_url: str = dataclasses.field(
        default="", metadata={"help": "object store that `uri` images may come from (default: blob_url)"}
    )
    builtin_models: bool = dataclasses.field(default=True, metadata={"help": "create `color` and `match` at start"})
