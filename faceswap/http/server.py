"""Serving the ASGI app over HTTP: ``python main_fixed.py`` and RunPod's load-balancing mode.

The app listens on PORT and, when PORT_HEALTH differs, only its probes (/ping, /health) also answer
on PORT_HEALTH: one process, one event loop, one model load. Neither port sends a ``server`` header.
With ConnectionLimits (what ``python main_fixed.py`` passes) each connection's headers, idle time
and count are bounded.

SIGTERM (or SIGINT) starts the app's drain while both ports keep answering: probes say "draining", new
work is refused, in-flight requests get the drain timeout to finish and are then answered NOT_READY;
only then does the server stop, and the process ends with status 0 without waiting for stuck threads
(`exit_now`). A second signal stops at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import NoReturn

import uvicorn
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from faceswap.http.connection import ConnectionLimits

__all__ = [
    "DEFAULT_PORT",
    "PROBE_PATHS",
    "ListenAddress",
    "exit_now",
    "listen_address",
    "probe_only",
    "serve",
    "server_configs",
]

PROBE_PATHS = frozenset({"/ping", "/health"})
DEFAULT_PORT = 8000
_PORT_TEXT = re.compile(r"[0-9]{1,5}")
RESPONSE_GRACE = 0.5
"""Seconds the server gives answers still being written once the drain is over."""

Drain = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class ListenAddress:
    """Where the app listens: its port and, when separate, the probes' port."""

    host: str
    port: int
    health_port: int | None


def _port(environ: Mapping[str, str], name: str) -> int | None:
    """The port in `environ[name]`, None when unset or blank; ASCII digits only, from 1 to 65535."""
    text = environ.get(name, "").strip()
    if not text:
        return None
    if not _PORT_TEXT.fullmatch(text) or not 0 < int(text) < 65536:
        raise ValueError(f"{name} must be a TCP port number from 1 to 65535, not {text!r}.")
    return int(text)


def listen_address(environ: Mapping[str, str]) -> ListenAddress:
    """HOST (default 0.0.0.0), PORT (default 8000) and PORT_HEALTH (None when unset or equal to PORT)."""
    port = _port(environ, "PORT") or DEFAULT_PORT
    health_port = _port(environ, "PORT_HEALTH")
    host = environ.get("HOST", "").strip() or "0.0.0.0"
    return ListenAddress(host, port, None if health_port == port else health_port)


def probe_only(app: ASGIApp, paths: frozenset[str] = PROBE_PATHS) -> ASGIApp:
    """An ASGI app that passes the probe paths to `app` and answers 404 to anything else."""
    not_found = PlainTextResponse("Not Found", status_code=404)

    async def probe(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in paths:
            await app(scope, receive, send)
        elif scope["type"] == "http":
            await not_found(scope, receive, send)

    return probe


class _ProbeServer(uvicorn.Server):
    """The health port's server: the app's server owns the signals and stops this one."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _DrainingServer(uvicorn.Server):
    """The app's server: the first SIGTERM or SIGINT runs `drain`, then stops; a second stops at once.

    uvicorn raises a caught signal again once it has stopped, which made a clean drain exit with status
    143 unless the process was PID 1; the signal is handled here, so a drained exit is status 0.
    """

    def __init__(self, config: uvicorn.Config, drain: Drain) -> None:
        super().__init__(config)
        self._drain = drain
        self._loop: asyncio.AbstractEventLoop | None = None
        self._signalled = False
        self._draining: asyncio.Future[None] | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._signalled or self._loop is None:
            self.should_exit = self.force_exit = True
            return
        self._signalled = True
        self._loop.call_soon_threadsafe(self._start_drain)

    def _start_drain(self) -> None:
        self._draining = asyncio.ensure_future(self._drain_then_stop())

    async def _drain_then_stop(self) -> None:
        try:
            await self._drain()
        finally:
            self.should_exit = True


def server_configs(
    app: ASGIApp,
    address: ListenAddress,
    log_level: str = "info",
    drain_timeout: float | None = None,
    limits: ConnectionLimits | None = None,
) -> list[uvicorn.Config]:
    """The app's server config and, when the probes have a port of their own, theirs."""
    bounded = limits.uvicorn_options() if limits is not None else {}
    configs = [
        uvicorn.Config(
            app,
            host=address.host,
            port=address.port,
            lifespan="on",
            log_level=log_level,
            server_header=False,
            timeout_graceful_shutdown=drain_timeout,
            **bounded,
        )
    ]
    if address.health_port is not None:
        configs.append(
            uvicorn.Config(
                probe_only(app),
                host=address.host,
                port=address.health_port,
                lifespan="off",
                log_level=log_level,
                access_log=False,
                server_header=False,
                **bounded,
            )
        )
    return configs


async def serve(
    app: ASGIApp,
    address: ListenAddress,
    log_level: str = "info",
    drain_timeout: float | None = None,
    limits: ConnectionLimits | None = None,
    drain: Drain | None = None,
) -> None:
    """Serve `app` (its lifespan runs once) and, on a separate health port, only its probes.

    On SIGTERM, `drain()` runs while both ports keep serving, and the server stops when it returns;
    without one, uvicorn gives in-flight requests `drain_timeout` seconds. `limits` bound each connection.
    """
    grace = RESPONSE_GRACE if drain is not None else drain_timeout
    main_config, *probe_configs = server_configs(app, address, log_level, grace, limits)
    main = uvicorn.Server(main_config) if drain is None else _DrainingServer(main_config, drain)
    if not probe_configs:
        await main.serve()
        return
    probes = _ProbeServer(probe_configs[0])
    probe_task = asyncio.create_task(probes.serve(), name="health-port")
    try:
        await main.serve()
    finally:
        probes.should_exit = True
        await probe_task


def exit_now(code: int) -> NoReturn:
    """End the process with `code` once the logs are flushed, without waiting for threads still running
    abandoned work (the interpreter would join them: a stuck swap would hold the exit past any deadline)."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
