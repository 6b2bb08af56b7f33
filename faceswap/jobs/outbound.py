"""One outbound request that must arrive (a result upload, a webhook), retried until it does or a bound ends.

The request goes through the connection guard of every download (``fetch.GuardedNetworkBackend``: the
URL and every resolved address checked, no proxies, no redirects followed). A 2xx answer is success; 5xx,
408, 429, timeouts and broken connections are tried again after a backoff pause (doubling, with jitter,
never shorter than the answer's ``Retry-After``), until the attempts or the total time allowed run out;
any other answer is final. Of a reply's body at most ``REPLY_EXCERPT_BYTES`` are read, for the message.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpcore
import httpx

from faceswap.config import Settings
from faceswap.errors import BlockedAddressError, DeliveryError, ErrorCode, SwapError
from faceswap.fetch import GuardedNetworkBackend, GuardedTransport
from faceswap.runtime.backoff import backoff_delays
from faceswap.urlguard import ParsedTarget, check_url

__all__ = ["REPLY_EXCERPT_BYTES", "Bounds", "RequestFactory", "checked_target", "deliver"]

logger = logging.getLogger(__name__)

REPLY_EXCERPT_BYTES = 4096
BACKOFF_CAP = 60.0
_RETRIED_STATUSES = frozenset({408, 429})
_HEADERS = {"User-Agent": "faceswap", "Accept-Encoding": "identity"}
_XML_CODE = re.compile(rb"<Code>([^<]{1,100})</Code>")
_XML_MESSAGE = re.compile(rb"<Message>([^<]{1,300})</Message>")
_TEXT_TYPES = ("text/plain", "application/json", "application/problem+json")

RequestFactory = Callable[[httpx.AsyncClient, httpx.URL], httpx.Request]
"""Builds one attempt's request (a fresh body stream and signature each time) for a checked URL."""


@dataclass(frozen=True)
class Bounds:
    """How long a delivery may keep trying: tries, seconds in all, and the first backoff pause."""

    attempts: int
    total_seconds: float
    first_pause: float


@dataclass(frozen=True)
class _Outcome:
    """What one attempt came to."""

    delivered: bool
    problem: str = ""
    retry: bool = False
    retry_after: float | None = None
    refused: bool = False


def _excerpt_of(head: bytes, content_type: str) -> str:
    """A short, printable account of an error reply: a bucket's <Code>/<Message>, or the start of a text."""
    code, message = _XML_CODE.search(head), _XML_MESSAGE.search(head)
    if code is not None:
        parts = [code.group(1), *([message.group(1)] if message is not None else [])]
        text = ": ".join(part.decode("utf-8", "replace") for part in parts)
    elif content_type.split(";")[0].strip().lower() in _TEXT_TYPES:
        text = head.decode("utf-8", "replace")
    else:
        return ""
    cleaned = " ".join("".join(char for char in text if char.isprintable() or char.isspace()).split())
    return cleaned[:200]


def _retry_after(response: httpx.Response) -> float | None:
    """The pause a 429 or 503 asks for (seconds or an HTTP date), if it says one."""
    value = response.headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


async def _read_head(response: httpx.Response) -> bytes:
    """At most REPLY_EXCERPT_BYTES of the reply's body; the rest is never read."""
    head = bytearray()
    try:
        async for chunk in response.aiter_raw():
            head += chunk[: REPLY_EXCERPT_BYTES - len(head)]
            if len(head) >= REPLY_EXCERPT_BYTES:
                break
    except (httpx.HTTPError, httpx.StreamError, httpcore.NetworkError, httpcore.ProtocolError):
        pass  # the status is the answer; a body that breaks off only shortens the message
    return bytes(head)


async def _judged(response: httpx.Response) -> _Outcome:
    """The outcome an answer means, reading at most a few KB of an error reply's body."""
    status = response.status_code
    if response.is_success:
        return _Outcome(delivered=True)
    if response.is_redirect:
        return _Outcome(False, f"HTTP {status} (a redirect, which deliveries do not follow)")
    excerpt = _excerpt_of(await _read_head(response), response.headers.get("content-type", ""))
    problem = f"HTTP {status}" + (f" ({excerpt})" if excerpt else "")
    retry = status >= 500 or status in _RETRIED_STATUSES
    return _Outcome(False, problem, retry=retry, retry_after=_retry_after(response) if retry else None)


