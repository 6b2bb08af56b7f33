"""What hostile clients cost a running service: each attack's answer, time, resident memory and /health stall.

    .venv/bin/python scripts/hostile_probe.py [--root DIR] [--wait 15]

Starts ``python main_fixed.py`` from DIR (default: this checkout) on 127.0.0.1 with the synthetic pack
and an API key, serves a redirecting image host on 127.0.0.1, replays every attack below one at a
time, and prints a Markdown table: the answer (an HTTP status, ``closed`` when the server closed the
connection unanswered, ``open`` when it was still open after ``--wait`` seconds), the seconds to it,
how far the server's resident memory rose (sampled from /proc), and the longest a /health probe waited
meanwhile. tests/test_hostile_costs.py replays the same attacks with a bound for each.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from faceswap.testing.clips import write_clip
from faceswap.testing.synthetic import draw_faces, write_models

MiB = 1024 * 1024
KEY = "probe-key-7c1e"


# ---------------------------------------------------------------------------------------------------
# The service and what it costs.


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_bytes(pid: int) -> int:
    """The resident memory of `pid`, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@dataclass
class Cost:
    """What one attack cost: the peak RSS rise over the start, and the slowest /health meanwhile."""

    rss_rise: int = 0
    worst_health: float = 0.0


@contextlib.contextmanager
def measured(base_url: str, pid: int) -> Iterator[Cost]:
    """Samples `pid`'s RSS every 5 ms and times a /health probe every 100 ms until the block ends."""
    cost = Cost()
    start = rss_bytes(pid)
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            cost.rss_rise = max(cost.rss_rise, rss_bytes(pid) - start)
            stop.wait(0.005)

    def probe() -> None:
        while not stop.is_set():
            began = time.monotonic()
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{base_url}/health", timeout=30)
            cost.worst_health = max(cost.worst_health, time.monotonic() - began)
            stop.wait(0.1)

    threads = [threading.Thread(target=work, daemon=True) for work in (sample, probe)]
    for thread in threads:
        thread.start()
    try:
        yield cost
    finally:
        stop.set()
        for thread in threads:
            thread.join()


