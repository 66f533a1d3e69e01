"""Image downloads over HTTP(S): allow-listed schemes and hosts, bounded redirects, size and time."""

from __future__ import annotations

import time
import urllib.parse

import urllib3

from simmesh.imaging.limits import ImageLimits, too_large
from simmesh.kit import reasons
from simmesh.kit.errors import InvalidArgument, ResourceExhausted, SimmeshError, Unavailable

_CHUNK = 64 * 1024
_REDIRECTS = (301, 302, 303, 307, 308)


class UrlFetcher:
    """Downloads an image URL within `limits` (blocking). The pool is thread-safe and reused.

    Every hop of a redirect is checked against the allow-lists; the download is streamed and cut
    off at `max_bytes` whatever Content-Length says, and must finish within `fetch_timeout`.
    """

    def __init__(self, limits: ImageLimits, pool: urllib3.PoolManager | None = None) -> None:
        self.limits = limits
        self._pool = pool or urllib3.PoolManager(maxsize=8, retries=False)

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

    def fetch(self, url: str, field: str) -> bytes:
        """The body of `url` (`field` names the request field, for errors)."""
        limits = self.limits
        deadline = time.monotonic() + limits.fetch_timeout
        timeout = urllib3.Timeout(connect=limits.fetch_timeout, read=limits.fetch_timeout)
        current = url
        for _hop in range(limits.max_redirects + 1):
            self._check_url(current, field)
            try:
                response = self._pool.request(
                    "GET",
                    current,
                    preload_content=False,
                    redirect=False,
                    retries=False,
                    timeout=timeout,
                    headers={"Accept": "image/*", "User-Agent": "simmesh-embedder"},
                )
            except urllib3.exceptions.HTTPError as error:
                raise _fetch_unavailable(current, field, _cause(error)) from None
            try:
                location = response.headers.get("Location")
                if response.status in _REDIRECTS and location:
                    response.close()  # the redirect's body is not wanted
                    current = urllib.parse.urljoin(current, location)
                    continue
                if not 200 <= response.status < 300:
                    response.close()
                    raise _fetch_status(current, field, response.status)
                declared = response.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > limits.max_bytes:
                    response.close()
                    raise too_large(int(declared), limits.max_bytes, field)
                return self._read_body(response, current, field, deadline)
            finally:
                response.release_conn()
        raise InvalidArgument(
            f"{field}: more than {limits.max_redirects} redirects fetching {_redact(url)}",
            reason=reasons.IMAGE_FETCH_FAILED,
            field=field,
        )

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
    reason = getattr(error, "reason", None)
    return str(reason or error)


def _fetch_unavailable(url: str, field: str, why: str) -> Unavailable:
    return Unavailable(
        f"{field}: fetching {_redact(url)} failed: {why}", reason=reasons.IMAGE_FETCH_FAILED, field=field
    )


def _fetch_status(url: str, field: str, status: int) -> SimmeshError:
    message = f"{field}: fetching {_redact(url)} failed: HTTP {status}"
    if status < 500 and status != 429:
        return InvalidArgument(
            message, reason=reasons.IMAGE_FETCH_FAILED, field=field, metadata={"http_status": status}
        )
    return Unavailable(message, reason=reasons.IMAGE_FETCH_FAILED, field=field, metadata={"http_status": status})
