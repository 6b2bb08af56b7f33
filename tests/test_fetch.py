"""Guarded downloads over real HTTP on 127.0.0.1: forgery refused with no hit inside, limits, errors.

Every connection the fetcher opens goes through ``LoopbackOnly``, which refuses (without opening a
socket) any address off 127.0.0.0/8, so a failing guard can never send traffic elsewhere.
"""

from __future__ import annotations

import asyncio
import datetime
import io
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpcore
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image

from faceswap import fetch
from faceswap.config import Settings
from faceswap.errors import BlockedAddressError, ErrorCode, SwapError
from faceswap.fetch import GuardedNetworkBackend, GuardedTransport, ImageFetcher, Resolver, system_resolver
from faceswap.runtime.failpoints import Failpoints
from tests.receivers import Answer, Receiver
from tests.servers import LoopbackOnly

KiB = 1024
CAP = 64 * KiB
HUGE = 256 * 1024 * KiB
CHUNK = bytes(64 * KiB)


def make_png() -> bytes:
    """A small valid PNG."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


PNG = make_png()


@dataclass
class Stream:
    """What a streaming route managed to send before the client went away."""

    sent: int = 0
    completed: bool = False
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class Hit:
    """One request a server received."""

    path: str
    host: str


class Recorder(ThreadingHTTPServer):
    """A threaded HTTP server on 127.0.0.1 that records every request and every streamed body."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.hits: list[Hit] = []
        self.streams: dict[str, Stream] = {}
        self.seen: dict[str, threading.Event] = {}
        self.server_names: list[str | None] = []
        self.lock = threading.Lock()

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.server_address[1])

    def event(self, key: str) -> threading.Event:
        """The event set when a request carrying ``key=<key>`` arrives."""
        with self.lock:
            return self.seen.setdefault(key, threading.Event())

    def stream(self, path: str) -> Stream:
        """The record of the streaming response on one path."""
        with self.lock:
            return self.streams.setdefault(path, Stream())


