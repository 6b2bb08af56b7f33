"""Real servers on 127.0.0.1 for end-to-end tests: an image host and the service itself."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path

import anyio
import httpcore
import httpx
import uvicorn

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Route:
    """What the image host answers on one path."""

    body: bytes = b""
    status: int = 200
    content_type: str = "image/png"
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


class ImageHost:
    """A threaded HTTP server on 127.0.0.1 serving fixed routes and recording every hit."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: list[str] = []
        self.uploads: dict[str, bytes] = {}
        self.upload_status: dict[str, int] = {}
        self.posts: list[tuple[str, bytes, dict[str, str]]] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host.hits.append(self.path)
                route = host.routes.get(self.path, Route(b"not found", 404, "text/plain"))
                if route.delay:
                    time.sleep(route.delay)
                try:
                    self.send_response(route.status)
                    self.send_header("Content-Type", route.content_type)
                    self.send_header("Content-Length", str(len(route.body)))
                    for name, value in route.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(route.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_PUT(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                status = host.upload_status.get(self.path, 200)
                if status < 300:
                    host.uploads[self.path] = body
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                host.posts.append((self.path, self.rfile.read(length), dict(self.headers.items())))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        """The full URL of `path` on this host."""
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, path: str, body: bytes, **options: object) -> str:
        """Serve `body` at `path`; returns its URL."""
        self.routes[path] = Route(body, **options)  # type: ignore[arg-type]
        return self.url(path)

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def app_in_thread(app: object) -> Iterator[str]:
    """Run an ASGI app under a real uvicorn on 127.0.0.1 in this process; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def wait_until(check: Callable[[], bool], timeout: float = 60.0, interval: float = 0.05) -> None:
    """Poll `check` until it is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def wait_ready(base_url: str, timeout: float = 60.0) -> None:
    """Wait for /health to answer 200."""

    def ready() -> bool:
        try:
            return httpx.get(f"{base_url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(ready, timeout)


@contextmanager
def service_process(
    env: dict[str, str], *args: str, entry: bool = False
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`uvicorn main_fixed:app` (or with `entry`, `python main_fixed.py`) as a child process on a free port;
    yields (base URL, process)."""
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="faceswap-data-")  # jobs never go to the checkout's ./data
    env = {"FACESWAP_DATA_DIR": data_dir, **env}
    command = [sys.executable, "-m", "uvicorn", "main_fixed:app", "--host", "127.0.0.1", "--port", str(port)]
    if entry:
        command = [sys.executable, "main_fixed.py"]
        env = {**env, "HOST": "127.0.0.1", "PORT": str(port)}
    log = tempfile.TemporaryFile()  # noqa: SIM115 (a pipe nobody drains would block the server once full)
    process = subprocess.Popen(
        [*command, *args],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the service exited with {process.returncode}")
        try:
            httpx.get(f"{base_url}/ping", timeout=2)
        except httpx.HTTPError:
            return False
        return True

    try:
        wait_until(answering, 60)
        yield base_url, process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()


class LoopbackOnly(httpcore.AsyncNetworkBackend):
    """Opens real connections to loopback addresses only; anything else is recorded and refused unopened."""

    def __init__(self) -> None:
        self.inner = httpcore.AnyIOBackend()
        self.opened: list[tuple[str, int]] = []
        self.refused: list[str] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if not ip_address(host).is_loopback:
            self.refused.append(host)
            raise httpcore.ConnectError("the tests never connect off loopback")
        self.opened.append((host, port))
        return await self.inner.connect_tcp(host, port, timeout=timeout, socket_options=socket_options)

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)
