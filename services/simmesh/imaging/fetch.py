"""Image downloads over HTTP(S): allowed schemes, hosts and addresses, bounded redirects, size and time."""

from __future__ import annotations

import logging
import time
import urllib.parse

import urllib3

from simmesh.imaging.addresses import IPAddress, Resolver, parse_host_address, resolve
from simmesh.imaging.limits import ImageLimits, too_large
from simmesh.kit import reasons
from simmesh.kit.errors import InvalidArgument, ResourceExhausted, SimmeshError, Unavailable

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024
_REDIRECTS = (301, 302, 303, 307, 308)
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Connections open at once to one host (address and port). Fetch threads beyond it wait for one
# to be free: a request of many URLs on one host must not flood it (a small server's accept queue
# overflows, and every connection it drops waits out a one-second SYN retry).
HOST_CONNECTIONS = 4


class UrlFetcher:
    """Downloads an image URL within `limits` (blocking). The pool is thread-safe and reused.

    Each hop (the URL, then every redirect) is checked before anything is sent: scheme and host
    against the lists, then the host is resolved once (`resolver`, `getaddrinfo` by default) and
    refused when ANY of its addresses is not public (`limits.addresses`); the connection then goes
    to a checked address, never through a second lookup, with the URL's host in the `Host` header
    and, for https, in SNI and the certificate check. The download is streamed and cut off at
    `max_bytes` whatever Content-Length says, and must finish within `fetch_timeout`. Errors say
    that the URL was refused or that fetching it failed; they never carry status codes, addresses
    or connection errors of the target.
    """

    def __init__(
        self, limits: ImageLimits, pool: urllib3.PoolManager | None = None, resolver: Resolver | None = None
    ) -> None:
        self.limits = limits
        self._pool = pool or urllib3.PoolManager(maxsize=HOST_CONNECTIONS, block=True, retries=False)
        self._resolve = resolver or resolve

    def close(self) -> None:
        self._pool.clear()

    def _check_url(self, url: str, field: str) -> urllib.parse.SplitResult:
        try:
            parts = urllib.parse.urlsplit(url)
            host = parts.hostname
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as error:
            raise InvalidArgument(
                f"{field} is not a valid URL: {error}", reason=reasons.IMAGE_URL_INVALID, field=field
            ) from None
        if parts.scheme and parts.scheme.lower() not in self.limits.allowed_schemes:
            raise InvalidArgument(
                f"{field}: scheme {parts.scheme!r} is not allowed (allowed: {', '.join(self.limits.allowed_schemes)})",
                reason=reasons.IMAGE_URL_NOT_ALLOWED,
                field=field,
                metadata={"scheme": parts.scheme},
            )
        if not parts.scheme or not host:
            raise InvalidArgument(
                f"{field} must be an absolute URL such as https://host/path, got {_redact(url)!r}",
                reason=reasons.IMAGE_URL_INVALID,
                field=field,
            )
        if not self.limits.host_allowed(host):
            raise InvalidArgument(
                f"{field}: host {host!r} is not in the allowed hosts",
                reason=reasons.IMAGE_URL_NOT_ALLOWED,
                field=field,
                metadata={"host": host},
            )
        return parts

    def _checked_addresses(self, parts: urllib.parse.SplitResult, port: int, url: str, field: str) -> list[IPAddress]:
        """The addresses of the URL's host, all of them allowed (else IMAGE_URL_NOT_ALLOWED)."""
        host = parts.hostname or ""
        literal = parse_host_address(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                addresses = list(self._resolve(host, port))
            except (OSError, UnicodeError):
                addresses = []
            if not addresses:
                raise _fetch_unavailable(url, field, "its host name could not be resolved")
        refused = [(address, kind) for address in addresses if (kind := self.limits.addresses.refusal(address, port))]
        if refused:
            log.warning("image URL refused: %s -> %s", host, ", ".join(f"{a} ({kind})" for a, kind in refused))
            raise InvalidArgument(
                f"{field}: {_redact(url)} is not allowed: it leads to a non-public address",
                reason=reasons.IMAGE_URL_NOT_ALLOWED,
                field=field,
            )
        return addresses

    def fetch(self, url: str, field: str) -> bytes:
        """The body of `url` (`field` names the request field, for errors)."""
        limits = self.limits
        deadline = time.monotonic() + limits.fetch_timeout
        current = url
        for _hop in range(limits.max_redirects + 1):
            parts = self._check_url(current, field)
            port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower(), 80)
            addresses = self._checked_addresses(parts, port, url, field)
            response = self._request(parts, port, addresses, url, field, deadline)
            try:
                location = response.headers.get("Location")
                if response.status in _REDIRECTS and location:
                    response.close()  # the redirect's body is not wanted
                    current = urllib.parse.urljoin(current, location)
                    continue
                if not 200 <= response.status < 300:
                    response.close()
                    raise _fetch_status(url, field, response.status)
                declared = response.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > limits.max_bytes:
                    response.close()
                    raise too_large(int(declared), limits.max_bytes, field)
                return self._read_body(response, url, field, deadline)
            finally:
                response.release_conn()
        raise InvalidArgument(
            f"{field}: more than {limits.max_redirects} redirects fetching {_redact(url)}",
            reason=reasons.IMAGE_FETCH_FAILED,
            field=field,
        )

    def _request(
        self,
        parts: urllib.parse.SplitResult,
        port: int,
        addresses: list[IPAddress],
        url: str,
        field: str,
        deadline: float,
    ) -> urllib3.BaseHTTPResponse:
        """GET the hop at the first checked address that accepts a connection (waiting for one of
        the host's `HOST_CONNECTIONS` until `deadline`)."""
        scheme, host = parts.scheme.lower(), parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        headers = {
            "Host": f"{netloc}:{parts.port}" if parts.port else netloc,
            "Accept": "image/*",
            "User-Agent": "simmesh-embedder",
        }
        target = urllib3.util.parse_url(urllib.parse.urlunsplit(parts)).request_uri  # path and query, %-encoded
        tls = {"server_hostname": host, "assert_hostname": host} if scheme == "https" else None
        timeout = urllib3.Timeout(connect=self.limits.fetch_timeout, read=self.limits.fetch_timeout)
        error: urllib3.exceptions.HTTPError | None = None
        for address in addresses:
            pool = self._pool.connection_from_host(str(address), port, scheme, pool_kwargs=tls)
            try:
                return pool.urlopen(
                    "GET",
                    target,
                    headers=headers,
                    preload_content=False,
                    redirect=False,
                    retries=False,
                    timeout=timeout,
                    pool_timeout=max(0.0, deadline - time.monotonic()),  # type: ignore[arg-type]  # a float works: it is a queue timeout
                    assert_same_host=False,
                )
            except urllib3.exceptions.NewConnectionError as failed:
                error = failed  # the next address may answer
            except urllib3.exceptions.HTTPError as failed:
                raise _fetch_unavailable(url, field, _cause(failed)) from None
        raise _fetch_unavailable(url, field, _cause(error) if error else "no address to connect to")

    def _read_body(self, response: urllib3.BaseHTTPResponse, url: str, field: str, deadline: float) -> bytes:
        body = bytearray()
        try:
            for chunk in response.stream(_CHUNK):
                body += chunk
                if len(body) > self.limits.max_bytes:
                    response.close()  # the rest is never read; the connection is dropped
                    raise ResourceExhausted(
                        f"{field}: download passed the limit of {self.limits.max_bytes} bytes; stopped",
                        reason=reasons.IMAGE_TOO_LARGE,
                        field=field,
                        metadata={"limit_bytes": self.limits.max_bytes},
                    )
                if time.monotonic() > deadline:
                    response.close()
                    raise _fetch_unavailable(url, field, f"download not finished within {self.limits.fetch_timeout}s")
        except urllib3.exceptions.HTTPError as error:
            raise _fetch_unavailable(url, field, _cause(error)) from None
        return bytes(body)