class Handler(BaseHTTPRequestHandler):
    """The routes the tests use; anything unknown is the internal service's secret page."""

    protocol_version = "HTTP/1.1"
    server: Recorder

    def log_message(self, *args: object) -> None:
        """Stay quiet."""

    def do_GET(self) -> None:
        """Record the hit, then answer by path."""
        self.server.hits.append(Hit(self.path, self.headers.get("Host", "")))
        parts = urlsplit(self.path)
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        if "key" in query:
            self.server.event(query["key"]).set()
        route = getattr(self, "route_" + parts.path.strip("/").replace("-", "_").replace(".", "_"), None)
        if route is None:
            self.answer(200, b"internal secret", "text/plain")
        else:
            route(query)

    def answer(self, status: int, body: bytes, content_type: str = "image/png", **headers: str) -> None:
        """A complete response with a Content-Length."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def route_image_png(self, query: dict[str, str]) -> None:
        self.answer(200, PNG)

    def route_redirect(self, query: dict[str, str]) -> None:
        self.answer(302, b"", "text/plain", Location=query["to"])

    def route_hops(self, query: dict[str, str]) -> None:
        left = int(query["n"])
        if left:
            self.answer(302, b"", "text/plain", Location=f"/hops?n={left - 1}")
        else:
            self.answer(200, PNG)

    def route_not_found(self, query: dict[str, str]) -> None:
        self.answer(404, b"no such image", "text/plain")

    def route_broken(self, query: dict[str, str]) -> None:
        self.answer(500, b"oops", "text/plain")

    def route_html(self, query: dict[str, str]) -> None:
        self.answer(200, b"<!doctype html><html><body>not an image</body></html>", "image/png")

    def route_wait_for(self, query: dict[str, str]) -> None:
        if not self.server.event(query["other"]).wait(10):
            self.answer(500, b"the other request never came", "text/plain")
        elif "status" in query:
            self.answer(int(query["status"]), b"as asked", "text/plain")
        else:
            self.answer(200, PNG)

    def route_declared_huge(self, query: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(HUGE))
        self.end_headers()
        self.pour(plain_chunks())

    def route_chunked_huge(self, query: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.pour(b"%x\r\n%b\r\n" % (len(chunk), chunk) for chunk in plain_chunks())

    def route_until_close(self, query: dict[str, str]) -> None:
        self.close_connection = True
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        self.pour(plain_chunks())

    def route_understated(self, query: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(2 * KiB))
        self.end_headers()
        self.pour(plain_chunks())

    def route_trickle(self, query: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(sum(map(len, trickle()))))
        self.end_headers()
        self.pour(trickle(), pause=0.05)

    def route_stall(self, query: dict[str, str]) -> None:
        stream = self.server.stream(self.path)
        self.connection.settimeout(60)
        try:
            stream.completed = self.connection.recv(1) != b""
        except OSError:
            stream.completed = False
        finally:
            stream.done.set()

    def pour(self, chunks: Iterable[bytes], pause: float = 0.0) -> None:
        """Write chunks until they run out or the client goes away, recording how far it got."""
        stream = self.server.stream(self.path)
        try:
            for chunk in chunks:
                self.wfile.write(chunk)
                stream.sent += len(chunk)
                if pause:
                    threading.Event().wait(pause)
            stream.completed = True
        except OSError:
            self.close_connection = True
        finally:
            stream.done.set()


def plain_chunks() -> Iterator[bytes]:
    """A PNG signature followed by zeros, HUGE bytes in all."""
    yield PNG[:16]
    for _ in range(HUGE // len(CHUNK)):
        yield CHUNK


def trickle() -> Iterator[bytes]:
    """A PNG signature, then one byte at a time for as long as anyone listens."""
    yield PNG[:16]
    for _ in range(600):
        yield b"\x00"


def issue_certificate(directory: Path) -> tuple[Path, str]:
    """A server certificate for images.test (chain file with key) and the PEM of the CA that signed it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "faceswap test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "images.test")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("images.test")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    chain = directory / "images.test.pem"
    chain.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return chain, ca_cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def serve(server: Recorder) -> Iterator[Recorder]:
    """Run a server on a thread for the duration of a fixture."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def good() -> Iterator[Recorder]:
    """The image host tests may reach: as images.test (allow-listed) or with private URLs allowed."""
    yield from serve(Recorder())


@pytest.fixture(scope="module")
def internal() -> Iterator[Recorder]:
    """A service inside the network that no refused URL may ever reach."""
    yield from serve(Recorder())


@dataclass
class TlsHost:
    """An HTTPS image host for images.test and a client context that trusts it."""

    server: Recorder
    client_context: ssl.SSLContext


@pytest.fixture(scope="module")
def tls_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsHost]:
    """The image host over TLS, recording the server name each handshake asked for."""
    chain, ca_pem = issue_certificate(tmp_path_factory.mktemp("tls"))
    server = Recorder()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain)
    context.sni_callback = lambda _socket, name, _context: server.server_names.append(name)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    for running in serve(server):
        yield TlsHost(running, ssl.create_default_context(cadata=ca_pem))


@pytest.fixture(autouse=True)
def fresh_records(good: Recorder, internal: Recorder) -> None:
    """Each test starts with no recorded hits."""
    for server in (good, internal):
        server.hits.clear()


class ScriptedStream(httpcore.AsyncNetworkStream):
    """A connection that answers with scripted bytes or errors and records what was written."""

    def __init__(self, parts: list[bytes | Exception], written: bytearray) -> None:
        self.parts = list(parts)
        self.written = written

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if not self.parts:
            return b""
        part = self.parts.pop(0)
        if isinstance(part, Exception):
            raise part
        return part

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.written += buffer

    async def aclose(self) -> None:
        self.parts = []


class Scripted(httpcore.AsyncNetworkBackend):
    """No network at all: records which address each connection was opened to and replays a script."""

    def __init__(
        self, parts: list[bytes | Exception], *, refuse: Iterable[str] = (), error: Exception | None = None
    ) -> None:
        self.parts = parts
        self.refuse = set(refuse)
        self.error = error
        self.connected: list[str] = []
        self.written = bytearray()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connected.append(host)
        if self.error is not None:
            raise self.error
        if host in self.refuse:
            raise httpcore.ConnectError("connection refused")
        return ScriptedStream(self.parts, self.written)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


PNG_REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%b" % (len(PNG), PNG)

NAMES: dict[str, list[str]] = {
    "images.test": ["127.0.0.1"],
    "internal.test": ["127.0.0.1"],
    "localhost": ["127.0.0.1", "::1"],
    "127.0.0.1.nip.io": ["127.0.0.1"],
    "rebind.test": ["8.8.8.8", "127.0.0.1"],
    "metadata.test": ["169.254.169.254"],
    "cgnat.test": ["100.64.0.1"],
    "ula.test": ["fd00::1"],
    "multicast.test": ["224.0.0.251"],
    "zero.test": ["0.0.0.0"],
    "public.test": ["8.8.8.8"],
    "two.test": ["8.8.4.4", "8.8.8.8"],
    "mapped.test": ["::ffff:8.8.8.8"],
    "garbage.test": ["not an address"],
}


def resolver_of(names: dict[str, list[str]], calls: list[str] | None = None) -> Resolver:
    """A resolver that knows only the given names (no DNS traffic), recording each question."""

    async def resolve(host: str) -> list[str]:
        if calls is not None:
            calls.append(host)
        if host in names:
            return list(names[host])
        raise socket.gaierror(socket.EAI_NONAME, "unknown test name")

    return resolve


def settings(**overrides: Any) -> Settings:
    """Test settings: images.test allow-listed, a 64 KiB cap, small timeouts."""
    values: dict[str, Any] = {
        "url_allowlist": ("images.test",),
        "max_download_bytes": CAP,
        "max_redirects": 3,
        "fetch_timeout": 10.0,
        "fetch_connect_timeout": 2.0,
    }
    values.update(overrides)
    return Settings(**values)


def download(
    url: str,
    *,
    config: Settings | None = None,
    network: httpcore.AsyncNetworkBackend | None = None,
    resolver: Resolver | None = None,
    role: str = "source",
    ssl_context: ssl.SSLContext | None = None,
) -> bytes:
    """One fetch through a fresh ImageFetcher."""

    async def run() -> bytes:
        async with ImageFetcher(
            config or settings(),
            resolver=resolver or resolver_of(NAMES),
            network=network or LoopbackOnly(),
            ssl_context=ssl_context,
        ) as fetcher:
            return await fetcher.fetch(url, role)

    return asyncio.run(run())


def failure(url: str, **kwargs: Any) -> SwapError:
    """The SwapError one fetch raises."""
    with pytest.raises(SwapError) as caught:
        download(url, **kwargs)
    return caught.value


def free_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


REDIRECT = "redirect:"
FORGERIES = [
    "http://127.0.0.1:{I}/",
    "http://2130706433:{I}/",
    "http://0x7f000001:{I}/",
    "http://0177.0.0.1:{I}/",
    "http://127.1:{I}/",
    "http://0.0.0.0:{I}/",
    "http://0:{I}/",
    "http://[::1]:{I}/",
    "http://[::ffff:127.0.0.1]:{I}/",
    "http://[::ffff:7f00:1]:{I}/",
    "http://[0:0:0:0:0:ffff:127.0.0.1]:{I}/",
    "http://[fe80::1%25eth0]:{I}/",
    "http://localhost:{I}/",
    "http://internal.test:{I}/",
    "http://127.0.0.1.nip.io:{I}/",
    "http://rebind.test:{I}/",
    "http://zero.test:{I}/",
    "http://169.254.169.254/latest/meta-data/",
    "http://metadata.test/latest/meta-data/",
    "http://100.64.0.1/",
    "http://cgnat.test/",
    "http://[fd00::1]/",
    "http://ula.test/",
    "http://224.0.0.251/",
    "http://multicast.test/",
    REDIRECT + "http://127.0.0.1:{I}/",
    REDIRECT + "http://[::1]:{I}/",
    REDIRECT + "http://internal.test:{I}/",
    REDIRECT + "http://2130706433:{I}/",
    REDIRECT + "//127.0.0.1:{I}/",
    REDIRECT + "file:///etc/passwd",
    REDIRECT + "gopher://127.0.0.1:{I}/_GET",
    "http://images.test:{G}/hops?n=50",
    "http://images.test@127.0.0.1:{I}/",
    "http://127.0.0.1:{I}#@images.test/",
    "http://images.test\\@127.0.0.1:{I}/",
    "http://user:secret@images.test:{G}/image.png",
    "file:///etc/passwd",
    "ftp://127.0.0.1:{I}/",
    "gopher://127.0.0.1:{I}/_GET",
    "dict://127.0.0.1:{I}/info",
    "data:image/png;base64,iVBORw0KGgo=",
    "javascript:alert(1)",
    "http:///image.png",
    "http://images.test:{G}/" + "a" * 5000,
]


def build(template: str, good_port: int, internal_port: int) -> str:
    """A table entry as a URL; redirect entries go through the allow-listed host's /redirect."""
    target = template.removeprefix(REDIRECT).replace("{I}", str(internal_port)).replace("{G}", str(good_port))
    if template.startswith(REDIRECT):
        return f"http://images.test:{good_port}/redirect?to={quote(target, safe='')}"
    return target


