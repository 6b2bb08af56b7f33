"""One job's work: fetch the inputs into its work folder, swap a photo or a clip frame by frame, write the
output file. Where the output goes (kept, inline, uploaded) is the manager's and the adapters' business."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faceswap.errors import ErrorCode, SwapError
from faceswap.jobs.models import JobInput
from faceswap.pipeline.deadline import Deadline
from faceswap.pipeline.decode import looks_like_image
from faceswap.pipeline.engine import Engine
from faceswap.pipeline.video import VideoLimits, VideoResult, probe_video, sniff_container, swap_video
from faceswap.service import SwapService, decode_base64_image, extra_sources, swap_photo

__all__ = ["JobOutput", "limits_of", "run_job"]

log = logging.getLogger(__name__)

_STILL_IMAGES = ("webp",)  # an animated WebP cannot be decoded by the FFmpeg the PyAV wheels carry


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
    return VideoLimits.from_settings(service.settings)


@dataclass(frozen=True)
class JobOutput:
    """A job's output file and what it is (the fields of JobResult but its size and where it went)."""

    path: Path
    details: dict[str, Any]


async def run_job(
    service: SwapService,
    request: JobInput,
    folder: Path,
    progress: Callable[[int, int], None],
    on_start: Callable[[], None] | None = None,
) -> JobOutput:
    """Fetch the inputs into `folder`, swap (an image, or a clip frame by frame), write the output there.

    `on_start()` is called once the swap has its slot (until then the job waits, queued).
    """
    fields = request.source_fields()
    if request.has_reference:
        fields["reference"] = (request.target_reference_url, request.target_reference_image)
    images = await service.resolve_images(fields)
    target = await _target_bytes(service, request)
    target_path = folder / "target"
    await asyncio.to_thread(target_path.write_bytes, target)
    kind = sniff_container(target[:64])
    limits = limits_of(service)
    if await asyncio.to_thread(_is_clip, target_path, kind, limits):
        del target
        result, output = await _swap_clip(service, request, images, target_path, folder, progress, on_start)
        details: dict[str, Any] = {
            "kind": "video",
            "media_type": result.media_type,
            "width": result.width,
            "height": result.height,
            "frames": result.frames,
            "swapped_frames": result.swapped_frames,
            "fps": result.fps,
        }
        if result.similarity_after is not None:
            details["similarity_after"] = result.similarity_after
    else:
        output, details = await _swap_image(service, request, images, target, folder, on_start)
        progress(1, 1)
    return JobOutput(output, details)


async def _swap_clip(
    service: SwapService,
    request: JobInput,
    images: dict[str, bytes],
    target: Path,
    folder: Path,
    progress: Callable[[int, int], None],
    on_start: Callable[[], None] | None,
) -> tuple[VideoResult, Path]:
    engine: Engine = service.lifecycle.engine()
    deadline = Deadline.for_job(service.settings, engine.providers)
    limits = limits_of(service)
    info = await asyncio.to_thread(probe_video, target, limits)
    output = folder / f"result.{info.kind}"

    def work(checkpoint: Callable[[], None]) -> VideoResult:
        sources = [images["source"], *extra_sources(images)]
        identity = engine.source_identities(sources, request.source_index, request.quality())
        reference = None
        if "reference" in images:
            reference = engine.source_identity(images["reference"], 1, role="reference").embedding
        return swap_video(
            engine,
            identity,
            target,
            output,
            limits,
            target_index=request.target_index,
            reference=reference,
            min_similarity=request.min_similarity,
            quality=request.quality(),
            progress=progress,
            checkpoint=checkpoint,
            on_cost=deadline.charge,
        )

    return await service.run_blocking(work, deadline, "job", on_start), output


async def _swap_image(
    service: SwapService,
    request: JobInput,
    images: dict[str, bytes],
    target: bytes,
    folder: Path,
    on_start: Callable[[], None] | None,
) -> tuple[Path, dict[str, Any]]:
    engine: Engine = service.lifecycle.engine()
    deadline = Deadline.for_job(service.settings, engine.providers)

    def work(checkpoint: Callable[[], None]) -> Any:
        return swap_photo(engine, images, target, request, checkpoint, on_cost=deadline.charge)

    result = await service.run_blocking(work, deadline, "job", on_start)
    output = folder / f"result.{result.format}"
    await asyncio.to_thread(output.write_bytes, result.image)
    details = {
        "kind": "image",
        "media_type": f"image/{result.format}",
        "width": result.width,
        "height": result.height,
    }
    if request.report_similarity:
        details["similarity_after"] = [assignment.similarity_after for assignment in result.swapped]
    return output, details
