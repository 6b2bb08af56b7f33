"""Swaps run in the background: an image or a clip, with progress, a result kept for a while, and cancel.

Jobs live in this process's memory only: a restart loses every job, finished or not, and its result.
The count of jobs kept, how long a finished one is kept, and the size of a result answered inline are bounded;
a larger result goes to the caller's `output_url` by HTTP PUT, under the same URL policy as downloads.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from faceswap.errors import ErrorCode, SwapError
from faceswap.pipeline.decode import looks_like_image
from faceswap.pipeline.encode import to_base64
from faceswap.pipeline.engine import Engine
from faceswap.pipeline.video import VideoLimits, VideoResult, probe_video, sniff_container, swap_video
from faceswap.schemas import BASE64_MAX, URL_MAX, SwapOptions
from faceswap.service import SwapService, decode_base64_image

__all__ = ["JobInput", "JobManager", "JobResult", "JobStatus", "limits_of", "not_found", "run_job"]

log = logging.getLogger(__name__)

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
_STILL_IMAGES = ("webp",)  # an animated WebP cannot be decoded by the FFmpeg the PyAV wheels carry


class JobInput(SwapOptions):
    """A swap to run in the background: the /swap fields, or a clip as the target, and where to put it."""

    model_config = ConfigDict(extra="forbid")

    source_url: str | None = Field(None, max_length=URL_MAX, description="Source photo URL.")
    source_image: str | None = Field(None, max_length=BASE64_MAX, description="Source photo in base64.")
    target_url: str | None = Field(
        None, max_length=URL_MAX, description="Target photo or clip URL (MP4/MOV, WebM, animated GIF)."
    )
    target_image: str | None = Field(None, max_length=BASE64_MAX, description="Target photo in base64.")
    target_video: str | None = Field(None, max_length=BASE64_MAX, description="Target clip in base64.")
    target_reference_url: str | None = Field(None, max_length=URL_MAX, description="Swap the face like this.")
    target_reference_image: str | None = Field(None, max_length=BASE64_MAX, description="As base64.")
    output_url: str | None = Field(
        None, max_length=URL_MAX, description="Where the result is uploaded by HTTP PUT (a presigned URL)."
    )

    @model_validator(mode="after")
    def _each_input_once(self) -> JobInput:
        if (self.source_url is None) == (self.source_image is None):
            raise ValueError("give the source image exactly once, as source_url or as source_image")
        targets = [self.target_url, self.target_image, self.target_video]
        if sum(value is not None for value in targets) != 1:
            raise ValueError("give the target exactly once, as target_url, target_image or target_video")
        if self.target_reference_url is not None and self.target_reference_image is not None:
            raise ValueError("give the target reference once, as a URL or as base64")
        if self.swaps:
            raise ValueError("a job swaps one source face: use source_index and target_index")
        if self.has_reference and self.target_index == "all":
            raise ValueError("a target reference picks one face: do not combine it with target_index all")
        return self

    @property
    def has_reference(self) -> bool:
        """Whether the target face is chosen by likeness to a reference photo."""
        return self.target_reference_url is not None or self.target_reference_image is not None


class JobProgress(BaseModel):
    """How far a job got."""

    frames_done: int = 0
    frames_total: int = 0
    eta_seconds: float | None = None


class JobResult(BaseModel):
    """A finished job's output: inline base64, or uploaded to output_url."""

    kind: Literal["image", "video"]
    media_type: str
    size_bytes: int
    base64: str | None = Field(None, description="The result file in base64, when no output_url was given.")
    uploaded: bool = Field(False, description="Whether the result was PUT to output_url.")
    width: int
    height: int
    frames: int = 1
    swapped_frames: int = 1
    fps: float | None = None


class JobError(BaseModel):
    """Why a job failed: a contract code and a sentence."""

    error_code: str
    message: str


class JobStatus(BaseModel):
    """A job as GET /jobs/{id} shows it."""

    id: str
    status: JobState
    progress: JobProgress
    created_at: float
    finished_at: float | None = None
    result: JobResult | None = None
    error: JobError | None = None