def test_public_names_are_pinned() -> None:
    assert fetch.__all__ == [
        "GuardedNetworkBackend",
        "GuardedTransport",
        "ImageFetcher",
        "Resolver",
        "system_resolver",
    ]


@pytest.mark.parametrize("template", FORGERIES)
def test_forgery_is_refused_and_nothing_inside_is_hit(
    template: str, good: Recorder, internal: Recorder
) -> None:
    network = LoopbackOnly()
    error = failure(build(template, good.port, internal.port), network=network)
    assert error.code is ErrorCode.URL_NOT_ALLOWED
    assert error.message.startswith("The source image URL ")
    assert internal.hits == []
    assert network.refused == []
    assert "127.0.0.1" not in error.message
    assert str(internal.port) not in error.message


def test_internal_listener_records_what_reaches_it(internal: Recorder) -> None:
    error = failure(f"http://127.0.0.1:{internal.port}/", config=settings(allow_private_urls=True))
    assert error.code is ErrorCode.INVALID_IMAGE
    assert [hit.path for hit in internal.hits] == ["/"]


def test_good_png_is_fetched_with_private_urls_allowed(good: Recorder) -> None:
    body = download(f"http://127.0.0.1:{good.port}/image.png", config=settings(allow_private_urls=True))
    assert body == PNG


