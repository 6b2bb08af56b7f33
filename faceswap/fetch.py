"""Guarded image downloads: every connection goes only to an address that passed ``urlguard``.

The guard sits where sockets are opened. ``GuardedNetworkBackend`` is an httpcore network backend
whose ``connect_tcp`` resolves the host once, refuses unless every address is public (or the host is
allow-listed, or private URLs are allowed), and connects to those very addresses, so the check and
the connection cannot see different DNS answers. httpcore still sends the URL's name as the Host
header and the TLS server name. Redirects are followed here, each hop checked again; proxy variables
are ignored; bytes are counted while they stream in; one deadline covers the whole download.

Errors::

    SwapError
      ├─ URL_NOT_ALLOWED   the policy refused a URL, a redirect or a resolved address
      ├─ FETCH_FAILED      unknown host, refused connection, broken transfer, non-2xx status
      ├─ FETCH_TIMEOUT     the download did not finish in time
      ├─ IMAGE_TOO_LARGE   more bytes than max_download_bytes (declared or counted)
      └─ INVALID_IMAGE     the first bytes are not JPEG, PNG, WebP or GIF
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import socket
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Collection, Iterable, Iterator
from ipaddress import ip_address
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self, cast

import httpcore
import httpx

from faceswap.config import Settings
from faceswap.errors import BlockedAddressError, ErrorCode, SwapError, image_label, image_too_large
from faceswap.pipeline.decode import looks_like_image
from faceswap.urlguard import (
    IPAddress,
    ParsedTarget,
    check_url,
    connect_address,
    is_allowlisted,
    is_public_address,
    parse_address_host,
)

if TYPE_CHECKING:
    from faceswap.runtime.failpoints import Failpoints

__all__ = [
    "GuardedNetworkBackend",
    "GuardedTransport",
    "ImageFetcher",
    "Resolver",
    "system_resolver",
]

logger = logging.getLogger(__name__)

Resolver = Callable[[str], Awaitable[list[str]]]

_UPLOAD_CHUNK = 1024 * 1024
_SNIFF_BYTES = 12  # enough for every signature looks_like_image knows (WebP's is the longest)
_HEADERS = {"Accept": "image/jpeg, image/png, image/webp, image/gif", "Accept-Encoding": "identity"}


class _ResolutionError(httpcore.ConnectError):
    """A host name could not be resolved."""


async def system_resolver(host: str) -> list[str]:
    """The host's addresses from the operating system's resolver (getaddrinfo), without duplicates."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """An httpcore backend that resolves once, checks every address, and connects to those addresses."""

    def __init__(
        self,
        *,
        resolver: Resolver = system_resolver,
        allowlist: Collection[str] = (),
        allow_private: bool = False,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._resolver = resolver
        self._allowlist = tuple(allowlist)
        self._allow_private = allow_private
        self._inner = inner if inner is not None else httpcore.AnyIOBackend()

    async def _resolve(self, host: str, timeout: float | None) -> list[IPAddress]:
        """The host's addresses: its literal address, or the resolver's answer, read once."""
        try:
            literal = parse_address_host(host)
        except ValueError as exc:
            raise BlockedAddressError("the host is a malformed address") from exc
        if literal is not None:
            return [literal]
        try:
            async with asyncio.timeout(timeout):
                answers = await self._resolver(host)
            addresses = [ip_address(answer) for answer in answers]
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout("name resolution timed out") from exc
        except (OSError, ValueError) as exc:
            raise _ResolutionError("name resolution failed") from exc
        if not addresses:
            raise _ResolutionError("name resolution returned no address")
        return addresses

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Connect to the first reachable checked address of the host."""
        addresses = await self._resolve(host, timeout)
        widened = self._allow_private or is_allowlisted(host, port, self._allowlist)
        if not widened and not all(is_public_address(address) for address in addresses):
            raise BlockedAddressError("the host resolves to a non-public address")
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(connect_address(address)),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                failure = exc
        raise httpcore.ConnectError("no address of the host accepted the connection") from failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Refuse: image downloads never use local sockets."""
        raise BlockedAddressError("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        """Sleep the way the wrapped backend sleeps."""
        await self._inner.sleep(seconds)


class _ResponseBody(httpx.AsyncByteStream):
    """An httpcore response body handed to httpx as it is."""

    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._stream:
            yield part

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            await close()


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport over an httpcore pool that opens connections through a given backend."""

    def __init__(
        self, network: httpcore.AsyncNetworkBackend, *, ssl_context: ssl.SSLContext, max_connections: int = 16
    ) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context, max_connections=max_connections, retries=0, network_backend=network
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request; httpcore errors are left for the caller to map."""
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=cast(AsyncIterable[bytes], request.stream),
            extensions=request.extensions,
        )
        core_response = await self._pool.handle_async_request(core_request)
        return httpx.Response(
            status_code=core_response.status,
            headers=core_response.headers,
            stream=_ResponseBody(cast(AsyncIterable[bytes], core_response.stream)),
            extensions=core_response.extensions,
        )

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._pool.aclose()


def _require_image(head: bytes, role: str) -> None:
    """Refuse a body whose first bytes are not an accepted image format."""
    if looks_like_image(head) is None:
        raise SwapError(
            ErrorCode.INVALID_IMAGE,
            f"The {image_label(role)} URL did not return a JPEG, PNG, WebP or GIF image.",
        )


def _require_success(response: httpx.Response, role: str) -> None:
    """Refuse a response whose status is not 2xx."""
    if not response.is_success:
        raise SwapError(
            ErrorCode.FETCH_FAILED, f"The {image_label(role)} URL answered HTTP {response.status_code}."
        )


def _declared_length(response: httpx.Response) -> int | None:
    """The Content-Length the response declares, if it is a number."""
    value = response.headers.get("content-length", "")
    return int(value) if value.isdigit() else None


async def _read_body(
    response: httpx.Response, limit: int, role: str, require: Callable[[bytes, str], None] = _require_image
) -> bytes:
    """The body, counted while it streams, stopped at the first byte over the limit or a non-image start.

    It is held once: a BytesIO grows in place and hands over its buffer (a bytearray would be copied).
    """
    declared = _declared_length(response)
    if declared is not None and declared > limit:
        raise image_too_large(image_label(role), limit)
    body = io.BytesIO()
    head = b""
    async for chunk in response.aiter_raw():
        if body.tell() + len(chunk) > limit:
            raise image_too_large(image_label(role), limit)
        body.write(chunk)
        if len(head) < _SNIFF_BYTES:
            head += chunk[: _SNIFF_BYTES - len(head)]
            if len(head) >= _SNIFF_BYTES:
                require(head, role)
    require(head, role)
    return body.getvalue()


@contextlib.contextmanager
def _mapped_transport_errors(role: str) -> Iterator[None]:
    """Turn the transport's errors into SwapErrors that say which image and nothing internal."""
    try:
        yield
    except BlockedAddressError as exc:
        raise SwapError(
            ErrorCode.URL_NOT_ALLOWED,
            f"The {image_label(role)} URL leads to a private or reserved network address.",
        ) from exc
    except _ResolutionError as exc:
        raise SwapError(
            ErrorCode.FETCH_FAILED, f"The {image_label(role)} URL's host name could not be found."
        ) from exc
    except httpx.InvalidURL as exc:  # a redirect whose Location is no URL ("data:...", a backslashed host)
        raise SwapError(
            ErrorCode.URL_NOT_ALLOWED, f"The {image_label(role)} URL redirected to an invalid address."
        ) from exc
    except UnicodeError as exc:  # a host name the IDNA codec refuses, met while connecting
        raise SwapError(
            ErrorCode.FETCH_FAILED, f"The {image_label(role)} URL's host name could not be found."
        ) from exc
    except (httpcore.TimeoutException, httpx.TimeoutException) as exc:
        raise SwapError(
            ErrorCode.FETCH_TIMEOUT, f"The {image_label(role)} host did not answer in time."
        ) from exc
    except (httpcore.ConnectError, httpx.ConnectError) as exc:
        raise SwapError(
            ErrorCode.FETCH_FAILED, f"The {image_label(role)} host could not be reached."
        ) from exc
    except (
        httpcore.NetworkError,
        httpcore.ProtocolError,
        httpcore.UnsupportedProtocol,
        httpcore.ConnectionNotAvailable,
        httpx.HTTPError,
        httpx.StreamError,
    ) as exc:
        raise SwapError(
            ErrorCode.FETCH_FAILED,
            f"The {image_label(role)} download broke off; try again or use another URL.",
        ) from exc


