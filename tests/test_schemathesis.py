"""Schemathesis over the service's own OpenAPI schema, against a real uvicorn on 127.0.0.1: never a 5xx.

The service runs as in production (private URLs refused, default limits) except for its fetcher, whose
resolver and network stand in for the internet: every name resolves to one public address, and every
connection answers with a small faceless PNG, so a generated URL that passes the policy is downloaded
(and then has no face) while no byte leaves the machine. The run is bounded and deterministic: a fixed
seed, the schema's examples and coverage cases plus ``MAX_EXAMPLES`` fuzzed ones per operation (about
500 requests in all), no stateful phase.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import ssl
from collections.abc import Iterable, Iterator
from pathlib import Path

import httpcore
import httpx
import pytest
import schemathesis
from PIL import Image
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig

from faceswap.config import Settings
from faceswap.fetch import ImageFetcher
from faceswap.http import app as api
from faceswap.http.app import create_app
from tests.servers import app_in_thread, wait_ready

MAX_EXAMPLES = 50
SEED = 20_240_611
PUBLIC_ADDRESS = "93.184.215.14"


def _grey_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (128, 128, 128)).save(buffer, "PNG")
    return buffer.getvalue()


GREY_PNG = _grey_png()
REPLY = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: %d\r\n\r\n%b" % (
    len(GREY_PNG),
    GREY_PNG,
)


class CannedStream(httpcore.AsyncNetworkStream):
    """One connection to the stand-in internet: it answers every request with the same PNG."""

    def __init__(self) -> None:
        self._left = b""

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        part, self._left = self._left[:max_bytes], self._left[max_bytes:]
        return part

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if buffer.endswith(b"\r\n\r\n"):
            self._left += REPLY

    async def aclose(self) -> None:
        self._left = b""

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        return self


class CannedInternet(httpcore.AsyncNetworkBackend):
    """A network that opens no socket: it records where the fetcher connected and hands out a CannedStream."""

    def __init__(self) -> None:
        self.opened: list[tuple[str, int]] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.opened.append((host, port))
        return CannedStream()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def public_resolver(host: str) -> list[str]:
    """Every name resolves to one public address, without asking DNS."""
    return [PUBLIC_ADDRESS]


CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "generation": {"max-examples": MAX_EXAMPLES},
        "phases": {"stateful": {"enabled": False}},
    }
)
SCHEMA = schemathesis.openapi.from_dict(create_app(Settings()).openapi(), config=CONFIG)


@pytest.fixture(scope="module")
def internet() -> CannedInternet:
    """The stand-in internet the fetcher connects to."""
    return CannedInternet()


@pytest.fixture(scope="module")
def base_url(model_dir: Path, internet: CannedInternet) -> Iterator[str]:
    """The service under a real uvicorn, with its fetcher on the stand-in internet, ready."""
    settings = Settings(model_dir=model_dir, providers="cpu")
    fetcher = functools.partial(ImageFetcher, resolver=public_resolver, network=internet)
    with contextlib.ExitStack() as stack:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(api, "ImageFetcher", fetcher)
            url = stack.enter_context(app_in_thread(create_app(settings)))
        wait_ready(url)
        yield url


@SCHEMA.parametrize()
def test_no_generated_request_gets_a_server_error(case: schemathesis.Case, base_url: str) -> None:
    case.call_and_validate(base_url=base_url, checks=[not_a_server_error], timeout=60)


def test_a_url_that_passes_the_policy_is_fetched_from_the_stand_in_internet(
    base_url: str, internet: CannedInternet
) -> None:
    body = {"source_url": "https://images.example/a.png", "target_url": "http://images.example/b.png"}
    response = httpx.post(f"{base_url}/swap", json=body, timeout=60)
    assert response.status_code == 422, response.text
    assert response.json()["error_code"] == "NO_FACE"
    assert {(PUBLIC_ADDRESS, 443), (PUBLIC_ADDRESS, 80)} <= set(internet.opened)
    assert {host for host, _ in internet.opened} == {PUBLIC_ADDRESS}