def test_allowlisted_name_keeps_its_host_header_and_connects_to_the_resolved_address(good: Recorder) -> None:
    network = LoopbackOnly()
    assert download(f"http://images.test:{good.port}/image.png", network=network) == PNG
    assert network.opened == [("127.0.0.1", good.port)]
    assert [hit.host for hit in good.hits] == [f"images.test:{good.port}"]


def test_an_allowlist_entry_with_a_port_opens_that_port_of_a_private_host_alone(good: Recorder) -> None:
    config = settings(url_allowlist=(f"images.test:{good.port}",))
    assert download(f"http://images.test:{good.port}/image.png", config=config) == PNG
    other = settings(url_allowlist=(f"images.test:{good.port + 1}",))
    error = failure(f"http://images.test:{good.port}/image.png", config=other)
    assert error.code is ErrorCode.URL_NOT_ALLOWED
    assert len(good.hits) == 1


def test_redirect_within_the_policy_is_followed(good: Recorder) -> None:
    assert download(f"http://images.test:{good.port}/redirect?to=%2Fimage.png") == PNG
    assert [hit.path for hit in good.hits] == ["/redirect?to=%2Fimage.png", "/image.png"]


def test_redirects_up_to_the_limit_are_followed(good: Recorder) -> None:
    assert download(f"http://images.test:{good.port}/hops?n=3") == PNG