def _first_error(group: BaseExceptionGroup) -> BaseException:
    """The first failure in a (possibly nested) exception group."""
    first = group.exceptions[0]
    return _first_error(first) if isinstance(first, BaseExceptionGroup) else first


class ImageFetcher:
    """Downloads images under the URL policy; create one per process and close it with ``aclose``."""

    def __init__(
        self,
        settings: Settings,
        *,
        resolver: Resolver = system_resolver,
        ssl_context: ssl.SSLContext | None = None,
        network: httpcore.AsyncNetworkBackend | None = None,
        failpoints: Failpoints | None = None,
    ) -> None:
        self._settings = settings
        self._failpoints = failpoints
        backend = GuardedNetworkBackend(
            resolver=resolver,
            allowlist=settings.url_allowlist,
            allow_private=settings.allow_private_urls,
            inner=network,
        )
        context = ssl_context if ssl_context is not None else httpx.create_ssl_context(trust_env=False)
        self._client = httpx.AsyncClient(
            transport=GuardedTransport(backend, ssl_context=context),
            trust_env=False,
            follow_redirects=False,
            headers=_HEADERS,
            timeout=httpx.Timeout(settings.fetch_timeout, connect=settings.fetch_connect_timeout),
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._client.aclose()

    def _check(self, url: str, role: str) -> ParsedTarget:
        """The URL checked against the policy, or URL_NOT_ALLOWED naming the image."""
        return check_url(
            url,
            allowlist=self._settings.url_allowlist,
            allow_private=self._settings.allow_private_urls,
            label=image_label(role),
        )

    def _redirect_target(self, response: httpx.Response, role: str) -> ParsedTarget:
        """Where a redirect leads, checked like the first URL."""
        try:
            location = str(response.url.join(response.headers["location"]))
        except (httpx.InvalidURL, ValueError) as exc:
            raise SwapError(
                ErrorCode.URL_NOT_ALLOWED, f"The {image_label(role)} URL redirected to an invalid address."
            ) from exc
        return self._check(location, role)

    async def _download(
        self,
        url: str,
        role: str,
        limit: int | None = None,
        require: Callable[[bytes, str], None] | None = None,
    ) -> bytes:
        """Follow at most max_redirects checked redirects and read the image body."""
        target = self._check(url, role)
        limit = limit or self._settings.max_download_bytes
        for hop in range(self._settings.max_redirects + 1):
            async with self._client.stream("GET", target.url) as response:
                if response.has_redirect_location:
                    target = self._redirect_target(response, role)
                    continue
                _require_success(response, role)
                body = await _read_body(response, limit, role, require or _require_image)
                logger.debug("fetched the %s image: %d bytes after %d redirects", role, len(body), hop)
                return body
        raise SwapError(
            ErrorCode.URL_NOT_ALLOWED,
            f"The {image_label(role)} URL redirected more than {self._settings.max_redirects} times.",
        )

    async def _download_in_time(self, url: str, role: str) -> bytes:
        """The download under one deadline that covers resolution, redirects and the body."""
        deadline = self._settings.fetch_timeout
        try:
            async with asyncio.timeout(deadline):
                with _mapped_transport_errors(role):
                    if self._failpoints is not None and self._failpoints.hit("fetch_reset"):
                        raise httpcore.ReadError("connection reset by the fetch_reset failpoint")
                    return await self._download(url, role)
        except TimeoutError as exc:
            raise SwapError(
                ErrorCode.FETCH_TIMEOUT,
                f"The {image_label(role)} download did not finish within {deadline:g} seconds.",
            ) from exc

    async def fetch(self, url: str, role: str) -> bytes:
        """The bytes of one image; ``role`` ("source" or "target") names it in error messages."""
        try:
            return await self._download_in_time(url, role)
        except SwapError as exc:
            logger.info("the %s image download failed: %s", role, exc.code.value)
            raise

    async def fetch_all(self, urls: dict[str, str]) -> dict[str, bytes]:
        """Several images at once, keyed by role; the first failure cancels the rest and is raised."""
        failure: BaseException | None = None
        try:
            async with asyncio.TaskGroup() as group:
                tasks = {role: group.create_task(self.fetch(url, role)) for role, url in urls.items()}
        except BaseExceptionGroup as failed:
            failure = _first_error(failed)
        if failure is not None:
            raise failure
        return {role: task.result() for role, task in tasks.items()}

    async def fetch_media(
        self, url: str, role: str, *, limit: int, require: Callable[[bytes, str], None], deadline: float
    ) -> bytes:
        """The bytes of one file up to `limit` whose first bytes `require` accepts (a video, for jobs),
        with `deadline` seconds for the whole download."""
        try:
            async with asyncio.timeout(deadline):
                with _mapped_transport_errors(role):
                    return await self._download(url, role, limit, require)
        except TimeoutError as exc:
            raise SwapError(
                ErrorCode.FETCH_TIMEOUT, f"The {role} download did not finish within {deadline:g} seconds."
            ) from exc

    async def put_file(self, url: str, path: Path, media_type: str, *, deadline: float) -> None:
        """Upload a file by HTTP PUT (a presigned bucket URL) under the same URL policy, no redirects."""
        target = check_url(
            url,
            allowlist=self._settings.url_allowlist,
            allow_private=self._settings.allow_private_urls,
            label="output",
        )
        size = path.stat().st_size

        async def chunks() -> AsyncIterator[bytes]:
            with path.open("rb") as handle:
                while chunk := handle.read(_UPLOAD_CHUNK):
                    yield chunk

        headers = {"Content-Type": media_type, "Content-Length": str(size)}
        try:
            async with asyncio.timeout(deadline):
                with _mapped_transport_errors("output"):
                    async with self._client.stream(
                        "PUT", target.url, content=chunks(), headers=headers
                    ) as reply:
                        status = reply.status_code  # the reply's body is never read: it may be endless
        except TimeoutError as exc:
            raise SwapError(
                ErrorCode.FETCH_TIMEOUT,
                f"The upload to output_url did not finish within {deadline:g} seconds.",
            ) from exc
        if not 200 <= status < 300:
            raise SwapError(ErrorCode.FETCH_FAILED, f"output_url answered HTTP {status} to the upload.")
        logger.info("uploaded the result: %d bytes", size)
