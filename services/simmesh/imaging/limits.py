"""What a service accepts as an image: the limits, the settings they come from, the size error."""

from __future__ import annotations

import dataclasses

from simmesh.kit import reasons
from simmesh.kit.errors import ResourceExhausted

MIB = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class ImageLimits:
    """What a service accepts.

    `allowed_hosts` holds exact host names (`images.example.com`) and `*`-prefixed suffix
    patterns: `*.example.com` matches any subdomain of example.com (not example.com itself),
    a lone `*` matches every host (the default). Hosts compare case-insensitively.
    `fetch_timeout` bounds connecting, each read, and the whole download.
    """

    max_bytes: int = 20 * MIB
    max_pixels: int = 40_000_000
    fetch_timeout: float = 10.0
    allowed_schemes: tuple[str, ...] = ("https", "http")
    allowed_hosts: tuple[str, ...] = ("*",)
    max_redirects: int = 3

    def __post_init__(self) -> None:
        if self.max_bytes <= 0 or self.max_pixels <= 0:
            raise ValueError("max_bytes and max_pixels must be positive")
        if self.fetch_timeout <= 0:
            raise ValueError("fetch_timeout must be positive")
        if self.max_redirects < 0:
            raise ValueError("max_redirects must not be negative")
        object.__setattr__(self, "allowed_schemes", tuple(s.lower() for s in self.allowed_schemes))
        object.__setattr__(self, "allowed_hosts", tuple(h.lower().rstrip(".") for h in self.allowed_hosts))

    def host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        for pattern in self.allowed_hosts:
            if pattern.startswith("*"):
                if host.endswith(pattern[1:]) and host != pattern[1:].lstrip("."):
                    return True
            elif host == pattern:
                return True
        return False

    def check_size(self, size: int, field: str) -> None:
        """RESOURCE_EXHAUSTED (IMAGE_TOO_LARGE) when `size` encoded bytes are over `max_bytes`."""
        if size > self.max_bytes:
            raise too_large(size, self.max_bytes, field)


def too_large(size: int, limit: int, field: str) -> ResourceExhausted:
    return ResourceExhausted(
        f"{field} is {size} bytes, over the limit of {limit} bytes",
        reason=reasons.IMAGE_TOO_LARGE,
        field=field,
        metadata={"size_bytes": size, "limit_bytes": limit},
    )


@dataclasses.dataclass(frozen=True)
class ImageSettings:
    """What a service accepts as an image (shared by every service that reads images)."""

    max_image_bytes: int = dataclasses.field(default=20 * MIB, metadata={"help": "largest encoded image"})
    max_image_pixels: int = dataclasses.field(default=40_000_000, metadata={"help": "largest decoded image"})
    url_timeout: float = dataclasses.field(default=10.0, metadata={"help": "seconds to fetch an image URL"})
    url_schemes: tuple[str, ...] = dataclasses.field(
        default=("https", "http"), metadata={"help": "URL schemes images may be fetched with"}
    )
    url_hosts: tuple[str, ...] = dataclasses.field(
        default=("*",), metadata={"help": "hosts images may be fetched from (`*.example.com` patterns; `*` any)"}
    )

    def image_limits(self) -> ImageLimits:
        return ImageLimits(
            max_bytes=self.max_image_bytes,
            max_pixels=self.max_image_pixels,
            fetch_timeout=self.url_timeout,
            allowed_schemes=self.url_schemes,
            allowed_hosts=self.url_hosts,
        )