def test_one_redirect_over_the_limit_is_refused(good: Recorder) -> None:
    error = failure(f"http://images.test:{good.port}/hops?n=4")
    assert error.code is ErrorCode.URL_NOT_ALLOWED
    assert error.message == "The source image URL redirected more than 3 times."


@pytest.mark.parametrize("route", ["declared-huge", "chunked-huge", "until-close"])
def test_body_over_the_cap_is_refused_and_the_download_stops_early(route: str, good: Recorder) -> None:
    path = f"/{route}?id=cap"
    error = failure(f"http://images.test:{good.port}{path}", role="target")
    assert error.code is ErrorCode.IMAGE_TOO_LARGE
    assert error.message == "The target image is larger than 64 KiB."
    stream = good.stream(path)
    assert stream.done.wait(60)
    assert not stream.completed
    assert stream.sent < HUGE


def test_declared_length_over_the_cap_is_refused_before_reading_the_body() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % HUGE
    network = Scripted([head, httpcore.ReadError("the body was read")])
    assert failure("http://public.test/x.png", network=network).code is ErrorCode.IMAGE_TOO_LARGE


def test_understated_length_never_yields_more_than_it_declared(good: Recorder) -> None:
    body = download(f"http://images.test:{good.port}/understated?id=short")
    assert len(body) == 2 * KiB
    assert body.startswith(PNG[:16])


def test_slow_server_is_a_fetch_timeout(good: Recorder) -> None:
    error = failure(f"http://images.test:{good.port}/trickle?id=slow", config=settings(fetch_timeout=0.5))
    assert error.code is ErrorCode.FETCH_TIMEOUT
    assert error.message == "The source image download did not finish within 0.5 seconds."


def test_silent_server_is_a_fetch_timeout(good: Recorder) -> None:
    error = failure(f"http://images.test:{good.port}/stall?id=silent", config=settings(fetch_timeout=0.5))
    assert error.code is ErrorCode.FETCH_TIMEOUT


@pytest.mark.parametrize(("route", "status"), [("not-found", 404), ("broken", 500)])
def test_error_status_is_fetch_failed_with_the_status(route: str, status: int, good: Recorder) -> None:
    error = failure(f"http://images.test:{good.port}/{route}", role="target")
    assert error.code is ErrorCode.FETCH_FAILED
    assert error.message == f"The target image URL answered HTTP {status}."


def test_refused_port_is_fetch_failed() -> None:
    error = failure(f"http://images.test:{free_port()}/image.png")
    assert error.code is ErrorCode.FETCH_FAILED
    assert error.message == "The source image host could not be reached."


def test_unknown_host_name_is_fetch_failed() -> None:
    error = failure("http://unknown.test/image.png")
    assert error.code is ErrorCode.FETCH_FAILED
    assert error.message == "The source image URL's host name could not be found."


def test_html_served_as_png_is_invalid_image(good: Recorder) -> None:
    error = failure(f"http://images.test:{good.port}/html")
    assert error.code is ErrorCode.INVALID_IMAGE


