"""Hostile input through real HTTP: forged URLs, hostile files, request limits, the API key, no leaks.

One uvicorn on 127.0.0.1 serves the module, configured the way production runs: private URLs refused,
an API key set, small body and download caps. Two image hosts listen on loopback: ``good``, reachable as
``images.test`` (the one allow-listed name), and ``internal``, the service inside the network that no
refused URL may reach; both record every request. The fetcher resolves names from ``NAMES`` (no DNS
traffic) and opens sockets through ``LoopbackOnly``, which records every connection and never leaves
loopback, so a broken guard shows up as a hit or a connection, never as traffic elsewhere.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import io
import json
import re
import resource
import socket
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import cv2
import httpx
import numpy as np
import psutil
import pytest
from fastapi import FastAPI
from PIL import Image, PngImagePlugin

from faceswap.config import Settings
from faceswap.fetch import ImageFetcher
from faceswap.http import app as api
from faceswap.http.app import create_app
from faceswap.pipeline.png import png_chunk
from faceswap.testing.synthetic import draw_faces
from tests.conftest import derive, encode_png
from tests.servers import ImageHost, LoopbackOnly, app_in_thread, wait_ready

MiB = 1024 * 1024
KEY = "hostile-test-key-5f2a9c"
BODY_CAP = 4 * MiB
DOWNLOAD_CAP = 1 * MiB
MAX_PIXELS = 50_000_000
RSS_BUDGET = 64 * MiB

NAMES: dict[str, list[str]] = {
    "images.test": ["127.0.0.1"],
    "internal.test": ["127.0.0.1"],
    "localhost": ["127.0.0.1", "::1"],
    "127.0.0.1.nip.io": ["127.0.0.1"],
    "169.254.169.254.nip.io": ["169.254.169.254"],
    "rebind.test": ["93.184.215.14", "127.0.0.1"],
    "v6-loopback.test": ["::1"],
    "mapped.test": ["::ffff:127.0.0.1"],
    "zero.test": ["0.0.0.0"],
    "metadata.google.internal": ["169.254.169.254"],
    "private.test": ["10.0.0.7"],
}

# What an error body must never carry: a trace, a path, an address, a library's own words, the key.
LEAK_MARKERS = (
    "Traceback",
    'File "',
    ".py",
    "site-packages",
    "/etc/",
    "/tmp",
    "/work",
    "/usr/",
    "127.0.0.1",
    "[::1]",
    "169.254",
    "0.0.0.0",
    "localhost",
    "internal.test",
    "Errno",
    "errno",
    "PIL",
    "cv2",
    "libpng",
    "libjpeg",
    "httpx",
    "httpcore",
    "onnx",
    "pydantic",
    "starlette",
    "uvicorn",
    "Exception",
    "Error:",
    KEY,
)


async def resolve_from_names(host: str) -> list[str]:
    """Answers from NAMES only; any other name is unknown, as if DNS had no record."""
    if host in NAMES:
        return list(NAMES[host])
    raise socket.gaierror(socket.EAI_NONAME, "unknown test name")


@dataclass
class Service:
    """The running service, its app, and what its fetcher connected to."""

    url: str
    app: FastAPI
    network: LoopbackOnly


@pytest.fixture(scope="module")
def good() -> Iterator[ImageHost]:
    """The image host, allow-listed as images.test."""
    host = ImageHost()
    yield host
    host.close()


@pytest.fixture(scope="module")
def internal() -> Iterator[ImageHost]:
    """A service inside the network: every path answers, and every request is recorded."""
    host = ImageHost()
    yield host
    host.close()


@pytest.fixture(scope="module")
def service(settings: Settings) -> Iterator[Service]:
    """The service as production runs it, with images.test allow-listed, ready.

    The fetcher is created in the app's lifespan; the resolver and network are put in by patching the
    name ``faceswap.http.app`` builds it from, only while the server starts.
    """
    hostile = derive(
        settings,
        allow_private_urls=False,
        url_allowlist=("images.test",),
        api_key=KEY,
        max_body_bytes=BODY_CAP,
        max_download_bytes=DOWNLOAD_CAP,
        max_pixels=MAX_PIXELS,
        max_redirects=3,
        fetch_timeout=10.0,
    )
    network = LoopbackOnly()
    app = create_app(hostile)
    with contextlib.ExitStack() as stack:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(
                api,
                "ImageFetcher",
                functools.partial(ImageFetcher, resolver=resolve_from_names, network=network),
            )
            url = stack.enter_context(app_in_thread(app))
        wait_ready(url)
        yield Service(url, app, network)


@pytest.fixture(scope="module")
def client(service: Service) -> Iterator[httpx.Client]:
    """An HTTP client that carries the API key."""
    with httpx.Client(
        base_url=service.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60, trust_env=False
    ) as http:
        yield http


@pytest.fixture(autouse=True)
def fresh_records(request: pytest.FixtureRequest) -> None:
    """Each test starts with no recorded hits or connections (for tests that use the servers)."""
    for name in ("good", "internal"):
        if name in request.fixturenames:
            request.getfixturevalue(name).hits.clear()
    if "service" in request.fixturenames:
        network: LoopbackOnly = request.getfixturevalue("service").network
        network.opened.clear()
        network.refused.clear()


def assert_no_leak(text: str, *ports: int) -> None:
    """Nothing internal in a response body: no trace, path, address, library message, key or port."""
    for marker in LEAK_MARKERS:
        assert marker not in text, f"{marker!r} leaked in {text}"
    for port in ports:
        assert not re.search(rf"\b{port}\b", text), f"port {port} leaked in {text}"


def assert_error(response: httpx.Response, status: int, code: str, *ports: int) -> str:
    """The contract's error body with this status and code, leaking nothing; returns the message."""
    assert response.status_code == status, response.text
    body = response.json()
    if "output" in body:  # /runsync: RunPod's envelope, FAILED for the statuses it keeps
        assert set(body) == {"id", "status", "output"} and body["status"] == "FAILED", body
        assert body["id"] == body["output"]["request_id"]
        body = body["output"]
    assert set(body) == {"success", "error_code", "message", "request_id"}, body
    assert (body["success"], body["error_code"]) == (False, code), body
    assert body["request_id"] == response.headers["x-request-id"]
    message: str = body["message"]
    assert message.endswith(".") and len(message) <= 301, message
    assert_no_leak(response.text, *ports)
    return message