@dataclass
class _Job:
    id: str
    request: JobInput
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    state: JobState = "queued"
    progress: JobProgress = field(default_factory=JobProgress)
    result: JobResult | None = None
    error: JobError | None = None
    task: asyncio.Task[None] | None = None

    def status(self) -> JobStatus:
        return JobStatus(
            id=self.id,
            status=self.state,
            progress=self.progress,
            created_at=self.created,
            finished_at=self.finished,
            result=self.result,
            error=self.error,
        )

    def advance(self, done: int, total: int) -> None:
        """Progress from the worker thread (plain attribute writes)."""
        elapsed = time.monotonic() - (self.started or time.monotonic())
        eta = elapsed / done * (total - done) if done else None
        self.progress = JobProgress(
            frames_done=done, frames_total=total, eta_seconds=None if eta is None else round(eta, 2)
        )


def not_found(job_id: str) -> SwapError:
    """JOB_NOT_FOUND for an id that is unknown, expired or cancelled."""
    return SwapError(ErrorCode.JOB_NOT_FOUND, f"No job {job_id[:64]} is kept: unknown, expired or cancelled.")


class JobManager:
    """The jobs of this process, run on the service's engine and limiter."""

    def __init__(self, service: SwapService) -> None:
        self.service = service
        self.settings = service.settings
        self._jobs: dict[str, _Job] = {}

    def submit(self, request: JobInput, on_progress: Callable[[JobStatus], None] | None = None) -> JobStatus:
        """Start a job; BUSY when max_jobs are kept already."""
        self._prune()
        if len(self._jobs) >= self.settings.max_jobs:
            raise SwapError(
                ErrorCode.BUSY,
                f"{self.settings.max_jobs} jobs are kept already; fetch or delete finished ones first.",
                retry_after=5,
            )
        job = _Job(id=uuid.uuid4().hex, request=request)
        self._jobs[job.id] = job
        job.task = asyncio.create_task(self._run(job), name=f"job-{job.id}")
        return job.status()

    def get(self, job_id: str) -> JobStatus:
        """A kept job's status, progress and result."""
        self._prune()
        job = self._jobs.get(job_id)
        if job is None:
            raise not_found(job_id)
        return job.status()

    async def cancel(self, job_id: str) -> JobStatus:
        """Stop a job (at its next frame) and forget it with its files."""
        job = self._jobs.pop(job_id, None)
        if job is None:
            raise not_found(job_id)
        if job.task is not None and not job.task.done():
            job.task.cancel()
            await asyncio.gather(job.task, return_exceptions=True)
        if job.state in ("queued", "running"):
            job.state = "cancelled"
        return job.status()

    async def wait(self, job_id: str) -> JobStatus:
        """The job's status once it has finished."""
        job = self._jobs.get(job_id)
        if job is None:
            raise not_found(job_id)
        if job.task is not None:
            await asyncio.gather(job.task, return_exceptions=True)
        return job.status()

    async def close(self) -> None:
        """Cancel every job (jobs do not survive a restart)."""
        for job_id in list(self._jobs):
            await self.cancel(job_id)

    def _prune(self) -> None:
        cutoff = time.time() - self.settings.job_ttl
        for job_id, job in list(self._jobs.items()):
            if job.finished is not None and job.finished < cutoff:
                del self._jobs[job_id]

    async def _run(self, job: _Job) -> None:
        folder = Path(tempfile.mkdtemp(prefix="faceswap-job-"))
        try:
            job.state = "running"
            job.started = time.monotonic()
            job.result = await run_job(self.service, job.request, folder, job.advance)
            job.state = "succeeded"
        except SwapError as exc:
            job.state, job.error = "failed", JobError(error_code=exc.code.value, message=exc.message)
        except asyncio.CancelledError:
            job.state = "cancelled"
            raise
        except Exception:
            log.exception("job failed unexpectedly")
            message = "The worker hit an unexpected error running the job."
            job.state, job.error = "failed", JobError(error_code=ErrorCode.INTERNAL.value, message=message)
        finally:
            job.finished = time.time()
            shutil.rmtree(folder, ignore_errors=True)


def _require_media(head: bytes, role: str) -> None:
    if looks_like_image(head) is None and sniff_container(head + bytes(64)) is None:
        raise SwapError(
            ErrorCode.INVALID_IMAGE,
            f"The {role} URL did not return an image or an MP4, MOV, WebM or GIF clip.",
        )


async def _target_bytes(service: SwapService, request: JobInput) -> bytes:
    settings = service.settings
    if request.target_video is not None:
        return decode_base64_image(request.target_video, "target", settings.max_video_bytes)
    if request.target_image is not None:
        return decode_base64_image(request.target_image, "target", settings.max_download_bytes)
    assert request.target_url is not None
    return await service.fetcher.fetch_media(
        request.target_url,
        "target",
        limit=settings.max_video_bytes,
        require=_require_media,
        deadline=settings.request_timeout,
    )