def test_proxy_variables_are_ignored(
    good: Recorder, internal: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = f"http://127.0.0.1:{internal.port}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, proxy)
    assert download(f"http://images.test:{good.port}/image.png") == PNG
    assert internal.hits == []


def test_fetch_all_downloads_concurrently(good: Recorder) -> None:
    base = f"http://images.test:{good.port}"
    urls = {"source": f"{base}/wait-for?other=together", "target": f"{base}/image.png?key=together"}

    async def run() -> dict[str, bytes]:
        async with ImageFetcher(settings(), resolver=resolver_of(NAMES), network=LoopbackOnly()) as fetcher:
            return await fetcher.fetch_all(urls)

    assert asyncio.run(run()) == {"source": PNG, "target": PNG}


def test_fetch_all_cancels_the_rest_when_one_fails(good: Recorder) -> None:
    base = f"http://images.test:{good.port}"
    stall = "/stall?id=cancelled&key=stalled"
    urls = {"source": base + stall, "target": f"{base}/wait-for?other=stalled&status=404"}

    async def run() -> dict[str, bytes]:
        config = settings(fetch_timeout=120.0)
        async with ImageFetcher(config, resolver=resolver_of(NAMES), network=LoopbackOnly()) as fetcher:
            async with asyncio.timeout(60):  # only a hang guard: uncancelled, the stall lasts 120 s
                return await fetcher.fetch_all(urls)

    with pytest.raises(SwapError) as caught:
        asyncio.run(run())
    assert caught.value.message == "The target image URL answered HTTP 404."
    assert good.stream(stall).done.wait(60)
    assert not good.stream(stall).completed


def test_https_keeps_the_name_for_sni_and_host_while_connecting_to_the_address(tls_host: TlsHost) -> None:
    network = LoopbackOnly()
    port = tls_host.server.port
    url = f"https://images.test:{port}/image.png"
    assert download(url, network=network, ssl_context=tls_host.client_context) == PNG
    assert network.opened == [("127.0.0.1", port)]
    assert tls_host.server.server_names[-1] == "images.test"
    assert tls_host.server.hits[-1].host == f"images.test:{port}"


def test_https_with_an_untrusted_certificate_is_fetch_failed(tls_host: TlsHost) -> None:
    error = failure(f"https://images.test:{tls_host.server.port}/image.png")
    assert error.code is ErrorCode.FETCH_FAILED


@pytest.mark.parametrize(
    "host", ["127.1", "0x7f000001", "2130706433", "0177.1", "localhost", "0.0.0.0", "1.2.3.4.5"]
)
def test_transport_refuses_what_the_system_resolver_reads_as_internal(host: str, internal: Recorder) -> None:
    network = LoopbackOnly()

    async def run() -> None:
        backend = GuardedNetworkBackend(resolver=system_resolver, inner=network)
        async with httpx.AsyncClient(
            transport=GuardedTransport(backend, ssl_context=ssl.create_default_context())
        ) as client:
            await client.get(f"http://{host}:{internal.port}/")

    with pytest.raises(BlockedAddressError):
        asyncio.run(run())
    assert network.opened == []
    assert internal.hits == []


def test_system_resolver_reads_numeric_forms_as_the_os_does() -> None:
    assert asyncio.run(system_resolver("0x7f000001")) == ["127.0.0.1"]


def test_unix_sockets_are_refused() -> None:
    with pytest.raises(BlockedAddressError):
        asyncio.run(GuardedNetworkBackend().connect_unix_socket("/var/run/docker.sock"))


def test_connection_goes_to_the_address_checked_and_the_name_is_resolved_once() -> None:
    network = Scripted([PNG_REPLY])
    calls: list[str] = []
    assert download("http://public.test/x.png", network=network, resolver=resolver_of(NAMES, calls)) == PNG
    assert calls == ["public.test"]
    assert network.connected == ["8.8.8.8"]
    assert b"\r\nHost: public.test\r\n" in network.written


def test_name_with_one_private_address_is_refused_before_connecting() -> None:
    network = Scripted([PNG_REPLY])
    error = failure("http://rebind.test/x.png", network=network)
    assert error.code is ErrorCode.URL_NOT_ALLOWED
    assert error.message == "The source image URL leads to a private or reserved network address."
    assert network.connected == []


def test_next_checked_address_is_tried_when_one_refuses() -> None:
    network = Scripted([PNG_REPLY], refuse=["8.8.4.4"])
    assert download("http://two.test/x.png", network=network) == PNG
    assert network.connected == ["8.8.4.4", "8.8.8.8"]


def test_mapped_answer_is_connected_over_ipv4() -> None:
    network = Scripted([PNG_REPLY])
    assert download("http://mapped.test/x.png", network=network) == PNG
    assert network.connected == ["8.8.8.8"]


def test_resolver_answer_that_is_no_address_is_fetch_failed() -> None:
    assert failure("http://garbage.test/x.png", network=Scripted([PNG_REPLY])).code is ErrorCode.FETCH_FAILED


@pytest.mark.parametrize(
    ("parts", "error", "code"),
    [
        ([b"garbage\r\n\r\n"], None, ErrorCode.FETCH_FAILED),
        ([b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + PNG[:20]], None, ErrorCode.FETCH_FAILED),
        ([httpcore.ReadError("connection reset")], None, ErrorCode.FETCH_FAILED),
        ([httpcore.ReadTimeout("read timed out")], None, ErrorCode.FETCH_TIMEOUT),
        ([], httpcore.ConnectError("connection refused"), ErrorCode.FETCH_FAILED),
        ([], httpcore.ConnectTimeout("connect timed out"), ErrorCode.FETCH_TIMEOUT),
        ([], httpcore.WriteError("broken pipe"), ErrorCode.FETCH_FAILED),
    ],
)
def test_transport_error_is_mapped_without_its_library_message(
    parts: list[bytes | Exception], error: Exception | None, code: ErrorCode
) -> None:
    mapped = failure("http://public.test/x.png", network=Scripted(parts, error=error))
    assert mapped.code is code
    assert mapped.message.startswith("The source image ")
    assert not any(word in mapped.message for word in ("reset", "timed out", "refused", "pipe", "h11"))


def test_fetch_reset_failpoint_breaks_the_next_download_only() -> None:
    failpoints = Failpoints("fetch_reset:1")

    async def run() -> tuple[SwapError | None, bytes]:
        network = Scripted([PNG_REPLY])
        async with ImageFetcher(
            settings(), resolver=resolver_of(NAMES), network=network, failpoints=failpoints
        ) as fetcher:
            first: SwapError | None = None
            try:
                await fetcher.fetch("http://public.test/x.png", "source")
            except SwapError as error:
                first = error
            return first, await fetcher.fetch("http://public.test/x.png", "source")

    first, second = asyncio.run(run())
    assert first is not None
    assert first.code is ErrorCode.FETCH_FAILED
    assert second == PNG


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (Answer(200, endless=True), None),
        (Answer(500, zeros=2 * 1024**3), "output_url answered HTTP 500 to the upload."),
    ],
    ids=["endless-200", "2-GiB-500"],
)
def test_put_file_never_reads_the_reply_s_body(tmp_path: Path, answer: Answer, error: str | None) -> None:
    path = tmp_path / "out.mp4"
    path.write_bytes(b"clip" * 1000)
    bucket = Receiver(answer)

    async def run() -> None:
        async with ImageFetcher(settings(allow_private_urls=True)) as fetcher:
            await fetcher.put_file(bucket.url(), path, "video/mp4", deadline=60)

    try:
        if error is None:
            asyncio.run(run())
        else:
            with pytest.raises(SwapError, match=error):
                asyncio.run(run())
    finally:
        bucket.close()
    assert bucket.received[0].body == path.read_bytes()
    assert bucket.received[0].sent < 256 * 1024 * 1024


_HELD_ONCE = r"""
import asyncio, sys
from pathlib import Path
from faceswap import fetch

SIZE = int(sys.argv[1])


class Streamed:
    headers = {}

    async def aiter_raw(self):
        yield b"\x89PNG\r\n\x1a\n" + bytes(8)
        for _ in range(SIZE // 65536):
            yield b"x" * 65536  # a fresh chunk each time, as a socket gives them




def status(name):
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(name))
    return int(line.split()[1]) * 1024


loop = asyncio.new_event_loop()
Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) starts again from here
before = status("VmRSS:")
body = loop.run_until_complete(fetch._read_body(Streamed(), 2 * SIZE, "target"))
assert len(body) == SIZE + 16
sys.stdout.write(str(status("VmHWM:") - before))
"""


def test_a_download_is_held_once_not_copied() -> None:
    size = 128 * 1024 * 1024
    done = subprocess.run(
        [sys.executable, "-c", _HELD_ONCE, str(size)], capture_output=True, text=True, timeout=120, check=True
    )
    assert int(done.stdout) < size * 1.4, f"the peak rose {int(done.stdout) / size:.2f} times the body"
