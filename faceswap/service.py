"""What every adapter shares: inputs resolved, the Engine run under the deadline and the limiter."""

from __future__ import annotations

import asyncio
import binascii
import re
import threading
import time
import traceback
from collections.abc import Callable, Coroutine
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

import pybase64

from faceswap.config import Settings
from faceswap.errors import ErrorCode, SwapError, image_label, image_too_large
from faceswap.fetch import ImageFetcher
from faceswap.lifecycle import ModelLifecycle
from faceswap.limiter import Limiter, Share, busy
from faceswap.metrics import Metrics
from faceswap.pipeline.deadline import Deadline
from faceswap.pipeline.encode import encode_image, to_base64
from faceswap.pipeline.preview import annotate_faces
from faceswap.provenance.report import ProvenanceInput, ProvenanceReport, check_file
from faceswap.runtime.memory import release_free_heap
from faceswap.schemas import (
    FaceOut,
    FacesInput,
    FacesOutput,
    SwapInput,
    SwapOptions,
    SwapOutput,
    SwappedFace,
    validated,
)

if TYPE_CHECKING:
    from faceswap.pipeline.engine import Engine, SwapResult

__all__ = [
    "DRAINED_MESSAGE",
    "PREFIX_WITHIN",
    "SwapService",
    "decode_base64_image",
    "extra_sources",
    "most_base64_characters",
    "swap_photo",
]

T = TypeVar("T")
DRAINED_MESSAGE = "The worker is draining for shutdown and stopped this request; send it again."
DRAIN_POLL = 0.05


_LEADING_SPACE = re.compile(r"\s*")
_SPACE_CHARACTERS = " \t\n\r\f\v"
_SPACE_BYTES = _SPACE_CHARACTERS.encode()
PREFIX_WITHIN = 256
"""Characters a base64 field's data: prefix may take (after any leading whitespace)."""


def most_base64_characters(max_bytes: int) -> int:
    """The most characters other than whitespace the base64 of a `max_bytes`-byte file may have: the
    decoder refuses a field with more before decoding it."""
    return (max_bytes + 3) // 3 * 4 + 3


def decode_base64_image(text: str, role: str, max_bytes: int) -> bytes:
    """The bytes of a base64 image field, size-checked before any copy is made.

    Whitespace is counted in place and the size judged without it, so a field padded with line breaks
    costs one copy of its text at most, and only when it fits.
    """
    field = "image" if role == "image" else f"{role}_image" if " " not in role else f"the {role} photo"
    start = _LEADING_SPACE.match(text).end()  # type: ignore[union-attr]
    if text[start : start + 5].lower() == "data:":  # a media type is case-insensitive (RFC 2397)
        comma = text.find(",", start, start + PREFIX_WITHIN)
        header = text[start:comma].lower() if comma >= 0 else ""
        if not header.endswith(";base64") or not header.startswith("data:image/"):
            raise SwapError(
                ErrorCode.INVALID_INPUT,
                f"{field} has a data: prefix that is not data:image/...;base64,",
            )
        start = comma + 1
    spaces = sum(text.count(character, start) for character in _SPACE_CHARACTERS)
    if len(text) - start - spaces > most_base64_characters(max_bytes):
        raise image_too_large(image_label(role), max_bytes)
    try:
        payload = text[start:].encode("ascii")
        if spaces:
            payload = payload.translate(None, _SPACE_BYTES)
        data = pybase64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise SwapError(ErrorCode.INVALID_INPUT, f"{field} is not valid base64.") from exc
    if len(data) > max_bytes:
        raise image_too_large(image_label(role), max_bytes)
    return data


def _without_locals_on_failure(job: Callable[[Callable[[], None]], T], checkpoint: Callable[[], None]) -> T:
    """`job(checkpoint)`; when it raises, the frames its traceback keeps drop their locals, and the heap
    they freed goes back to the system.

    A failed or stopped clip's decoder, encoder and their codec threads are locals of those frames: kept
    alive by the traceback they would outlive the job (a cancelled 1080p clip held ~6 threads and tens of MB).
    """
    try:
        return job(checkpoint)
    except BaseException as exc:
        seen: set[int] = set()
        error: BaseException | None = exc
        while error is not None and id(error) not in seen:
            seen.add(id(error))
            traceback.clear_frames(error.__traceback__)
            error = error.__cause__ or error.__context__
        release_free_heap()
        raise