async def _attempt(client: httpx.AsyncClient, request: httpx.Request) -> _Outcome:
    """Send one request and judge it; transport failures become outcomes, never exceptions."""
    try:
        response = await client.send(request, stream=True)
    except BlockedAddressError:
        return _Outcome(False, "the host resolves to a private or reserved network address", refused=True)
    except (httpx.InvalidURL, UnicodeError):
        return _Outcome(False, "the host name is not valid")
    except (httpcore.TimeoutException, httpx.TimeoutException):
        return _Outcome(False, "no answer in time", retry=True)
    except (httpcore.ConnectError, httpx.ConnectError):
        return _Outcome(False, "the host could not be reached", retry=True)
    except (httpcore.NetworkError, httpcore.ProtocolError, httpx.TransportError, httpx.StreamError, OSError):
        return _Outcome(False, "the connection broke off", retry=True)
    try:
        return await _judged(response)
    finally:
        await response.aclose()


def _guarded_client(settings: Settings) -> httpx.AsyncClient:
    """An HTTP client whose every connection passes the URL policy's address checks."""
    backend = GuardedNetworkBackend(
        allowlist=settings.url_allowlist, allow_private=settings.allow_private_urls
    )
    transport = GuardedTransport(
        backend, ssl_context=httpx.create_ssl_context(trust_env=False), max_connections=1
    )
    return httpx.AsyncClient(
        transport=transport,
        trust_env=False,
        follow_redirects=False,
        headers=_HEADERS,
        timeout=httpx.Timeout(settings.fetch_timeout, connect=settings.fetch_connect_timeout),
    )


def checked_target(url: str, what: str, settings: Settings) -> ParsedTarget:
    """The URL checked against the policy; a refusal is a DeliveryError (URL_NOT_ALLOWED) naming `what`."""
    try:
        return check_url(
            url, allowlist=settings.url_allowlist, allow_private=settings.allow_private_urls, label=what
        )
    except SwapError as exc:
        raise DeliveryError(exc.message, code=ErrorCode.URL_NOT_ALLOWED) from exc


def _attempts(count: int) -> str:
    return f"{count} attempt" if count == 1 else f"{count} attempts"


@dataclass
class _Tally:
    """How far a delivery got: attempts made, the last outcome, and why it stopped early."""

    label: str
    tries: int = 0
    last: _Outcome = field(default_factory=lambda: _Outcome(False, "no attempt finished"))
    stopped: str = ""


async def _keep_trying(
    client: httpx.AsyncClient, url: httpx.URL, make: RequestFactory, bounds: Bounds, tally: _Tally
) -> None:
    """Attempt until one delivers, one is final, or a bound ends; `tally` keeps the count and last outcome."""
    delays = backoff_delays(bounds.first_pause, BACKOFF_CAP)
    loop = asyncio.get_running_loop()
    ends = loop.time() + bounds.total_seconds
    while True:
        tally.tries += 1
        tally.last = outcome = await _attempt(client, make(client, url))
        if outcome.delivered or not outcome.retry or tally.tries >= bounds.attempts:
            return
        logger.warning("%s: attempt %d failed: %s", tally.label, tally.tries, outcome.problem)
        pause = next(delays) * random.uniform(0.5, 1.0)  # noqa: S311 (jitter, not a secret)
        pause = max(pause, outcome.retry_after or 0.0)
        if loop.time() + pause >= ends:
            tally.stopped = f"; the {bounds.total_seconds:g} s allowed ran out"
            return
        await asyncio.sleep(pause)


async def deliver(url: str, what: str, make: RequestFactory, bounds: Bounds, settings: Settings) -> None:
    """Send `make`'s request to `url` until it is answered 2xx; else DeliveryError naming `what` and the host.

    `what` is the message's subject: "Result upload", "Webhook".
    """
    target = checked_target(url, what.lower(), settings)
    label = f"{what} to {target.host}"
    tally = _Tally(label)
    try:
        async with _guarded_client(settings) as client, asyncio.timeout(bounds.total_seconds):
            await _keep_trying(client, target.url, make, bounds, tally)
    except TimeoutError as exc:
        raise DeliveryError(
            f"{label} failed: it did not finish within the {bounds.total_seconds:g} s allowed "
            f"({_attempts(tally.tries)}; the last answer: {tally.last.problem})."
        ) from exc
    if tally.last.delivered:
        logger.info("%s: delivered after %s", label, _attempts(tally.tries))
        return
    code = ErrorCode.URL_NOT_ALLOWED if tally.last.refused else ErrorCode.DELIVERY_FAILED
    message = f"{label} failed: {tally.last.problem} after {_attempts(tally.tries)}{tally.stopped}."
    logger.warning("%s", message)
    raise DeliveryError(message, code=code)
