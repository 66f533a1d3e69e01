"""What a service accepts as an image: the limits, the settings they come from, the size error."""

from __future__ import annotations

import dataclasses

from simmesh.imaging.addresses import AddressPolicy
from simmesh.kit import reasons
from simmesh.kit.errors import ResourceExhausted

MIB = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class ImageLimits:
    """What a service accepts.

    `allowed_hosts` holds exact host names (`images.example.com`) and `*`-prefixed suffix
    patterns: `*.example.com` matches any subdomain of example.com (not example.com itself),
    a lone `*` matches every host (the default). Hosts compare case-insensitively. `denied_hosts`
    (same patterns) wins over `allowed_hosts`.
    Whatever the host lists say, a URL whose host resolves to a loopback, private, link-local,
    unique-local, multicast, reserved or cloud metadata address is refused (any redirect hop too),
    unless the address lies in one of `allowed_networks` (`127.0.0.1/32`, `10.0.0.0/8:8080`;
    see `AllowedNetwork`); metadata addresses are refused even then.
    `fetch_timeout` bounds connecting, each read, and the whole download.
    """

    max_bytes: int = 20 * MIB
    max_pixels: int = 40_000_000
    fetch_timeout: float = 10.0
    allowed_schemes: tuple[str, ...] = ("https", "http")
    allowed_hosts: tuple[str, ...] = ("*",)
    max_redirects: int = 3
    denied_hosts: tuple[str, ...] = ()
    allowed_networks: tuple[str, ...] = ()
    addresses: AddressPolicy = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_bytes <= 0 or self.max_pixels <= 0:
            raise ValueError("max_bytes and max_pixels must be positive")
        if self.fetch_timeout <= 0:
            raise ValueError("fetch_timeout must be positive")
        if self.max_redirects < 0:
            raise ValueError("max_redirects must not be negative")
        object.__setattr__(self, "allowed_schemes", tuple(s.lower() for s in self.allowed_schemes))
        object.__setattr__(self, "allowed_hosts", _host_patterns(self.allowed_hosts))
        object.__setattr__(self, "denied_hosts", _host_patterns(self.denied_hosts))
        object.__setattr__(self, "addresses", AddressPolicy.parse(self.allowed_networks))

    def host_allowed(self, host: str) -> bool:
        """`host` matches `allowed_hosts` and not `denied_hosts`."""
        host = host.lower().rstrip(".")
        return _matches(host, self.allowed_hosts) and not _matches(host, self.denied_hosts)

    def check_size(self, size: int, field: str) -> None:
        """RESOURCE_EXHAUSTED (IMAGE_TOO_LARGE) when `size` encoded bytes are over `max_bytes`."""
        if size > self.max_bytes:
            raise too_large(size, self.max_bytes, field)


def _host_patterns(patterns: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(pattern.lower().rstrip(".") for pattern in patterns)


def _matches(host: str, patterns: tuple[str, ...]) -> bool:
    for pattern in patterns:
        if pattern.startswith("*"):
            if host.endswith(pattern[1:]) and host != pattern[1:].lstrip("."):
                return True
        elif host == pattern:
            return True
    return False


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
    url_denied_hosts: tuple[str, ...] = dataclasses.field(
        default=(), metadata={"help": "hosts images are never fetched from (same patterns; wins over url_hosts)"}
    )
    url_allowed_networks: tuple[str, ...] = dataclasses.field(
        default=(),
        metadata={
            "help": "non-public networks image URLs may reach (CIDR, optionally :port, e.g. 127.0.0.1/32); "
            "loopback, private, link-local and metadata addresses are refused otherwise"
        },
    )
    url_max_redirects: int = dataclasses.field(default=3, metadata={"help": "redirects followed per image URL"})

    def image_limits(self) -> ImageLimits:
        return ImageLimits(
            max_bytes=self.max_image_bytes,
            max_pixels=self.max_image_pixels,
            fetch_timeout=self.url_timeout,
            allowed_schemes=self.url_schemes,
            allowed_hosts=self.url_hosts,
            max_redirects=self.url_max_redirects,
            denied_hosts=self.url_denied_hosts,
            allowed_networks=self.url_allowed_networks,
        )