def extra_sources(images: dict[str, bytes]) -> list[bytes]:
    """The source photos after the first ("source 2", "source 3", ...), in order."""
    numbers = sorted(int(role.split()[1]) for role in images if role.startswith("source "))
    return [images[f"source {number}"] for number in numbers]


def swap_photo(
    engine: Engine,
    images: dict[str, bytes],
    target: bytes,
    options: SwapOptions,
    checkpoint: Callable[[], None],
    on_cost: Callable[[int], None] | None = None,
) -> SwapResult:
    """One photo swap with a request's options (a /swap body or a photo job): the sources into `target`;
    `on_cost(runs)` once its cost is known (Engine.swap)."""
    return engine.swap(
        images["source"],
        target,
        source_index=options.source_index,
        target_index=options.target_index,
        pairs=options.pairs(),
        reference=images.get("reference"),
        min_similarity=options.min_similarity,
        output_format=options.output_format,
        checkpoint=checkpoint,
        quality=options.quality(),
        extra_sources=extra_sources(images),
        on_cost=on_cost,
    )


class SwapService:
    """Turns a validated request into a typed output, within the deadline and the concurrency limit."""

    def __init__(
        self,
        settings: Settings,
        lifecycle: ModelLifecycle,
        fetcher: ImageFetcher,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.lifecycle = lifecycle
        self.fetcher = fetcher
        self.limiter = Limiter(settings.max_concurrency, settings.max_queue)
        self._executor = ThreadPoolExecutor(max_workers=settings.max_concurrency, thread_name_prefix="swap")
        # a thread per job that may hold or wait for a slot, so a job lending its slot never blocks a request
        self._job_executor = ThreadPoolExecutor(max_workers=settings.max_jobs, thread_name_prefix="job")
        self._inflight: set[asyncio.Task[Any]] = set()
        self._stopped = False

    def close(self) -> None:
        """Stop the worker threads once their jobs end, without waiting for them (the drain did that)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._job_executor.shutdown(wait=False, cancel_futures=True)

    async def drain(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for admitted requests to finish, then stop the rest: each answers
        NOT_READY (the worker shut down) at once, and its thread stops at its next stage."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.limiter.admitted and loop.time() < deadline:
            await asyncio.sleep(DRAIN_POLL)
        self._stopped = True
        for task in list(self._inflight):
            task.cancel()
        while self._inflight:
            await asyncio.sleep(DRAIN_POLL / 5)

    async def swap(self, request: SwapInput, request_id: str) -> SwapOutput:
        """Fetch, queue and swap within the request's deadline."""
        fields = {**request.source_fields(), "target": (request.target_url, request.target_image)}
        if request.has_reference:
            fields["reference"] = (request.target_reference_url, request.target_reference_image)
        output, _ = await self._admitted_within_deadline(self._swap(fields, request, request_id))
        return output

    async def swap_uploaded(
        self, images: dict[str, bytes], options: SwapOptions, request_id: str, *, as_image: bool = False
    ) -> tuple[SwapOutput, bytes]:
        """Swap already-received image bytes (multipart uploads); `as_image` skips the base64 copy."""
        return await self._admitted_within_deadline(
            self._swap({}, options, request_id, images, as_image=as_image)
        )

    async def faces(self, request: FacesInput, request_id: str) -> FacesOutput:
        """The faces of an image, numbered as swaps number them, with an optional annotated preview."""
        return await self._admitted_within_deadline(self._faces(request, request_id))

    async def check_provenance(self, request: ProvenanceInput, request_id: str) -> ProvenanceReport:
        """What an image or clip says about its origin, validated against this service's trust anchors."""
        return await self._admitted_within_deadline(self._check_provenance(request, request_id))

    async def _check_provenance(self, request: ProvenanceInput, request_id: str) -> ProvenanceReport:
        deadline = self._deadline()
        images = await self.resolve_images({"image": (request.image_url, request.image)})
        engine = self.lifecycle.ready_engine()
        trust = list(engine.provenance.trust) if engine is not None else []
        settings = self.settings
        report = await self.run_blocking(
            lambda _: check_file(
                images["image"],
                trust,
                max_pixels=settings.max_pixels,
                max_frame_pixels=settings.max_video_pixels,
            ),
            deadline,
        )
        return report.model_copy(update={"request_id": request_id})

    async def run_input(self, fields: object, request_id: str) -> SwapOutput | FacesOutput:
        """A RunPod `input` object: a swap, or with `"action": "faces"` the face list."""
        if not isinstance(fields, dict):
            raise SwapError(ErrorCode.INVALID_INPUT, "input must be a JSON object with the swap fields.")
        action = fields.get("action", "swap")
        rest = {name: value for name, value in fields.items() if name != "action"}
        if action == "faces":
            return await self.faces(validated(FacesInput, rest), request_id)
        if action == "swap":
            return await self.swap(validated(SwapInput, rest), request_id)
        raise SwapError(ErrorCode.INVALID_INPUT, 'action must be "swap" (the default) or "faces".')

    async def _admitted_within_deadline(self, work: Coroutine[Any, Any, T]) -> T:
        """Admit the request (or BUSY at once), then run `work` under the request's deadline."""
        if not self.limiter.admit():
            work.close()
            raise busy(self.limiter.retry_after())
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            async with asyncio.timeout(self.settings.request_timeout):
                return await work
        except TimeoutError as exc:
            raise SwapError(
                ErrorCode.TIMEOUT,
                f"The request took longer than {self.settings.request_timeout:g} seconds and was stopped.",
            ) from exc
        except asyncio.CancelledError as exc:
            if not self._stopped or task is None:
                raise
            task.uncancel()
            raise SwapError(ErrorCode.NOT_READY, DRAINED_MESSAGE, retry_after=1) from exc
        finally:
            self._inflight.discard(task)  # type: ignore[arg-type]
            self.limiter.leave()

    def _deadline(self) -> Deadline:
        return Deadline.for_request(self.settings)

    async def _swap(
        self,
        fields: dict[str, tuple[str | None, str | None]],
        options: SwapOptions,
        request_id: str,
        received: dict[str, bytes] | None = None,
        *,
        as_image: bool = False,
    ) -> tuple[SwapOutput, bytes]:
        deadline = self._deadline()
        engine = self.lifecycle.engine()
        started = time.perf_counter()
        images = {**(received or {}), **await self.resolve_images(fields)}
        fetch_ms = round((time.perf_counter() - started) * 1000.0, 2)
        result = await self.run_blocking(
            lambda checkpoint: swap_photo(engine, images, images["target"], options, checkpoint),
            deadline,
        )
        timings = {"fetch": fetch_ms, "decode": 0.0, "detect": 0.0, "swap": 0.0, "encode": 0.0}
        timings.update(result.timings_ms)
        self.metrics.observe_stages(timings)
        if result.recoveries:
            self.metrics.recoveries.inc(len(result.recoveries))
        output = SwapOutput(
            image_base64="" if as_image else to_base64(result.image),
            format=result.format,
            width=result.width,
            height=result.height,
            source_faces=result.source_faces,
            target_faces=result.target_faces,
            timings_ms=timings,
            request_id=request_id,
            swapped=[
                SwappedFace(
                    source_index=a.source_index,
                    target_index=a.target_index,
                    similarity=a.similarity,
                    similarity_after=a.similarity_after,
                )
                for a in result.swapped
            ],
            recoveries=result.recoveries or None,
            output_id=result.output_id or None,
        )
        return output, result.image

    async def _faces(self, request: FacesInput, request_id: str) -> FacesOutput:
        deadline = self._deadline()
        engine = self.lifecycle.engine()
        images = await self.resolve_images({"image": (request.image_url, request.image)})

        def listing(checkpoint: Callable[[], None]) -> FacesOutput:
            frame, faces = engine.list_faces(images["image"])
            checkpoint()
            preview = None
            if request.preview:
                annotated = encode_image(annotate_faces(frame, faces), "jpeg", jpeg_quality=85, label=False)
                preview = to_base64(annotated)
            return FacesOutput(
                faces=[
                    FaceOut(
                        index=number,
                        bbox=[round(value, 1) for value in face.bbox],
                        score=round(face.score, 4),
                        kps=[[round(float(x), 1), round(float(y), 1)] for x, y in face.keypoints],
                    )
                    for number, face in enumerate(faces, start=1)
                ],
                width=int(frame.shape[1]),
                height=int(frame.shape[0]),
                preview_base64=preview,
                request_id=request_id,
            )

        return await self.run_blocking(listing, deadline)

    def live_values(self) -> dict[str, float]:
        """Queue depth and cache counters, for the metrics scrape."""
        values = {
            "faceswap_queue_waiting": float(self.limiter.waiting),
            "faceswap_queue_running": float(self.limiter.running),
        }
        engine = self.lifecycle.ready_engine()
        if engine is not None:
            for name, cache in (("embeddings", engine.identities), ("detections", engine.detections)):
                values[f"faceswap_cache_hits:{name}"] = float(cache.hits)
                values[f"faceswap_cache_misses:{name}"] = float(cache.misses)
            guard = engine.provenance.guard
            values["faceswap_content_refused"] = float(guard.refused if guard is not None else 0)
        return values

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

    async def run_blocking(
        self,
        job: Callable[[Callable[[], None]], T],
        deadline: Deadline,
        share: Share = "request",
        on_start: Callable[[], None] | None = None,
    ) -> T:
        """Run `job(checkpoint)` on a worker thread under the limiter; `on_start()` once it has its slot.

        The slot is held until the thread really finishes, even when the caller stops waiting
        (deadline, client gone): a limit of 1 stays 1. `checkpoint` raises TIMEOUT once the
        deadline passed (read each time: a job's moves once its cost is charged) or the caller gave up,
        so abandoned work stops at the next stage; the engine calls it before every model run. With
        `share="job"` (a job's work) `checkpoint` also lends the slot to any request waiting for one and
        takes it back after (limiter.py: how slots are shared), that time not counted against the job's
        estimate.
        """
        slot = await self.limiter.acquire(share)
        if on_start is not None:
            on_start()
        loop = asyncio.get_running_loop()
        abandoned = threading.Event()
        held = [slot]

        def stop_if_due() -> None:
            if abandoned.is_set():
                raise SwapError(ErrorCode.TIMEOUT, "The request ran out of time and was stopped.")
            if deadline.passed:
                raise deadline.timeout()

        def checkpoint() -> None:
            stop_if_due()
            if share == "job" and self.limiter.waiting:
                with deadline.lent():
                    lent = asyncio.run_coroutine_threadsafe(self.limiter.yield_to_requests(held[0]), loop)
                    held[0] = lent.result()
                stop_if_due()

        executor = self._job_executor if share == "job" else self._executor
        try:
            future: Future[T] = executor.submit(_without_locals_on_failure, job, checkpoint)
        except BaseException:
            self.limiter.release(slot)
            raise
        future.add_done_callback(lambda _: loop.call_soon_threadsafe(self.limiter.release, held[0]))
        try:
            result = await asyncio.wrap_future(future)
        except SwapError as exc:
            out_of_memory = exc.code is ErrorCode.OUT_OF_MEMORY
            self.lifecycle.record_outcome(out_of_memory=out_of_memory)
            if out_of_memory:
                exc.retry_after = self.lifecycle.out_of_memory_retry_after()
            raise
        except BaseException:
            abandoned.set()
            raise
        self.lifecycle.record_outcome(out_of_memory=False)
        return result
