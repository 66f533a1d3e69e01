"""Which network addresses image URLs may lead to: public ones, plus the networks an owner allows."""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
from collections.abc import Callable, Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[IPAddress]]
"""`(host, port) -> addresses`; raises OSError when the host does not resolve."""

LOOPBACK, PRIVATE, LINK_LOCAL, UNIQUE_LOCAL = "loopback", "private", "link-local", "unique-local"
MULTICAST, UNSPECIFIED, BROADCAST, RESERVED, METADATA = "multicast", "unspecified", "broadcast", "reserved", "metadata"

_IPV4_REFUSED: tuple[tuple[str, str], ...] = (
    ("169.254.169.254/32", METADATA),  # AWS, GCP, Azure, OpenStack, Oracle
    ("169.254.169.253/32", METADATA),  # AWS DNS
    ("169.254.170.2/32", METADATA),  # AWS ECS task credentials
    ("100.100.100.200/32", METADATA),  # Alibaba Cloud
    ("192.0.0.192/32", METADATA),  # Oracle Cloud (classic)
    ("0.0.0.0/8", UNSPECIFIED),
    ("10.0.0.0/8", PRIVATE),
    ("100.64.0.0/10", PRIVATE),  # carrier-grade NAT
    ("127.0.0.0/8", LOOPBACK),
    ("169.254.0.0/16", LINK_LOCAL),
    ("172.16.0.0/12", PRIVATE),
    ("192.0.0.0/24", RESERVED),
    ("192.0.2.0/24", RESERVED),
    ("192.88.99.0/24", RESERVED),
    ("192.168.0.0/16", PRIVATE),
    ("198.18.0.0/15", RESERVED),
    ("198.51.100.0/24", RESERVED),
    ("203.0.113.0/24", RESERVED),
    ("224.0.0.0/4", MULTICAST),
    ("255.255.255.255/32", BROADCAST),
    ("240.0.0.0/4", RESERVED),
)
_IPV6_REFUSED: tuple[tuple[str, str], ...] = (
    ("fd00:ec2::254/128", METADATA),  # AWS over IPv6
    ("::/128", UNSPECIFIED),
    ("::1/128", LOOPBACK),
    ("64:ff9b:1::/48", PRIVATE),  # local-use NAT64
    ("100::/64", RESERVED),
    ("2001::/23", RESERVED),  # protocol assignments, Teredo among them
    ("2001:db8::/32", RESERVED),
    ("fc00::/7", UNIQUE_LOCAL),
    ("fe80::/10", LINK_LOCAL),
    ("fec0::/10", PRIVATE),  # site-local, deprecated
    ("ff00::/8", MULTICAST),
)
_TABLE: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(network), kind) for network, kind in _IPV4_REFUSED + _IPV6_REFUSED
)
_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")


def parse_host_address(host: str) -> IPAddress | None:
    """The address `host` spells, or None when it is a name to resolve.

    Accepts what the C resolver accepts for IPv4: one to four parts, each decimal, octal (`0177`) or
    hex (`0x7f`), the last filling the remaining bytes (`2130706433`, `127.1`, `0x7f.0.0.1`); IPv6
    with or without brackets and a zone (`[fe80::1%eth0]`); a trailing dot is ignored.
    """
    text = host.strip().rstrip(".")
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text.split("%", 1)[0])
        except ValueError:
            return None
    return _inet_aton(text)


def _inet_aton(text: str) -> ipaddress.IPv4Address | None:
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values = [_number(part) for part in parts]
    if any(value is None for value in values):
        return None
    *leading, last = [value for value in values if value is not None]
    if any(value > 255 for value in leading) or last >= 256 ** (4 - len(leading)):
        return None
    packed = 0
    for value in leading:
        packed = packed * 256 + value
    return ipaddress.IPv4Address(packed * 256 ** (4 - len(leading)) + last)


def _number(part: str) -> int | None:
    lowered = part.lower()
    if lowered.startswith("0x"):
        digits, base = lowered[2:], 16
    elif len(lowered) > 1 and lowered.startswith("0"):
        digits, base = lowered[1:], 8
    else:
        digits, base = lowered, 10
    try:
        return int(digits, base) if digits.isalnum() and digits.isascii() else None
    except ValueError:
        return None


def embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses an IPv6 address carries: mapped, compatible, NAT64, 6to4, Teredo."""
    if address.ipv4_mapped is not None:
        return (address.ipv4_mapped,)
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return (ipaddress.IPv4Address(int(address) & 0xFFFFFFFF),)
    if address.sixtofour is not None:
        return (address.sixtofour,)
    if address.teredo is not None:
        return address.teredo
    return ()


def refusal(address: IPAddress) -> str | None:
    """Why a fetch must not connect to `address` (`loopback`, `private`, `metadata`...), or None: it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return refusal(address.ipv4_mapped)
        for carried in embedded_ipv4(address):
            if (kind := refusal(carried)) is not None:
                return kind
        if address in _NAT64:
            return None  # well-known NAT64 prefix in front of a public IPv4 address
    for network, kind in _TABLE:
        if address.version == network.version and address in network:
            return kind
    if isinstance(address, ipaddress.IPv6Address):
        return RESERVED if address in _IPV4_COMPATIBLE or address not in _GLOBAL_UNICAST else None
    return None if address.is_global else RESERVED


@dataclasses.dataclass(frozen=True)
class AllowedNetwork:
    """A network an owner lets URLs reach although it is not public: `127.0.0.1/32`, `10.0.0.0/8`,
    `[::1]`, optionally with one port: `127.0.0.1:8080`, `10.1.0.0/16:443`, `[fd00::/8]:80`."""

    network: IPNetwork
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> AllowedNetwork:
        spec, port = text.strip(), ""
        if spec.startswith("["):
            spec, _, rest = spec[1:].partition("]")
            if rest and not rest.startswith(":"):
                raise ValueError(f"allowed network {text!r}: expected [network]:port")
            port = rest[1:]
        elif spec.count(":") == 1:
            spec, port = spec.split(":")
        try:
            network = ipaddress.ip_network(spec, strict=False)
            number = int(port) if port else None
        except ValueError as error:
            raise ValueError(f"allowed network {text!r}: {error}") from None
        if number is not None and not 0 < number < 65536:
            raise ValueError(f"allowed network {text!r}: port {number} out of range")
        return cls(network, number)

    def admits(self, address: IPAddress, port: int) -> bool:
        if self.port is not None and port != self.port:
            return False
        return address.version == self.network.version and address in self.network


@dataclasses.dataclass(frozen=True)
class AddressPolicy:
    """Public addresses, plus those inside `allowed`; cloud metadata addresses are refused whatever is allowed."""

    allowed: tuple[AllowedNetwork, ...] = ()

    @classmethod
    def parse(cls, networks: Sequence[str]) -> AddressPolicy:
        return cls(tuple(AllowedNetwork.parse(network) for network in networks))

    def refusal(self, address: IPAddress, port: int) -> str | None:
        """Why `address:port` is refused, or None when a fetch may connect to it."""
        kind = refusal(address)
        if kind is None or kind == METADATA:
            return kind
        plain = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
        if any(entry.admits(address, port) or (plain and entry.admits(plain, port)) for entry in self.allowed):
            return None
        return kind


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to, in the resolver's order, without duplicates (raises OSError)."""
    found: list[IPAddress] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found