def _redact(url: str) -> str:
    """`url` without credentials, query or fragment (they may hold secrets)."""
    try:
        parts = urllib.parse.urlsplit(url)
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
    except ValueError:
        return "<invalid URL>"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _cause(error: Exception) -> str:
    """What went wrong, in words that carry no address, port or system error of the target."""
    waited = urllib3.exceptions.TimeoutError | urllib3.exceptions.EmptyPoolError  # no free connection in time
    if isinstance(error, waited) or "timed out" in str(error).lower():
        return "timed out"
    if isinstance(error, urllib3.exceptions.SSLError):
        return "the TLS handshake or certificate check failed"
    if isinstance(error, urllib3.exceptions.NewConnectionError):
        return "could not connect"
    return "the connection failed"


def _fetch_unavailable(url: str, field: str, why: str) -> Unavailable:
    return Unavailable(
        f"{field}: fetching {_redact(url)} failed: {why}", reason=reasons.IMAGE_FETCH_FAILED, field=field
    )


def _fetch_status(url: str, field: str, status: int) -> SimmeshError:
    if status < 500 and status != 429:
        return InvalidArgument(
            f"{field}: fetching {_redact(url)} failed: the server did not return an image for it",
            reason=reasons.IMAGE_FETCH_FAILED,
            field=field,
        )
    return Unavailable(
        f"{field}: fetching {_redact(url)} failed: the server could not serve it now",
        reason=reasons.IMAGE_FETCH_FAILED,
        field=field,
    )
