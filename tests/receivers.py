"""A scripted HTTP receiver on 127.0.0.1 for uploads and webhooks: each request gets the next answer."""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ZEROS = bytes(64 * 1024)
KEPT_BODY_BYTES = 4 * 1024 * 1024  # a larger request body is hashed as it arrives, not kept


@dataclass(frozen=True)
class Answer:
    """How the receiver answers one request."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    zeros: int = 0  # a body of this many zero bytes (declared by Content-Length), streamed
    endless: bool = False  # a chunked body that never ends
    hang: bool = False  # read the request, never answer
    drop: bool = False  # read the request, close the connection without an answer


@dataclass
class Received:
    """One request as it arrived (a large body only hashed), and how much of the answer's body was written."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    size: int
    sha256: str
    sent: int = 0


class Receiver:
    """A threaded HTTP/1.1 server answering PUT and POST with `answers` in turn (the last one repeats)."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers) or [Answer()]
        self.received: list[Received] = []
        self._closing = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _receive(self) -> None:
                body, size, digest = receiver._read_body(self)
                headers = {name.lower(): value for name, value in self.headers.items()}
                record = Received(self.command, self.path, headers, body, size, digest)
                with receiver._lock:
                    answer = receiver.answers[min(len(receiver.received), len(receiver.answers) - 1)]
                    receiver.received.append(record)
                self.close_connection = True
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    receiver._answer(self, answer, record)

            def do_PUT(self) -> None:
                self._receive()

            def do_POST(self) -> None:
                self._receive()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @staticmethod
    def _read_body(handler: BaseHTTPRequestHandler) -> tuple[bytes, int, str]:
        """The request body (kept up to KEPT_BODY_BYTES), its size and its SHA-256, read in chunks."""
        remaining = int(handler.headers.get("Content-Length", "0"))
        kept, size, digest = bytearray(), 0, hashlib.sha256()
        while remaining > 0 and (chunk := handler.rfile.read(min(remaining, len(ZEROS)))):
            remaining -= len(chunk)
            size += len(chunk)
            digest.update(chunk)
            if size <= KEPT_BODY_BYTES:
                kept += chunk
        return (bytes(kept) if size <= KEPT_BODY_BYTES else b""), size, digest.hexdigest()

    def _answer(self, handler: BaseHTTPRequestHandler, answer: Answer, record: Received) -> None:
        """Write `answer`, counting the body bytes written in `record.sent`."""
        if answer.hang:
            self._closing.wait(60)
            return
        if answer.drop:
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        handler.send_response(answer.status)
        for name, value in answer.headers.items():
            handler.send_header(name, value)
        if answer.endless:
            handler.send_header("Transfer-Encoding", "chunked")
        else:
            handler.send_header("Content-Length", str(answer.zeros or len(answer.body)))
        handler.end_headers()
        if answer.endless:
            chunk = b"%x\r\n%s\r\n" % (len(ZEROS), ZEROS)
            while not self._closing.is_set():
                handler.wfile.write(chunk)
                record.sent += len(ZEROS)
        elif answer.zeros:
            while record.sent < answer.zeros and not self._closing.is_set():
                handler.wfile.write(ZEROS[: answer.zeros - record.sent])
                record.sent += min(len(ZEROS), answer.zeros - record.sent)
        else:
            handler.wfile.write(answer.body)
            record.sent = len(answer.body)

    def url(self, path: str = "/out") -> str:
        """The full URL of `path` on this receiver."""
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        """Stop serving and release every answer still hanging or streaming."""
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()


class Receivers:
    """The receivers one test starts, all closed after it (the `receivers` fixture)."""

    def __init__(self) -> None:
        self.made: list[Receiver] = []

    def serve(self, *answers: Answer) -> Receiver:
        """A new receiver answering `answers` in turn."""
        receiver = Receiver(*answers)
        self.made.append(receiver)
        return receiver

    def close(self) -> None:
        for receiver in self.made:
            receiver.close()
