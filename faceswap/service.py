"""What every adapter shares: input resolution, the deadline, the concurrency limit, the worker threads."""

from __future__ import annotations

import asyncio
import base64
import binascii
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from faceswap.config import Settings
from faceswap.errors import ErrorCode, SwapError
from faceswap.fetch import ImageFetcher
from faceswap.imaging import to_base64
from faceswap.lifecycle import ModelLifecycle
from faceswap.schemas import SwapInput

__all__ = ["Limiter", "SwapService", "decode_base64_image"]

T = TypeVar("T")

BUSY_RETRY_AFTER = 2


def decode_base64_image(text: str, role: str, max_bytes: int) -> bytes:
    """The bytes of a base64 image field, size-checked before decoding."""
    payload = text.strip()
    if payload.startswith("data:"):
        header, comma, payload = payload.partition(",")
        if not comma or not header.endswith(";base64") or not header.startswith("data:image/"):
            raise SwapError(
                ErrorCode.INVALID_INPUT,
                f"{role}_image has a data: prefix that is not data:image/...;base64,",
            )
    if len(payload) // 4 * 3 > max_bytes + 3:
        raise SwapError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"The {role} image is larger than the {max_bytes // (1024 * 1024)} MiB limit.",
        )
    try:
        data = base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SwapError(ErrorCode.INVALID_INPUT, f"{role}_image is not valid base64.") from exc
    if not data:
        raise SwapError(ErrorCode.INVALID_IMAGE, f"The {role} image is empty.")
    if len(data) > max_bytes:
        raise SwapError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"The {role} image is larger than the {max_bytes // (1024 * 1024)} MiB limit.",
        )
    return data


class Limiter:
    """At most `concurrency` jobs at once and `queue` waiting; beyond that, BUSY at once."""

    def __init__(self, concurrency: int, queue: int) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._queue = queue
        self.waiting = 0
        self.running = 0

    async def acquire(self) -> None:
        """Wait for a slot, or refuse when the queue is full."""
        if self._slots.locked() and self.waiting >= self._queue:
            raise SwapError(
                ErrorCode.BUSY,
                "The worker is busy with other requests; retry shortly.",
                retry_after=BUSY_RETRY_AFTER,
            )
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.running += 1

    def release(self) -> None:
        """Give a slot back (call on the event loop's thread)."""
        self.running -= 1
        self._slots.release()


class SwapService:
    """Turns a validated request into a response body, within the deadline and the concurrency limit."""

    def __init__(self, settings: Settings, lifecycle: ModelLifecycle, fetcher: ImageFetcher) -> None:
        self.settings = settings
        self.lifecycle = lifecycle
        self.fetcher = fetcher
        self.limiter = Limiter(settings.max_concurrency, settings.max_queue)
        self._executor = ThreadPoolExecutor(max_workers=settings.max_concurrency, thread_name_prefix="swap")

    def close(self) -> None:
        """Let running jobs finish, then stop the worker threads."""
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def swap(self, request: SwapInput, request_id: str) -> dict[str, Any]:
        """Fetch, queue and swap within the request's deadline; the success body of the contract."""
        deadline = time.monotonic() + self.settings.request_timeout
        try:
            async with asyncio.timeout(self.settings.request_timeout):
                return await self._swap(request, request_id, deadline)
        except TimeoutError as exc:
            raise SwapError(
                ErrorCode.TIMEOUT,
                f"The request took longer than {self.settings.request_timeout:g} seconds and was stopped.",
            ) from exc

    async def _swap(self, request: SwapInput, request_id: str, deadline: float) -> dict[str, Any]:
        engine = self.lifecycle.engine()
        started = time.perf_counter()
        images = await self.resolve_images(
            {
                "source": (request.source_url, request.source_image),
                "target": (request.target_url, request.target_image),
            }
        )
        fetch_ms = round((time.perf_counter() - started) * 1000.0, 2)
        result = await self.run_blocking(
            lambda checkpoint: engine.swap(
                images["source"],
                images["target"],
                source_index=request.source_index,
                target_index=request.target_index,
                output_format=request.output_format,
                checkpoint=checkpoint,
            ),
            deadline,
        )
        timings = {"fetch": fetch_ms, "decode": 0.0, "detect": 0.0, "swap": 0.0, "encode": 0.0}
        timings.update(result.timings_ms)
        body: dict[str, Any] = {
            "success": True,
            "message": "ok",
            "image_base64": to_base64(result.image),
            "format": result.format,
            "width": result.width,
            "height": result.height,
            "source_faces": result.source_faces,
            "target_faces": result.target_faces,
            "timings_ms": timings,
            "request_id": request_id,
        }
        if result.recoveries:
            body["recoveries"] = result.recoveries
        return body

    async def resolve_images(self, fields: dict[str, tuple[str | None, str | None]]) -> dict[str, bytes]:
        """Each role's bytes: base64 decoded, URLs fetched concurrently."""
        images: dict[str, bytes] = {}
        urls: dict[str, str] = {}
        for role, (url, encoded) in fields.items():
            if encoded is not None:
                images[role] = decode_base64_image(encoded, role, self.settings.max_download_bytes)
            elif url is not None:
                urls[role] = url
        if urls:
            images.update(await self.fetcher.fetch_all(urls))
        return images

    async def run_blocking(self, job: Callable[[Callable[[], None]], T], deadline: float) -> T:
        """Run `job(checkpoint)` on a worker thread under the limiter.

        The slot is held until the thread really finishes, even when the caller stops waiting
        (deadline, client gone): a limit of 1 stays 1. `checkpoint` raises TIMEOUT once the
        deadline passed or the caller gave up, so abandoned work stops at the next stage.
        """
        await self.limiter.acquire()
        loop = asyncio.get_running_loop()
        abandoned = threading.Event()

        def checkpoint() -> None:
            if abandoned.is_set() or time.monotonic() > deadline:
                raise SwapError(ErrorCode.TIMEOUT, "The request ran out of time and was stopped.")

        try:
            future: Future[T] = self._executor.submit(job, checkpoint)
        except BaseException:
            self.limiter.release()
            raise
        future.add_done_callback(lambda _: loop.call_soon_threadsafe(self.limiter.release))
        try:
            return await asyncio.wrap_future(future)
        except BaseException:
            abandoned.set()
            raise