def b64(data: bytes) -> str:
    """Standard base64 text."""
    return base64.b64encode(data).decode("ascii")


# ---------------------------------------------------------------------------------------------------
# Images: a face the synthetic detector finds, and the hostile files.


FACE_BGR = draw_faces(320, 240, 1, seed=5)[0]
NO_FACE_BGR = draw_faces(320, 240, 0)[0]
FACE_PNG = encode_png(FACE_BGR)
SOURCE = b64(encode_png(draw_faces(160, 120, 1, seed=6)[0]))


def _pil(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB))


def _save(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _encode(extension: str, pixels: np.ndarray, *params: int) -> bytes:
    ok, data = cv2.imencode(extension, pixels, list(params))
    assert ok
    return data.tobytes()


def png_bomb(width: int, height: int) -> bytes:
    """A PNG of a few hundred bytes that declares width x height RGB pixels."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    idat = png_chunk(b"IDAT", zlib.compress(b"\x00" * 65536, 9))
    return b"\x89PNG\r\n\x1a\n" + header + idat + png_chunk(b"IEND", b"")


@functools.cache
def png_zlib_bomb(width: int, height: int) -> bytes:
    """A PNG whose pixel data is complete: width x height black pixels, deflated about 1000 to 1."""
    deflate = zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    rows = bytes(1 + 3 * width) * 100
    idat = b"".join(deflate.compress(rows) for _ in range(height // 100)) + deflate.flush()
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def jpeg_bomb(width: int, height: int) -> bytes:
    """A tiny JPEG whose frame header declares width x height."""
    data = bytearray(_save(Image.new("RGB", (16, 16)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def webp_vp8x_bomb(width: int, height: int) -> bytes:
    """An extended WebP whose canvas is width x height, around a 4x4 lossless image."""
    small = _save(Image.new("RGB", (4, 4)), "WEBP", lossless=True)
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00" * 4
    vp8x += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + vp8x + small[12:]
    return b"RIFF" + struct.pack("<I", len(body)) + body


def webp_vp8l_bomb(width: int, height: int) -> bytes:
    """A lossless WebP whose bitstream header declares width x height (14 bits each)."""
    data = bytearray(_save(Image.new("RGB", (4, 4)), "WEBP", lossless=True))
    bits = int.from_bytes(data[21:25], "little") & ~0xFFFFFFF
    data[21:25] = struct.pack("<I", bits | (width - 1) | (height - 1) << 14)
    return bytes(data)


def gif_bomb(screen: tuple[int, int], frame: tuple[int, int]) -> bytes:
    """A GIF with the given logical screen and one frame of the given size at the origin."""
    descriptor = b"," + struct.pack("<HHHHB", 0, 0, *frame, 0)
    return (
        b"GIF89a"
        + struct.pack("<HHBBB", *screen, 0x80, 0, 0)
        + b"\x00\x00\x00\xff\xff\xff"
        + descriptor
        + b"\x02\x02\x44\x01\x00;"
    )


def png_text_bomb() -> bytes:
    """A 4x4 PNG carrying a compressed text chunk that inflates to 5 MB."""
    info = PngImagePlugin.PngInfo()
    info.add_itxt("comment", "x" * 5_000_000, zip=True)
    return _save(Image.new("RGB", (4, 4)), "PNG", pnginfo=info)


def jpeg_scan_bomb(scans: int) -> bytes:
    """A progressive JPEG with `scans` scans: each costs a pass over every block."""
    data = _save(_pil(FACE_BGR), "JPEG", progressive=True)
    last = data.rindex(b"\xff\xda")
    return data[:-2] + data[last:-2] * scans + b"\xff\xd9"


def animated(fmt: str, **options: Any) -> bytes:
    """Two frames: the face, then an empty scene."""
    first, second = _pil(FACE_BGR), _pil(NO_FACE_BGR)
    if fmt == "GIF":
        first, second = first.quantize(256), second.quantize(256)
    return _save(first, fmt, save_all=True, append_images=[second], duration=100, loop=0, **options)


@dataclass(frozen=True)
class Bomb:
    """A tiny file declaring a huge image: what decoding it would allocate, as 8-bit RGB."""

    build: Callable[[], bytes]
    width: int
    height: int

    @property
    def decoded_bytes(self) -> int:
        """Bytes of the decoded RGB frame the header asks for."""
        return self.width * self.height * 3


BOMBS: dict[str, Bomb] = {
    "PNG 100000x100000": Bomb(lambda: png_bomb(100_000, 100_000), 100_000, 100_000),
    "PNG 8000x8000, all of its data deflated": Bomb(lambda: png_zlib_bomb(8_000, 8_000), 8_000, 8_000),
    "JPEG 65000x65000": Bomb(lambda: jpeg_bomb(65_000, 65_000), 65_000, 65_000),
    "WebP VP8X 16384x16384": Bomb(lambda: webp_vp8x_bomb(16_384, 16_384), 16_384, 16_384),
    "WebP VP8L 16384x16384": Bomb(lambda: webp_vp8l_bomb(16_384, 16_384), 16_384, 16_384),
    "GIF screen 65535x65535": Bomb(lambda: gif_bomb((65_535, 65_535), (1, 1)), 65_535, 65_535),
    "GIF 1x1 screen, 60000x60000 frame": Bomb(lambda: gif_bomb((1, 1), (60_000, 60_000)), 60_000, 60_000),
}

SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="320" height="240"><script>alert(1)</script></svg>'
HTML = b"<!doctype html><html><body><script>fetch('/admin')</script></body></html>"
JPEG_FACE = _encode(".jpg", FACE_BGR, cv2.IMWRITE_JPEG_QUALITY, 95)


@dataclass(frozen=True)
class HostileFile:
    """A hostile target image: its bytes as sent (base64, maybe with a data: prefix) and the answer."""

    build: Callable[[], bytes]
    status: int
    code: str | None = None
    prefix: str = ""


HOSTILE_FILES: dict[str, HostileFile] = {
    **{f"bomb: {name}": HostileFile(bomb.build, 413, "IMAGE_TOO_LARGE") for name, bomb in BOMBS.items()},
    "zero bytes": HostileFile(lambda: b"", 400, "INVALID_IMAGE"),
    "zero bytes behind a data: prefix": HostileFile(
        lambda: b"", 400, "INVALID_IMAGE", "data:image/png;base64,"
    ),
    "SVG with a script, as data:image/svg+xml": HostileFile(
        lambda: SVG, 400, "INVALID_IMAGE", "data:image/svg+xml;base64,"
    ),
    "HTML disguised as data:image/png": HostileFile(
        lambda: HTML, 400, "INVALID_IMAGE", "data:image/png;base64,"
    ),
    "PDF": HostileFile(lambda: b"%PDF-1.7\n1 0 obj << >> endobj\n%%EOF", 400, "INVALID_IMAGE"),
    "BMP (not on the allow-list)": HostileFile(lambda: _save(_pil(FACE_BGR), "BMP"), 400, "INVALID_IMAGE"),
    "TIFF (not on the allow-list)": HostileFile(lambda: _save(_pil(FACE_BGR), "TIFF"), 400, "INVALID_IMAGE"),
    "ICO (not on the allow-list)": HostileFile(
        lambda: _save(Image.new("RGB", (32, 32)), "ICO"), 400, "INVALID_IMAGE"
    ),
    "truncated PNG": HostileFile(lambda: FACE_PNG[: len(FACE_PNG) // 2], 400, "INVALID_IMAGE"),
    "truncated JPEG": HostileFile(lambda: JPEG_FACE[: len(JPEG_FACE) // 2], 400, "INVALID_IMAGE"),
    "truncated WebP": HostileFile(
        lambda: _save(_pil(FACE_BGR), "WEBP", quality=90)[:60], 400, "INVALID_IMAGE"
    ),
    "truncated GIF": HostileFile(lambda: animated("GIF")[:40], 400, "INVALID_IMAGE"),
    "PNG signature over a JPEG body": HostileFile(
        lambda: b"\x89PNG\r\n\x1a\n" + JPEG_FACE, 400, "INVALID_IMAGE"
    ),
    "GIF signature over HTML (polyglot)": HostileFile(lambda: b"GIF89a" + HTML, 400, "INVALID_IMAGE"),
    "JPEG with 150 scans": HostileFile(lambda: jpeg_scan_bomb(150), 400, "INVALID_IMAGE"),
    "PNG text-chunk bomb": HostileFile(png_text_bomb, 400, "INVALID_IMAGE"),
    "16-bit RGB PNG with a face": HostileFile(lambda: _encode(".png", FACE_BGR.astype(np.uint16) * 257), 200),
    "16-bit grey PNG": HostileFile(
        lambda: _encode(".png", cv2.cvtColor(FACE_BGR, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257),
        422,
        "NO_FACE",
    ),
    "CMYK JPEG with a face": HostileFile(
        lambda: _save(_pil(FACE_BGR).convert("CMYK"), "JPEG", quality=95), 200
    ),
    "CMYK JPEG without a face": HostileFile(
        lambda: _save(_pil(NO_FACE_BGR).convert("CMYK"), "JPEG", quality=95), 422, "NO_FACE"
    ),
    "animated GIF, the face in frame 1": HostileFile(lambda: animated("GIF"), 200),
    "animated WebP, the face in frame 1": HostileFile(lambda: animated("WEBP", lossless=True), 200),
    "RGBA PNG with a face": HostileFile(lambda: _save(_pil(FACE_BGR).convert("RGBA"), "PNG"), 200),
    "PNG with HTML appended (polyglot)": HostileFile(lambda: FACE_PNG + HTML, 200),
}


def swap_body(target: str, **extra: Any) -> dict[str, Any]:
    """A /swap body with the test source face and the given target image field."""
    return {"source_image": SOURCE, "target_image": target, **extra}


# ---------------------------------------------------------------------------------------------------
# Forged URLs, each through POST /swap as source_url.

REDIRECT = "redirect to "
FORGERIES: dict[str, str] = {
    "loopback": "http://127.0.0.1:{I}/",
    "decimal IPv4": "http://2130706433:{I}/",
    "hex IPv4": "http://0x7f000001:{I}/",
    "octal IPv4": "http://0177.0.0.1:{I}/",
    "dotted hex IPv4": "http://0x7f.0.0.1:{I}/",
    "short IPv4": "http://127.1:{I}/",
    "hex IPv4 with a trailing dot": "http://0x7f000001.:{I}/",
    "0.0.0.0": "http://0.0.0.0:{I}/",
    "0": "http://0:{I}/",
    "IPv6 loopback": "http://[::1]:{I}/",
    "IPv6 unspecified": "http://[::]:{I}/",
    "IPv4-mapped IPv6": "http://[::ffff:127.0.0.1]:{I}/",
    "IPv4-mapped IPv6 in hex": "http://[::ffff:7f00:1]:{I}/",
    "IPv4-mapped IPv6, long form": "http://[0:0:0:0:0:ffff:127.0.0.1]:{I}/",
    "IPv4-compatible IPv6": "http://[::127.0.0.1]:{I}/",
    "NAT64 of loopback": "http://[64:ff9b::7f00:1]:{I}/",
    "zoned link-local IPv6": "http://[fe80::1%25lo]:{I}/",
    "percent-encoded host": "http://%31%32%37.0.0.1:{I}/",
    "fullwidth digits": "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11:{I}/",
    "localhost": "http://localhost:{I}/",
    "LOCALHOST in capitals": "HTTP://LOCALHOST:{I}/",
    "a name resolving to loopback": "http://internal.test:{I}/",
    "a nip.io-style name": "http://127.0.0.1.nip.io:{I}/",
    "a name resolving to a public and a loopback address": "http://rebind.test:{I}/",
    "a name resolving to IPv6 loopback": "http://v6-loopback.test:{I}/",
    "a name resolving to IPv4-mapped loopback": "http://mapped.test:{I}/",
    "a name resolving to 0.0.0.0": "http://zero.test:{I}/",
    "a name resolving to a private address": "http://private.test/",
    "AWS metadata": "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "AWS metadata as IPv4-mapped hex": "http://[::ffff:a9fe:a9fe]/latest/meta-data/",
    "AWS metadata over IPv6": "http://[fd00:ec2::254]/latest/meta-data/",
    "GCP metadata name": "http://metadata.google.internal/computeMetadata/v1/",
    "a nip.io-style name for metadata": "http://169.254.169.254.nip.io/latest/meta-data/",
    "Alibaba metadata (carrier-grade NAT)": "http://100.100.100.200/latest/meta-data/",
    "RFC 1918": "http://10.0.0.1/",
    "RFC 1918, 192.168": "http://192.168.1.1/",
    "file scheme": "file:///etc/passwd",
    "gopher scheme": "gopher://127.0.0.1:{I}/_GET%20/",
    "dict scheme": "dict://127.0.0.1:{I}/info",
    "ftp scheme": "ftp://images.test:{G}/face.png",
    "data scheme": "data:image/png;base64,iVBORw0KGgo=",
    "javascript scheme": "javascript:alert(1)",
    "no host": "http:///face.png",
    "allow-listed name as user info": "http://images.test@127.0.0.1:{I}/",
    "allow-listed name as user info with a port": "http://images.test:{G}@127.0.0.1:{I}/",
    "credentials on the allow-listed host": "http://user:secret@images.test:{G}/face.png",
    "encoded slash in user info": "http://images.test%2f@127.0.0.1:{I}/",
    "fragment hiding the allow-listed name": "http://127.0.0.1:{I}#@images.test/",
    "backslash confusion": "http://images.test:{G}\\@127.0.0.1:{I}/",
    "leading whitespace": "  http://127.0.0.1:{I}/",
    REDIRECT + "loopback": "http://127.0.0.1:{I}/",
    REDIRECT + "IPv6 loopback": "http://[::1]:{I}/",
    REDIRECT + "decimal IPv4": "http://2130706433:{I}/",
    REDIRECT + "a name resolving to loopback": "http://internal.test:{I}/",
    REDIRECT + "localhost": "http://localhost:{I}/",
    REDIRECT + "a scheme-relative loopback URL": "//127.0.0.1:{I}/",
    REDIRECT + "AWS metadata": "http://169.254.169.254/latest/meta-data/",
    REDIRECT + "the file scheme": "file:///etc/passwd",
    REDIRECT + "the gopher scheme": "gopher://127.0.0.1:{I}/_GET%20/",
    REDIRECT + "credentials": "http://user:secret@images.test:{G}/face.png",
}


def build_url(name: str, good: ImageHost, internal: ImageHost) -> str:
    """A FORGERIES entry as the URL to send; a redirect entry becomes a 302 on images.test."""
    target = FORGERIES[name].replace("{I}", str(internal.port)).replace("{G}", str(good.port))
    if not name.startswith(REDIRECT):
        return target
    path = "/redirect/" + quote(name.removeprefix(REDIRECT).replace(" ", "-"), safe="")
    good.serve(path, b"", status=302, content_type="text/plain", headers={"Location": target})
    return f"http://images.test:{good.port}{path}"


def test_there_are_enough_forgeries_and_hostile_files() -> None:
    assert len(FORGERIES) >= 25
    assert len(HOSTILE_FILES) >= 15


@pytest.mark.parametrize("name", FORGERIES)
def test_forged_url_is_refused_and_nothing_inside_is_reached(
    name: str, service: Service, client: httpx.Client, good: ImageHost, internal: ImageHost
) -> None:
    url = build_url(name, good, internal)
    response = client.post("/swap", json={"source_url": url, "target_image": SOURCE})
    message = assert_error(response, 400, "URL_NOT_ALLOWED", internal.port, good.port)
    assert message.startswith("The source image URL ")
    assert internal.hits == []
    assert service.network.refused == []
    assert {port for _, port in service.network.opened} <= {good.port}
    if not name.startswith(REDIRECT):
        assert service.network.opened == []
        assert good.hits == []


def test_redirects_beyond_the_limit_are_refused(
    service: Service, client: httpx.Client, good: ImageHost, internal: ImageHost
) -> None:
    for hop in range(5):
        good.serve(f"/hop/{hop}", b"", status=302, headers={"Location": f"/hop/{hop + 1}"})
    good.serve("/hop/5", FACE_PNG)
    response = client.post(
        "/swap", json={"source_url": f"http://images.test:{good.port}/hop/0", "target_image": SOURCE}
    )
    assert "redirected more than 3 times" in assert_error(response, 400, "URL_NOT_ALLOWED", good.port)
    assert good.hits == ["/hop/0", "/hop/1", "/hop/2", "/hop/3"]
    assert internal.hits == []


def test_the_internal_listener_records_a_request_that_reaches_it(
    service: Service, client: httpx.Client, good: ImageHost, internal: ImageHost
) -> None:
    # The control for the table above: an allow-listed name is trusted on every port of its addresses.
    response = client.post(
        "/swap", json={"source_url": f"http://images.test:{internal.port}/secret", "target_image": SOURCE}
    )
    assert_error(response, 502, "FETCH_FAILED", internal.port)
    assert internal.hits == ["/secret"]
    assert service.network.opened == [("127.0.0.1", internal.port)]


def test_an_allow_listed_image_is_fetched(client: httpx.Client, good: ImageHost) -> None:
    good.serve("/face.png", FACE_PNG)
    response = client.post(
        "/swap", json={"source_image": SOURCE, "target_url": f"http://images.test:{good.port}/face.png"}
    )
    assert response.status_code == 200, response.text
    assert good.hits == ["/face.png"]


# ---------------------------------------------------------------------------------------------------
# Hostile files.


@pytest.mark.parametrize("name", HOSTILE_FILES)
def test_hostile_file_in_base64_gets_its_answer(name: str, client: httpx.Client) -> None:
    case = HOSTILE_FILES[name]
    response = client.post("/swap", json=swap_body(case.prefix + b64(case.build())))
    if case.code is None:
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["width"], body["height"], body["target_faces"]) == (320, 240, 1)
    else:
        message = assert_error(response, case.status, case.code)
        assert message.startswith(("The target image", "No face was found in the target image"))


@contextlib.contextmanager
def rss_growth() -> Iterator[list[int]]:
    """Yields a list that receives, on exit, how far this process's resident memory rose meanwhile.

    A sampler thread catches the peak above the starting RSS; the kernel's own high-water mark
    (ru_maxrss) catches a spike between samples whenever it rises above the earlier peak.
    """
    process = psutil.Process()
    start = process.memory_info().rss
    high_water_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    peak = start
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, process.memory_info().rss)
            stop.wait(0.001)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    growth: list[int] = []
    try:
        yield growth
    finally:
        stop.set()
        sampler.join()
        high_water_rise = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - high_water_before
        growth.append(max(peak - start, high_water_rise))


@pytest.mark.parametrize("name", BOMBS)
def test_bomb_is_refused_without_its_memory(name: str, client: httpx.Client) -> None:
    bomb = BOMBS[name]
    data = bomb.build()
    assert bomb.decoded_bytes > 1000 * len(data)
    body = swap_body(b64(data))
    client.post("/swap", json=swap_body(b64(FACE_PNG)))
    with rss_growth() as growth:
        response = client.post("/swap", json=body)
    assert growth[0] < RSS_BUDGET < bomb.decoded_bytes // 2
    assert f"more than the {MAX_PIXELS:,} pixels allowed" in assert_error(response, 413, "IMAGE_TOO_LARGE")


URL_FILES: dict[str, tuple[bytes, str, int, str | None]] = {
    "PNG bomb": (png_bomb(100_000, 100_000), "image/png", 413, "IMAGE_TOO_LARGE"),
    "SVG served as image/png": (SVG, "image/png", 400, "INVALID_IMAGE"),
    "HTML served as image/jpeg": (HTML, "image/jpeg", 400, "INVALID_IMAGE"),
    "BMP": (_save(_pil(FACE_BGR), "BMP"), "image/bmp", 400, "INVALID_IMAGE"),
    "truncated JPEG": (JPEG_FACE[: len(JPEG_FACE) // 2], "image/jpeg", 400, "INVALID_IMAGE"),
    "larger than the download cap": (FACE_PNG + bytes(DOWNLOAD_CAP), "image/png", 413, "IMAGE_TOO_LARGE"),
    "CMYK JPEG with a face": (
        _save(_pil(FACE_BGR).convert("CMYK"), "JPEG", quality=95),
        "image/jpeg",
        200,
        None,
    ),
}


@pytest.mark.parametrize("name", URL_FILES)
def test_hostile_file_by_url_gets_its_answer(name: str, client: httpx.Client, good: ImageHost) -> None:
    data, content_type, status, code = URL_FILES[name]
    path = "/files/" + quote(name.replace(" ", "-"), safe="")
    good.serve(path, data, content_type=content_type)
    response = client.post(
        "/swap", json={"source_image": SOURCE, "target_url": f"http://images.test:{good.port}{path}"}
    )
    if code is None:
        assert response.status_code == 200, response.text
    else:
        assert assert_error(response, status, code, good.port).startswith("The target image")
    assert good.hits == [path]


# ---------------------------------------------------------------------------------------------------
# Request limits.


def raw_exchange(base_url: str, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Send a hand-written request (head without the final blank line) and read the whole answer."""
    host, port = httpx.URL(base_url).host, httpx.URL(base_url).port
    assert port is not None
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(head + b"\r\n\r\n" + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize(("path", "envelope"), [("/swap", False), ("/runsync", True)])
def test_a_declared_length_over_the_body_cap_is_refused_unread(
    service: Service, path: str, envelope: bool
) -> None:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: faceswap\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {10**12}"
    ).encode()
    status, content = raw_exchange(service.url, head)
    assert status == 413
    body = json.loads(content)
    output = body["output"] if envelope else body
    assert output["error_code"] == "IMAGE_TOO_LARGE"
    assert body.get("status", "FAILED") == "FAILED"
    assert_no_leak(content.decode())


def test_a_body_over_the_cap_is_refused(client: httpx.Client) -> None:
    body = {"source_image": "A" * BODY_CAP, "target_image": SOURCE}
    assert_error(client.post("/swap", json=body), 413, "IMAGE_TOO_LARGE")


def test_a_chunked_body_over_the_cap_is_refused(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"source_image": "'
        for _ in range(BODY_CAP // 65536 + 1):
            yield b"A" * 65536
        yield b'"}'

    response = client.post("/swap", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_error(response, 413, "IMAGE_TOO_LARGE")


@pytest.mark.parametrize("alphabet", ["A", "!"])
def test_base64_over_the_download_cap_is_refused_before_decoding(client: httpx.Client, alphabet: str) -> None:
    # "!" is not base64: answering 413 rather than 422 shows the size was judged before any decoding.
    oversized = alphabet * (DOWNLOAD_CAP // 3 * 4 + 64)
    assert len(oversized) < BODY_CAP
    message = assert_error(client.post("/swap", json=swap_body(oversized)), 413, "IMAGE_TOO_LARGE")
    assert message.startswith("The target image is larger than")


def test_moderately_nested_json_is_invalid_input(client: httpx.Client) -> None:
    nested = "[" * 500 + "]" * 500
    content = f'{{"source_url": {nested}, "target_image": "{SOURCE}"}}'.encode()
    response = client.post("/swap", content=content, headers={"Content-Type": "application/json"})
    assert_error(response, 422, "INVALID_INPUT")


@pytest.mark.parametrize(
    "content",
    [
        b'{"source_url": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"input": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_000 + b"}",
        b'{"source_url": "\xff\xfe"}',
    ],
    ids=["100000 nested arrays", "50000 nested objects", "not UTF-8"],
)
def test_an_unparseable_body_is_invalid_input(client: httpx.Client, content: bytes) -> None:
    response = client.post("/swap", content=content, headers={"Content-Type": "application/json"})
    assert_error(response, 422, "INVALID_INPUT")


@pytest.mark.parametrize(
    "body",
    [
        {"source_url": "http://images.test/" + "a" * 4096, "target_image": SOURCE},
        {"source_image": SOURCE, "target_image": SOURCE, "output_format": "png" * 30_000},
        {"source_image": SOURCE, "target_image": SOURCE, "x" * 100_000: 1},
        {"source_image": SOURCE, "target_image": SOURCE, "source_index": 10**400},
        {"source_image": SOURCE, "target_image": SOURCE, "target_index": "9" * 100_000},
    ],
    ids=[
        "URL over 4096",
        "output_format of 90000",
        "field name of 100000",
        "index of 401 digits",
        "index text",
    ],
)
def test_an_over_long_value_is_invalid_input_without_echo(client: httpx.Client, body: dict[str, Any]) -> None:
    response = client.post("/swap", json=body)
    assert_error(response, 422, "INVALID_INPUT")
    assert len(response.content) < 1024


def test_an_over_long_request_id_is_replaced(client: httpx.Client) -> None:
    response = client.post("/swap", json={}, headers={"X-Request-ID": "r" * 5000})
    assert_error(response, 422, "INVALID_INPUT")
    assert len(response.headers["x-request-id"]) <= 128


# ---------------------------------------------------------------------------------------------------
# The API key.

WRONG_KEYS = {
    "empty": "",
    "one character": "k",
    "the key less its last character": KEY[:-1],
    "the key and one more": KEY + "x",
    "the key in capitals": KEY.upper(),
    "same length, other characters": "x" * len(KEY),
    "4096 characters": "k" * 4096,
    "the key twice": KEY * 2,
}


def _unauthorized(response: httpx.Response) -> None:
    assert_error(response, 401, "UNAUTHORIZED")
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("key", WRONG_KEYS.values(), ids=WRONG_KEYS.keys())
@pytest.mark.parametrize("header", ["Authorization", "X-API-Key"])
def test_a_wrong_key_is_refused(service: Service, key: str, header: str) -> None:
    value = f"Bearer {key}".rstrip() if header == "Authorization" else key
    response = httpx.post(f"{service.url}/swap", json=swap_body(SOURCE), headers={header: value}, timeout=30)
    _unauthorized(response)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": KEY},
        {"Authorization": f"Basic {b64(KEY.encode())}"},
        {"Authorization": f"Token {KEY}"},
        {"Authorization": "Bearer " + "\u00e9" * 8},
        {"Cookie": f"api_key={KEY}"},
    ],
    ids=["no header", "no scheme", "Basic", "Token scheme", "Latin-1 bytes", "cookie"],
)
def test_a_key_offered_the_wrong_way_is_refused(service: Service, headers: dict[str, str]) -> None:
    encoded = {name: value.encode("latin-1") for name, value in headers.items()}
    response = httpx.post(f"{service.url}/swap", json=swap_body(SOURCE), headers=encoded, timeout=30)
    _unauthorized(response)


def test_a_key_in_the_query_string_is_refused(service: Service) -> None:
    _unauthorized(httpx.post(f"{service.url}/swap?api_key={KEY}", json=swap_body(SOURCE), timeout=30))


def test_an_invalid_body_without_the_key_is_unauthorized_not_described(service: Service) -> None:
    _unauthorized(httpx.post(f"{service.url}/swap", json={"source_index": "x"}, timeout=30))


def _anonymous(base_url: str, method: str, path: str) -> httpx.Response:
    """A request without the key: POSTs with an empty JSON object."""
    content = b"{}" if method in ("POST", "PUT", "PATCH") else None
    headers = {"Content-Type": "application/json"} if content else {}
    return httpx.request(method, f"{base_url}{path}", content=content, headers=headers, timeout=30)


def test_every_api_route_but_health_and_ping_needs_the_key(service: Service) -> None:
    open_routes = {"/health", "/ping"}
    checked = []
    for path, operations in service.app.openapi()["paths"].items():
        if path in open_routes:
            continue
        for method in sorted(operation.upper() for operation in operations):
            _unauthorized(_anonymous(service.url, method, path))
            checked.append(f"{method} {path}")
    assert {"POST /swap", "POST /runsync", "POST /admin/reload"} <= set(checked)
    for path in open_routes:
        assert httpx.get(f"{service.url}{path}", timeout=30).status_code == 200


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"])
def test_the_schema_and_docs_need_the_key_too(service: Service, path: str) -> None:
    response = httpx.get(f"{service.url}{path}", timeout=30)
    assert response.status_code in (401, 404)
