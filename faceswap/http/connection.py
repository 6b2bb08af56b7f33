"""What one connection may cost the server: header size and deadline, idle time, and how many at once.

uvicorn's h11 protocol gives the header size limit (``h11_max_incomplete_event_size``), the idle
keep-alive timeout and, with ``limit_concurrency``, a 503 to requests beyond the connection cap. It has
no deadline for the request line and headers, so a client dripping them a byte a second, or connecting
and sending nothing, held its connection for ever; ``deadline_protocol`` adds one. The body's own
deadline and cap are per route, in the middleware.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from faceswap.config import Settings

__all__ = [
    "SERVER_LIMIT_VARIABLES",
    "BoundedH11Protocol",
    "ConnectionLimits",
    "deadline_protocol",
    "missing_server_limits",
]


@dataclass(frozen=True)
class ConnectionLimits:
    """The per-connection limits from the settings, as uvicorn's Config takes them."""

    max_connections: int
    max_header_bytes: int
    header_timeout: float
    keep_alive_timeout: float

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        """The limits `settings` configures."""
        return cls(
            settings.max_connections,
            settings.max_header_bytes,
            settings.header_timeout,
            settings.keep_alive_timeout,
        )

    def uvicorn_options(self) -> dict[str, Any]:
        """Keyword arguments for uvicorn.Config."""
        return {
            "http": deadline_protocol(self.header_timeout),
            "h11_max_incomplete_event_size": self.max_header_bytes,
            "limit_concurrency": self.max_connections,
            "timeout_keep_alive": self.keep_alive_timeout,
        }


def deadline_protocol(header_timeout: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol, closing a connection whose request head takes over `header_timeout` seconds."""

    class HeaderDeadlineProtocol(H11Protocol):
        header_deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_header_deadline()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is h11.IDLE:
                self._arm_header_deadline()
            else:
                self._disarm_header_deadline()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_deadline()
            super().connection_lost(exc)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._disarm_header_deadline()  # between requests the keep-alive timeout applies

        def _arm_header_deadline(self) -> None:
            if self.header_deadline is None and not self.transport.is_closing():
                self.header_deadline = self.loop.call_later(header_timeout, self._headers_too_slow)

        def _disarm_header_deadline(self) -> None:
            if self.header_deadline is not None:
                self.header_deadline.cancel()
                self.header_deadline = None

        def _headers_too_slow(self) -> None:
            self.header_deadline = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()

    return HeaderDeadlineProtocol


SERVER_LIMIT_VARIABLES: Mapping[str, str] = {
    "UVICORN_HTTP": "faceswap.http.connection:BoundedH11Protocol",
    "UVICORN_H11_MAX_INCOMPLETE_EVENT_SIZE": "65536",
    "UVICORN_LIMIT_CONCURRENCY": "64",
    "UVICORN_TIMEOUT_KEEP_ALIVE": "5",
    "UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN": "30",
}
"""The environment `uvicorn main_fixed:app` needs for the limits `python main_fixed.py` sets (the image's)."""


def missing_server_limits(environ: Mapping[str, str]) -> list[str]:
    """The UVICORN_* limits `environ` leaves unset (or, for the protocol, not ours), for the start warning."""
    missing = [name for name in SERVER_LIMIT_VARIABLES if not environ.get(name, "").strip()]
    protocol = environ.get("UVICORN_HTTP", "").strip()
    if protocol and not protocol.startswith("faceswap.http.connection:"):
        missing.insert(0, "UVICORN_HTTP")
    return missing


# For ``uvicorn --http faceswap.http.connection:BoundedH11Protocol``: the protocol at the default deadline.
BoundedH11Protocol = deadline_protocol(Settings.model_fields["header_timeout"].default)