@contextlib.contextmanager
def service(root: Path, workdir: Path, **env: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``python main_fixed.py`` from `root` on a free port, the synthetic pack as a relative model dir."""
    pack = workdir / "pack"
    if not pack.exists():
        write_models(pack)
    port = free_port()
    variables = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "FACESWAP_MODEL_DIR": "pack",
        "FACESWAP_PROVIDERS": "cpu",
        "FACESWAP_API_KEY": KEY,
        "FACESWAP_ALLOW_PRIVATE_URLS": "true",
        **env,
    }
    log = (workdir / "service.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, str(root / "main_fixed.py")], cwd=workdir, env=variables, stdout=log, stderr=log
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the service did not become ready")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                    break
            time.sleep(0.1)
        yield base_url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


# ---------------------------------------------------------------------------------------------------
# Raw exchanges: what a client library would never send.


def _address(base_url: str) -> tuple[str, int]:
    url = httpx.URL(base_url)
    return url.host, url.port or 80


def _status(answer: bytes) -> str:
    """The status of a raw answer, or "closed" when there was none."""
    parts = answer.split(b" ", 2)
    return parts[1].decode() if answer.startswith(b"HTTP/") and len(parts) > 1 else "closed"


def _read_answer(sock: socket.socket, wait: float) -> str:
    """The answer's status; "open" when nothing came and the connection stayed open for `wait` seconds."""
    sock.settimeout(wait)
    try:
        answer = sock.recv(65536)
    except TimeoutError:
        return "open"
    except OSError:
        return "closed"
    return _status(answer)


def send_then_read(base_url: str, head: bytes, body_size: int, wait: float) -> str:
    """Send `head`, then `body_size` bytes of body in 1 MiB pieces for as long as the server reads them."""
    with socket.create_connection(_address(base_url), timeout=wait) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        try:
            sock.sendall(head)
            piece = b"a" * MiB
            for _ in range(body_size // MiB):
                sock.sendall(piece)
        except TimeoutError:
            pass
        except OSError:
            return _read_answer(sock, 1.0)
        return _read_answer(sock, wait)


def huge_header(base_url: str, size: int, wait: float) -> str:
    """A request whose one header is `size` bytes long, with no API key."""
    head = b"POST /swap HTTP/1.1\r\nHost: probe\r\nX-Pad: "
    return send_then_read(base_url, head, size, wait)


def post_without_body_route(base_url: str, size: int, wait: float) -> str:
    """POST /health, which takes no body, with a `size`-byte body and no API key."""
    head = f"POST /health HTTP/1.1\r\nHost: probe\r\nContent-Length: {size}\r\n\r\n".encode()
    return send_then_read(base_url, head, size, wait)


def stalled_bodies(base_url: str, connections: int, declared: int, sent: int, wait: float) -> list[str]:
    """`connections` requests to /faces each declaring `declared` bytes, sending `sent`, then stalling."""
    head = (
        f"POST /faces HTTP/1.1\r\nHost: probe\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
    ).encode()
    answers: list[str] = [""] * connections

    def one(index: int) -> None:
        answers[index] = send_then_read(base_url, head, sent, wait)

    threads = [threading.Thread(target=one, args=(index,)) for index in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def cut_short(base_url: str, body: bytes, declared: int) -> None:
    """A whole, valid /faces body under a longer declared length; the client then closes."""
    head = (
        f"POST /faces HTTP/1.1\r\nHost: probe\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
    ).encode()
    with socket.create_connection(_address(base_url), timeout=10) as sock:
        sock.sendall(head + body)
        time.sleep(0.5)


def faces_counted(base_url: str) -> float:
    """How many /faces requests the service has counted, from its metrics."""
    text = httpx.get(f"{base_url}/metrics", headers={"Authorization": f"Bearer {KEY}"}, timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("faceswap_requests_total{") and 'route="/faces"' in line
    )


def drip(base_url: str, data: bytes, wait: float) -> str:
    """Send `data` a byte a second; "closed" once the server closes, "open" after `wait` seconds."""
    with socket.create_connection(_address(base_url), timeout=wait) as sock:
        sock.settimeout(1.0)
        deadline = time.monotonic() + wait
        for byte in data:
            if time.monotonic() > deadline:
                return "open"
            try:
                sock.sendall(bytes([byte]))
                answer = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return "closed"
            return _status(answer)
        return _read_answer(sock, max(0.1, deadline - time.monotonic()))


def idle(base_url: str, wait: float) -> str:
    """Connect and send nothing."""
    with socket.create_connection(_address(base_url), timeout=wait) as sock:
        return _read_answer(sock, wait)


def over_connection_cap(base_url: str, held: int) -> str:
    """Hold `held` idle connections open, then ask for /health on one more."""
    sockets = [socket.create_connection(_address(base_url), timeout=10) for _ in range(held)]
    try:
        return str(httpx.get(f"{base_url}/health", timeout=10).status_code)
    except httpx.HTTPError:
        return "closed"
    finally:
        for sock in sockets:
            sock.close()


# ---------------------------------------------------------------------------------------------------
# Bodies and images.


def bracket_body(size: int, envelope: bool) -> bytes:
    """A /swap body whose `swaps` is `size` bytes of empty lists (or that under /runsync's `input`)."""
    lists = b"[]," * (size // 3) + b"[]"
    fields = b'"source_image": "x", "target_image": "x", "swaps": [' + lists + b"]"
    return b'{"input": {' + fields + b"}}" if envelope else b"{" + fields + b"}"


def _png(width: int, height: int, depth: int, colour: int) -> bytes:
    """A PNG of zeros, compressed row by row (the file is small; its pixels are not)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    channels = {0: 1, 2: 3}[colour]
    row = bytes(1 + width * channels * depth // 8)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([depth, colour, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def png_16bit_grey(side: int = 7000) -> bytes:
    """A `side`² 16-bit greyscale PNG."""
    return _png(side, side, 16, 0)


def png_8bit_rgb(side: int = 7000) -> bytes:
    """A `side`² 8-bit RGB PNG."""
    return _png(side, side, 8, 2)


def progressive_jpeg(side: int = 7071) -> bytes:
    """A `side`² progressive JPEG."""
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (128, 128, 128)).save(buffer, "JPEG", progressive=True, quality=50)
    return buffer.getvalue()


def face_png() -> bytes:
    """A small image with one synthetic face."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(draw_faces(160, 120, 1, seed=6)[0][:, :, ::-1])).save(buffer, "PNG")
    return buffer.getvalue()


def b64(data: bytes) -> str:
    """Standard base64 text."""
    import base64

    return base64.b64encode(data).decode("ascii")


@contextlib.contextmanager
def redirector() -> Iterator[int]:
    """An HTTP server on 127.0.0.1 redirecting /data to a data: URL and /backslash to a backslashed host."""
    targets = {"/data": "data:image/png;base64,AAAA", "/backslash": "http:\\\\127.0.0.1\\"}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", targets.get(self.path, "/"))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------------------------------------------
# Clips that attack the decoder: made here with PyAV (and a hand-written GIF), never shipped.


def _jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height), 128).save(buffer, "JPEG", quality=30)
    return buffer.getvalue()


def _mjpeg_mkv(tracks: int, size: tuple[int, int], frame: bytes, pts: list[int] | None = None) -> bytes:
    """A Matroska file of `tracks` MJPEG tracks whose header says `size`, each carrying the JPEG `frame`
    once at each of `pts` (default: once, at 0), in decoding order 0, 1, 2, …"""
    import av

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "clip.mkv"
        with av.open(str(path), "w", format="matroska") as output:
            streams = []
            for _ in range(tracks):
                stream = output.add_stream("mjpeg", rate=25)
                stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuvj420p"
                streams.append(stream)
            for number, stamp in enumerate(pts or [0]):
                for stream in streams:
                    packet = av.Packet(frame)
                    packet.stream, packet.time_base = stream, Fraction(1, 25)
                    packet.dts, packet.pts = number, stamp
                    output.mux(packet)
        return path.read_bytes()


def lying_header_clip() -> bytes:
    """An MKV whose header says 320x240 and whose one frame is 8000x4000."""
    return _mjpeg_mkv(1, (320, 240), _jpeg(8000, 4000))


def many_tracks_clip(tracks: int = 400) -> bytes:
    """An MKV of `tracks` 1080p video tracks, one frame each."""
    return _mjpeg_mkv(tracks, (1920, 1080), _jpeg(1920, 1080))


def huge_frame_clip() -> bytes:
    """A single-frame 7680x4320 clip (its header says so)."""
    return _mjpeg_mkv(1, (7680, 4320), _jpeg(7680, 4320))


def backwards_clip() -> bytes:
    """A 64x64 MKV whose eight frames' timestamps go backwards."""
    return _mjpeg_mkv(1, (64, 64), _jpeg(64, 64), [100 - 10 * number for number in range(8)])


def webm_with_aac() -> bytes:
    """A Matroska clip with AAC audio whose EBML DocType says webm."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "clip.mp4"
        write_clip(path, "mp4", frames=4, size=(64, 64), faces=0, audio=True)
        import av

        mkv = Path(scratch) / "clip.mkv"
        with av.open(str(path)) as source, av.open(str(mkv), "w", format="matroska") as output:
            video = output.add_stream_from_template(source.streams.video[0])
            audio = output.add_stream_from_template(source.streams.audio[0])
            for packet in source.demux():
                if packet.dts is None:
                    continue
                packet.stream = video if packet.stream.type == "video" else audio
                output.mux(packet)
        data = mkv.read_bytes()
    return data.replace(b"\x42\x82\x88matroska", b"\x42\x82\x88webm\x00\x00\x00\x00", 1)


def patched_sample_count() -> bytes:
    """An MP4 whose video sample count (stsz) claims far more samples than the file holds."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "clip.mp4"
        write_clip(path, "mp4", frames=4, size=(64, 64), faces=0, audio=False)
        data = bytearray(path.read_bytes())
    at = data.index(b"stsz") + 12  # size(4) "stsz" version+flags(4) sample_size(4) -> sample_count
    data[at : at + 4] = (0x7FFFFFFF).to_bytes(4, "big")
    return bytes(data)


def one_pixel_gif(frames: int = 3000, size: tuple[int, int] = (1920, 1080)) -> bytes:
    """A GIF with a `size` screen and `frames` frames of one pixel each (a few tens of KB)."""
    width, height = size
    screen = b"GIF89a" + width.to_bytes(2, "little") + height.to_bytes(2, "little") + b"\x80\x00\x00"
    palette = b"\x00\x00\x00\xff\xff\xff"
    loop = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    one = (
        b"\x21\xf9\x04\x00\x02\x00\x00\x00"  # 20 ms
        + b"\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00"  # a 1x1 image at the corner
        + b"\x02\x02\x44\x01\x00"  # LZW: clear, pixel 0, end
    )
    return screen + palette + loop + one * frames + b"\x3b"


def job_outcome(base_url: str, target: bytes, wait: float = 60.0, **fields: object) -> str:
    """POST /jobs with `target` as target_video, then poll: the final state and, when failed, its code."""
    body = {"source_image": b64(face_png()), "target_video": b64(target), **fields}
    headers = {"Authorization": f"Bearer {KEY}"}
    created = httpx.post(f"{base_url}/jobs", json=body, headers=headers, timeout=60)
    if created.status_code != 202:
        return post_answer(created)
    job = created.json()["id"]
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        status = httpx.get(f"{base_url}/jobs/{job}", headers=headers, timeout=30).json()
        if status["status"] not in ("queued", "running"):
            error = status.get("error") or {}
            return f"{status['status']} {error.get('error_code', '')}".strip()
        time.sleep(0.1)
    return "running"


def padded_base64(size: int, space: bytes = b"\\n") -> bytes:
    """A /swap body whose target_image is `size` characters of base64 with `space` (JSON for a line break,
    by default) after every 3."""
    field = (b"AAA" + space) * (size // 4)
    return b'{"source_image": "' + b64(face_png()).encode() + b'", "target_image": "' + field + b'"}'


def both_lengths(base_url: str) -> str:
    """A request with Content-Length: 4 and Transfer-Encoding: chunked: the status and the answer's code."""
    head = (
        f"POST /faces HTTP/1.1\r\nHost: probe\r\nAuthorization: Bearer {KEY}\r\n"
        "Content-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        "4\r\n{}  \r\n0\r\n\r\n"
    ).encode()
    with socket.create_connection(_address(base_url), timeout=10) as sock:
        sock.sendall(head)
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                answer += chunk
    status = _status(answer)
    body = answer.partition(b"\r\n\r\n")[2]
    has_id = b'"request_id"' in body
    code = body.split(b'"error_code": "', 1)[1].split(b'"', 1)[0].decode() if b'"error_code"' in body else ""
    return f"{status} {code}{'' if has_id else ' (no request id)'}".strip()


def many_faces_png(faces: int = 12) -> bytes:
    """A 1024x1024 image with `faces` synthetic faces."""
    buffer = io.BytesIO()
    image = draw_faces(1024, 1024, faces, seed=3)[0]
    Image.fromarray(np.ascontiguousarray(image[:, :, ::-1])).save(buffer, "PNG")
    return buffer.getvalue()


def costly_swap_body(faces: int = 12) -> dict[str, object]:
    """Every face, at pixel boost 512, restored, with every mask and colour matching."""
    target = b64(many_faces_png(faces))
    return {
        "source_image": b64(face_png()),
        "target_image": target,
        "target_index": "all",
        "pixel_boost": 512,
        "face_enhancer": {"model": "gfpgan_1.4"},
        "face_mask": {"types": ["box", "occlusion", "region"]},
        "color_match": True,
    }


def post_answer(response: httpx.Response) -> str:
    """A response as its status and, for a failure, its error code."""
    try:
        body = response.json()
    except ValueError:
        return str(response.status_code)
    output = body.get("output", body) if isinstance(body, dict) else {}
    code = output.get("error_code") if isinstance(output, dict) else None
    return f"{response.status_code} {code}" if code else str(response.status_code)


# ---------------------------------------------------------------------------------------------------
# The attacks, as rows.


@dataclass
class Row:
    """One attack: what was sent, and how to send it (returns the answer)."""

    label: str
    attack: Callable[[str], str]
    answer: str = ""
    seconds: float = 0.0
    cost: Cost = field(default_factory=Cost)


def post(base_url: str, path: str, **options: object) -> str:
    """POST with the key; the answer as its status and, for a failure, its error code."""
    headers = {"Authorization": f"Bearer {KEY}", **options.pop("headers", {})}  # type: ignore[dict-item]
    try:
        response = httpx.post(f"{base_url}{path}", headers=headers, timeout=60, **options)  # type: ignore[arg-type]
    except httpx.HTTPError as exc:
        return type(exc).__name__
    return post_answer(response)


def rows(wait: float, body_wait: float, redirect_port: int) -> list[Row]:
    """Every attack of the table in docs/security.md, in its order."""
    json_type = {"Content-Type": "application/json"}
    grey16, rgb8, progressive = png_16bit_grey(), png_8bit_rgb(), progressive_jpeg()

    def images(data: bytes) -> Callable[[str], str]:
        return lambda url: post(url, "/swap", json={"source_image": b64(data), "target_image": b64(data)})

    def redirect(path: str) -> Callable[[str], str]:
        target = f"http://127.0.0.1:{redirect_port}{path}"
        return lambda url: post(url, "/swap", json={"source_url": target, "target_url": target})

    return [
        Row(
            "16 MB /swap body of `swaps: [[],[],…]`",
            lambda url: post(url, "/swap", content=bracket_body(16 * MiB, False), headers=json_type),
        ),
        Row(
            "the same under /runsync `input`",
            lambda url: post(url, "/runsync", content=bracket_body(16 * MiB, True), headers=json_type),
        ),
        Row("64 MiB request header, no key", lambda url: huge_header(url, 64 * MiB, wait)),
        Row(
            "POST /health with a 48 MB body, no key", lambda url: post_without_body_route(url, 48 * MiB, wait)
        ),
        Row(
            "3 × /faces declaring 64 MB, sending 60 MB, stalling",
            lambda url: "/".join(stalled_bodies(url, 3, 64 * MiB, 60 * MiB, wait)),
        ),
        Row(
            "3 × /faces declaring 20 MB, sending 10 MB, stalling",
            lambda url: "/".join(stalled_bodies(url, 3, 20 * MiB, 10 * MiB, body_wait)),
        ),
        Row(
            "request head dripped at 1 byte/s",
            lambda url: drip(url, b"GET /health HTTP/1.1\r\nHost: probe\r\n" + b"X" * 100, wait),
        ),
        Row("an idle connection", lambda url: idle(url, wait)),
        Row("70 idle connections, then GET /health", lambda url: over_connection_cap(url, 70)),
        Row("7000² 16-bit PNG as source and target", images(grey16)),
        Row("7000² 8-bit RGB PNG as source and target", images(rgb8)),
        Row("7071² progressive JPEG as source and target", images(progressive)),
        Row(
            "`source_url` http://xn--ls8h.la/a.png",
            lambda url: post(
                url, "/swap", json={"source_url": "http://xn--ls8h.la/a.png", "target_image": b64(face_png())}
            ),
        ),
        Row("image host answering `302 Location: data:…`", redirect("/data")),
        Row("image host answering `302 Location: http:\\\\host\\`", redirect("/backslash")),
        Row(
            "clip: header 320x240, its frame 8000x4000 (job)",
            lambda url: job_outcome(url, lying_header_clip()),
        ),
        Row("clip: MKV of 400 1080p tracks (job)", lambda url: job_outcome(url, many_tracks_clip())),
        Row("clip: one 7680x4320 frame (job)", lambda url: job_outcome(url, huge_frame_clip())),
        Row(
            "GIF: 1920x1080 screen, 3000 one-pixel frames (job)",
            lambda url: job_outcome(url, one_pixel_gif()),
        ),
        Row("clip: timestamps going backwards (job)", lambda url: job_outcome(url, backwards_clip())),
        Row("clip: WebM DocType with AAC audio (job)", lambda url: job_outcome(url, webm_with_aac())),
        Row(
            "clip: MP4 with a patched sample count (job)",
            lambda url: job_outcome(url, patched_sample_count()),
        ),
        Row(
            "12 faces, `all`, pixel boost 512, restoration, every mask, colour",
            lambda url: post(url, "/swap", json=costly_swap_body()),
        ),
        Row(
            "40 MB of base64 with a line break every 4 characters",
            lambda url: post(url, "/swap", content=padded_base64(40 * MiB), headers=json_type),
        ),
        Row("`Content-Length: 4` with `Transfer-Encoding: chunked`", both_lengths),
        Row(
            "/swap/upload `target_index` of 5000 digits",
            lambda url: post(
                url,
                "/swap/upload",
                files={"source": face_png(), "target": face_png()},
                data={"target_index": "9" * 5000},
            ),
        ),
    ]


def run(root: Path, wait: float, body_wait: float, only: str = "") -> list[Row]:
    """Every row (or those whose label holds `only`) against a fresh service from `root`, one at a time;
    the cut-short body last (with every row only)."""
    with (
        tempfile.TemporaryDirectory() as scratch,
        redirector() as port,
        service(root, Path(scratch)) as (url, proc),
    ):
        table = [row for row in rows(wait, body_wait, port) if only in row.label]
        for row in table:
            with measured(url, proc.pid) as cost:
                began = time.monotonic()
                row.answer = row.attack(url)
                row.seconds = time.monotonic() - began
            row.cost = cost
            time.sleep(0.5)
        if only:
            return table
        body = b'{"image": "' + b64(face_png()).encode() + b'"}'
        before = faces_counted(url)
        cut_short(url, body, len(body) + 1000)
        time.sleep(1.0)
        processed = faces_counted(url) - before
        table.append(
            Row(
                "/faces body shorter than its Content-Length",
                lambda _: "",
                "processed" if processed else "dropped",
            )
        )
    return table


def markdown(table: list[Row]) -> str:
    """The rows as a Markdown table."""
    lines = [
        "| what was sent | answer | seconds | RSS rise (MB) | slowest /health (s) |",
        "|---|---|---|---|---|",
    ]
    for row in table:
        lines.append(
            f"| {row.label} | {row.answer} | {row.seconds:.1f} | {row.cost.rss_rise / 1e6:.0f} "
            f"| {row.cost.worst_health:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the probe and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose main_fixed.py to run")
    parser.add_argument("--wait", type=float, default=15.0, help="seconds an answer is waited for")
    parser.add_argument("--body-wait", type=float, default=75.0, help="the same for the stalled bodies")
    parser.add_argument("--only", default="", help="run only the rows whose label holds this text")
    args = parser.parse_args(argv)
    sys.stdout.write(markdown(run(args.root.resolve(), args.wait, args.body_wait, args.only)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
