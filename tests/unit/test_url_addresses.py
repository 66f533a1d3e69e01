"""Image URLs cannot be turned inward: address classification, host spellings, and the fetcher's checks.

Nothing here sends traffic to a refused address: classification is pure, and the fetcher tests inject
a resolver and a connection pool that fails the test if a connection is ever asked for.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import grpc
import pytest
import urllib3
from support.recording_http import RecordingServer

from simmesh.devstack.mesh import MeshConfig
from simmesh.embedder.settings import EmbedderSettings
from simmesh.imaging.addresses import AddressPolicy, AllowedNetwork, parse_host_address, refusal
from simmesh.imaging.fetch import UrlFetcher
from simmesh.imaging.limits import ImageLimits, ImageSettings
from simmesh.kit.errors import SimmeshError
from simmesh.kit.settings import load_settings

REFUSED = {
    "127.0.0.1": "loopback",
    "127.255.255.254": "loopback",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "172.31.255.255": "private",
    "192.168.1.1": "private",
    "100.64.0.1": "private",
    "100.127.255.254": "private",
    "169.254.1.1": "link-local",
    "169.254.169.254": "metadata",
    "169.254.170.2": "metadata",
    "100.100.100.200": "metadata",
    "0.0.0.0": "unspecified",
    "0.1.2.3": "unspecified",
    "224.0.0.1": "multicast",
    "239.255.255.250": "multicast",
    "255.255.255.255": "broadcast",
    "240.0.0.1": "reserved",
    "192.0.2.10": "reserved",
    "198.18.0.1": "reserved",
    "::1": "loopback",
    "::": "unspecified",
    "fe80::1": "link-local",
    "fe80::1%eth0": "link-local",
    "fc00::1": "unique-local",
    "fd12:3456::1": "unique-local",
    "fd00:ec2::254": "metadata",
    "ff02::1": "multicast",
    "2001:db8::1": "reserved",
    "100::1": "reserved",
    "::ffff:127.0.0.1": "loopback",  # IPv4-mapped
    "::ffff:10.0.0.1": "private",
    "::ffff:169.254.169.254": "metadata",
    "::127.0.0.1": "loopback",  # IPv4-compatible (deprecated)
    "64:ff9b::7f00:1": "loopback",  # NAT64 of 127.0.0.1
    "64:ff9b::a00:1": "private",  # NAT64 of 10.0.0.1
    "2002:7f00:1::1": "loopback",  # 6to4 of 127.0.0.1
    "2002:c0a8:101::1": "private",  # 6to4 of 192.168.1.1
    "2001:0:4136:e378:8000:63bf:3fff:fdd2": "reserved",  # Teredo
}
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8", "2002:808:808::1"]


@pytest.mark.parametrize("address,kind", sorted(REFUSED.items()))
def test_every_non_public_range_is_refused_with_its_kind(address: str, kind: str) -> None:
    assert refusal(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_not_refused(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "host,address",
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),  # decimal
        ("0177.0.0.1", "127.0.0.1"),  # octal
        ("0x7f.0.0.1", "127.0.0.1"),  # hex
        ("0x7F000001", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),  # short forms
        ("127.0.1", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("10.1", "10.0.0.1"),
        ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
        ("127.0.0.1.", "127.0.0.1"),  # trailing dot
        ("[::1]", "::1"),  # bracketed IPv6
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("[fe80::1%25eth0]", "fe80::1"),
    ],
)
def test_every_spelling_of_an_address_is_read_as_that_address(host: str, address: str) -> None:
    parsed = parse_host_address(host)
    assert parsed is not None and parsed.compressed == ipaddress.ip_address(address).compressed
    assert refusal(parsed) is not None


@pytest.mark.parametrize("host", ["images.example.com", "1.2.3.999", "127.0.0.1.nip.io", "0x", "1..2", "12e3"])
def test_names_are_left_to_the_resolver(host: str) -> None:
    assert parse_host_address(host) is None


def test_allowed_networks_admit_only_their_addresses_and_port() -> None:
    policy = AddressPolicy.parse(["127.0.0.1/32:8080", "[::1]", "10.0.0.0/8", "169.254.0.0/16"])
    assert policy.refusal(ipaddress.ip_address("127.0.0.1"), 8080) is None
    assert policy.refusal(ipaddress.ip_address("::ffff:127.0.0.1"), 8080) is None
    assert policy.refusal(ipaddress.ip_address("127.0.0.1"), 8081) == "loopback"
    assert policy.refusal(ipaddress.ip_address("127.0.0.2"), 8080) == "loopback"
    assert policy.refusal(ipaddress.ip_address("::1"), 1) is None
    assert policy.refusal(ipaddress.ip_address("10.9.8.7"), 443) is None
    assert policy.refusal(ipaddress.ip_address("192.168.0.1"), 443) == "private"
    # Metadata addresses stay refused even inside an allowed network.
    assert policy.refusal(ipaddress.ip_address("169.254.169.254"), 80) == "metadata"
    assert AllowedNetwork.parse("[fd00::/8]:443") == AllowedNetwork(ipaddress.ip_network("fd00::/8"), 443)
    for bad in ["not-a-network", "127.0.0.1:99999", "[::1]x", "10.0.0.0/33"]:
        with pytest.raises(ValueError):
            AllowedNetwork.parse(bad)


def test_settings_carry_the_lists_into_the_limits() -> None:
    limits = ImageSettings(
        url_denied_hosts=("*.internal.example.com",), url_allowed_networks=("127.0.0.1/32",), url_max_redirects=1
    ).image_limits()
    assert limits.max_redirects == 1 and limits.addresses == AddressPolicy.parse(["127.0.0.1/32"])
    assert limits.host_allowed("images.example.com")
    assert not limits.host_allowed("db.internal.example.com")
    assert not ImageLimits(allowed_hosts=("*.example.com",), denied_hosts=("secret.example.com",)).host_allowed(
        "SECRET.example.com."
    )


class NoConnections(urllib3.PoolManager):
    """A pool that fails the test if the fetcher ever asks it for a connection."""

    def connection_from_host(self, *args: object, **kwargs: object) -> urllib3.HTTPConnectionPool:
        raise AssertionError(f"a connection was asked for: {args}")


def refused_fetch(fetcher: UrlFetcher, url: str) -> SimmeshError:
    with pytest.raises(SimmeshError) as caught:
        fetcher.fetch(url, "image.url")
    error = caught.value
    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "IMAGE_URL_NOT_ALLOWED"), error
    return error


@pytest.mark.parametrize("address", sorted(REFUSED))
def test_a_name_resolving_to_a_refused_address_is_refused_before_any_connection(address: str) -> None:
    lookups: list[tuple[str, int]] = []

    def resolver(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        lookups.append((host, port))
        return [ipaddress.ip_address(address)]

    fetcher = UrlFetcher(ImageLimits(), NoConnections(), resolver)
    error = refused_fetch(fetcher, "https://images.example.com/cat.png?sig=secret")
    assert lookups == [("images.example.com", 443)]
    assert address not in error.message and "sig=secret" not in error.message and "images.example.com" in error.message


def test_one_refused_address_among_public_ones_refuses_the_host() -> None:
    addresses = [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("10.0.0.7")]
    fetcher = UrlFetcher(ImageLimits(), NoConnections(), lambda host, port: addresses)
    error = refused_fetch(fetcher, "http://images.example.com/a.png")
    assert "10.0.0.7" not in error.message and "93.184" not in error.message


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/a.png",
        "http://[::1]:8080/a.png",
        "http://2130706433/a.png",
        "http://0177.0.0.1/a.png",
        "http://0x7f.0.0.1/a.png",
        "http://127.1/a.png",
        "http://127.0.0.1./a.png",
        "http://[::ffff:127.0.0.1]/a.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://100.100.100.200/latest/meta-data/",
        "https://10.0.0.1/a.png",
        "http://[fe80::1%25eth0]/a.png",
    ],
)
def test_address_literals_are_refused_without_a_lookup_or_a_connection(url: str) -> None:
    def resolver(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        raise AssertionError(f"{host} was looked up")

    refused_fetch(UrlFetcher(ImageLimits(), NoConnections(), resolver), url)


def test_the_connection_goes_to_the_checked_address_with_the_urls_host() -> None:
    lookups: list[str] = []

    def resolver(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        lookups.append(host)
        return [ipaddress.ip_address("127.0.0.1")]

    with RecordingServer() as server:
        server.answers["/a.png"] = (200, {}, b"image bytes")
        server.answers["/hop"] = (302, {"Location": f"http://images.example.com:{server.port}/a.png"}, b"")
        limits = ImageLimits(allowed_networks=(f"127.0.0.1/32:{server.port}",))
        fetcher = UrlFetcher(limits, resolver=resolver)
        assert fetcher.fetch(f"http://images.example.com:{server.port}/hop", "image.url") == b"image bytes"
        fetcher.close()
    # One lookup per hop, and each request carried the URL's host, not the address.
    assert lookups == ["images.example.com", "images.example.com"]
    host = f"images.example.com:{server.port}"
    assert server.requests == [("/hop", host), ("/a.png", host)]


def test_the_local_mesh_lets_urls_reach_loopback_only_when_its_owner_asks(tmp_path: Path) -> None:
    assert MeshConfig(data_dir=tmp_path).url_env() == {}
    env = MeshConfig(data_dir=tmp_path, allow_loopback_urls=True).url_env()
    policy = load_settings(EmbedderSettings, [], env).image_limits().addresses
    assert policy.refusal(ipaddress.ip_address("127.0.0.1"), 8080) is None
    assert policy.refusal(ipaddress.ip_address("::1"), 8080) is None
    assert policy.refusal(ipaddress.ip_address("10.0.0.1"), 80) == "private"
    assert policy.refusal(ipaddress.ip_address("169.254.169.254"), 80) == "metadata"


def test_https_checks_sni_and_the_certificate_against_the_urls_host_at_the_checked_address() -> None:
    asked: list[tuple[object, ...]] = []

    class Recording(urllib3.PoolManager):
        def connection_from_host(self, *args: object, **kwargs: object) -> urllib3.HTTPConnectionPool:
            asked.append((*args, kwargs))
            raise LookupError("stop before connecting")

    resolver = lambda host, port: [ipaddress.ip_address("93.184.216.34")]  # noqa: E731
    with pytest.raises(LookupError):
        UrlFetcher(ImageLimits(), Recording(), resolver).fetch("https://images.example.com/a.png", "image.url")
    tls = {"server_hostname": "images.example.com", "assert_hostname": "images.example.com"}
    assert asked == [("93.184.216.34", 443, "https", {"pool_kwargs": tls})]


def test_paths_with_spaces_and_non_ascii_characters_are_sent_encoded() -> None:
    with RecordingServer() as server:
        server.answers["/a%20b/%C3%A9.png?q=1%202"] = (200, {}, b"image bytes")
        fetcher = UrlFetcher(ImageLimits(allowed_networks=(f"127.0.0.1:{server.port}",)))
        assert fetcher.fetch(f"{server.url}/a b/\u00e9.png?q=1 2#part", "image.url") == b"image bytes"
        fetcher.close()