def _is_clip(path: Path, kind: str | None, limits: VideoLimits) -> bool:
    """Whether the target is a clip: a video container, or a GIF of more than one frame."""
    if kind is None or kind in _STILL_IMAGES:
        return False
    return kind != "gif" or probe_video(path, limits).frames > 1


def limits_of(service: SwapService) -> VideoLimits:
    """The video caps from the settings."""
    settings = service.settings
    return VideoLimits(
        seconds=settings.max_video_seconds, frames=settings.max_video_frames, pixels=settings.max_video_pixels
    )


async def run_job(
    service: SwapService, request: JobInput, folder: Path, progress: Callable[[int, int], None]
) -> JobResult:
    """Fetch the inputs, swap (an image, or a clip frame by frame), then answer inline or upload."""
    fields = {"source": (request.source_url, request.source_image)}
    if request.has_reference:
        fields["reference"] = (request.target_reference_url, request.target_reference_image)
    images = await service.resolve_images(fields)
    target = await _target_bytes(service, request)
    target_path = folder / "target"
    target_path.write_bytes(target)
    kind = sniff_container(target[:64])
    limits = limits_of(service)
    if _is_clip(target_path, kind, limits):
        del target
        result, output = await _swap_clip(service, request, images, target_path, folder, progress)
        details: dict[str, Any] = {
            "kind": "video",
            "media_type": result.media_type,
            "width": result.width,
            "height": result.height,
            "frames": result.frames,
            "swapped_frames": result.swapped_frames,
            "fps": result.fps,
        }
    else:
        output, details = await _swap_image(service, request, images, target, folder)
        progress(1, 1)
    return await _deliver(service, request, output, details)


async def _swap_clip(
    service: SwapService,
    request: JobInput,
    images: dict[str, bytes],
    target: Path,
    folder: Path,
    progress: Callable[[int, int], None],
) -> tuple[VideoResult, Path]:
    engine: Engine = service.lifecycle.engine()
    limits = limits_of(service)
    info = probe_video(target, limits)
    output = folder / f"result.{info.kind}"

    def work(checkpoint: Callable[[], None]) -> VideoResult:
        identity = engine.source_identity(images["source"], request.source_index)
        reference = None
        if "reference" in images:
            reference = engine.source_identity(images["reference"], 1, role="reference").embedding
        return swap_video(
            engine,
            identity.embedding,
            target,
            output,
            limits,
            target_index=request.target_index,
            reference=reference,
            min_similarity=request.min_similarity,
            quality=request.quality(),
            progress=progress,
            checkpoint=checkpoint,
        )

    deadline = time.monotonic() + service.settings.job_timeout
    return await service.run_blocking(work, deadline), output


async def _swap_image(
    service: SwapService, request: JobInput, images: dict[str, bytes], target: bytes, folder: Path
) -> tuple[Path, dict[str, Any]]:
    engine: Engine = service.lifecycle.engine()

    def work(checkpoint: Callable[[], None]) -> Any:
        return engine.swap(
            images["source"],
            target,
            source_index=request.source_index,
            target_index=request.target_index,
            pairs=request.pairs(),
            reference=images.get("reference"),
            min_similarity=request.min_similarity,
            output_format=request.output_format,
            checkpoint=checkpoint,
            quality=request.quality(),
        )

    result = await service.run_blocking(work, time.monotonic() + service.settings.job_timeout)
    output = folder / f"result.{result.format}"
    output.write_bytes(result.image)
    details = {
        "kind": "image",
        "media_type": f"image/{result.format}",
        "width": result.width,
        "height": result.height,
    }
    return output, details


async def _deliver(
    service: SwapService, request: JobInput, output: Path, details: dict[str, Any]
) -> JobResult:
    """Upload to output_url when given; else base64, when it fits the inline bound."""
    size = output.stat().st_size
    settings = service.settings
    if request.output_url is not None:
        await service.fetcher.put_file(
            request.output_url, output, details["media_type"], deadline=settings.request_timeout
        )
        return JobResult(size_bytes=size, uploaded=True, **details)
    if size > settings.max_inline_result_bytes:
        raise SwapError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"The result is {size} bytes, over the {settings.max_inline_result_bytes} answered inline; "
            "give an output_url to upload it to.",
        )
    return JobResult(size_bytes=size, base64=to_base64(output.read_bytes()), **details)
