"""A face swapped through a clip: file in, file out, never the whole clip in memory.

demux + decode (thread) ─▶ queue ─▶ (guard, a frame a second) → detect → follow → swap → watermark
    (caller's thread) ─▶ queue ─▶ encode + mux (thread) ─▶ (with a certificate) sign the C2PA manifest

The container is recognised by its first bytes and measured before any frame is decoded: it is opened with no
decoder allowed (FFmpeg's stream probe would otherwise decode a frame of every track), at most MAX_STREAMS
streams are read, and the first video stream's frames are counted from its packets. Only that stream and the
first audio stream are ever decoded or copied; every decoded frame's real size is checked by the decoder
itself (``max_pixels``) before its picture is allocated, and the pixels a clip decodes in all are capped.
Audio packets ride the same queues untouched, so they are muxed in their original order. Frames keep their
timestamps and the stream its time base; frames without the chosen face are only watermarked. A clip
whose streams cannot be carried into the output (timestamps that go backwards, a codec its container does
not allow) is INVALID_IMAGE, logged with the reason.
"""

from __future__ import annotations

import errno
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np

from faceswap.config import Settings
from faceswap.errors import ErrorCode, SwapError, is_disk_full, storage_full
from faceswap.pipeline.cost import cost_of
from faceswap.pipeline.detect import Face
from faceswap.pipeline.engine import Engine, SourceIdentity
from faceswap.pipeline.quality import DEFAULT_QUALITY, Quality
from faceswap.pipeline.select import ALL_FACES, TargetChoice, best_match
from faceswap.pipeline.track import Track, follow
from faceswap.provenance.credentials import Ingredient, sniff_media_type
from faceswap.provenance.guard import ClipSampler
from faceswap.runtime.failpoints import Failpoints

__all__ = [
    "MAX_STREAMS",
    "PROBE_OPTIONS",
    "ContainerKind",
    "VideoInfo",
    "VideoLimits",
    "VideoResult",
    "probe_video",
    "sniff_container",
    "swap_video",
]

log = logging.getLogger(__name__)

ContainerKind = Literal["mp4", "mov", "webm", "matroska", "gif", "webp"]
MAX_STREAMS = 16
"""Streams a clip may hold in all; FFmpeg reads one past it (``max_streams``), so more is refused unread."""
PROBE_OPTIONS = {"codec_whitelist": "none", "max_streams": str(MAX_STREAMS + 1)}
"""Open a container without opening a decoder: the stream probe reads headers and packets, never pictures."""
QUEUE_FRAMES = 8
"""Frames (or audio packets) waiting between two stages: the memory bound of the pipeline."""
POLL_SECONDS = 0.1

MEDIA_TYPES: dict[ContainerKind, str] = {
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "webm": "video/webm",
    "matroska": "video/x-matroska",
    "gif": "image/gif",
    "webp": "image/webp",
}
_ENCODERS: dict[ContainerKind, tuple[str, str, dict[str, str]]] = {
    "mp4": ("libx264", "yuv420p", {"crf": "16", "preset": "veryfast"}),
    "mov": ("libx264", "yuv420p", {"crf": "16", "preset": "veryfast"}),
    "webm": ("libvpx-vp9", "yuv420p", {"crf": "24", "b": "0", "deadline": "realtime", "cpu-used": "8"}),
    "matroska": ("libx264", "yuv420p", {"crf": "16", "preset": "veryfast"}),
    "gif": ("gif", "rgb8", {}),
    "webp": ("libwebp_anim", "yuv420p", {"quality": "90", "loop": "0"}),
}
_FORMATS: dict[ContainerKind, str] = {
    "mp4": "mp4",
    "mov": "mov",
    "webm": "webm",
    "matroska": "matroska",
    "gif": "gif",
    "webp": "webp",
}
_AUDIO_CODECS: dict[ContainerKind, frozenset[str] | None] = {
    "mp4": frozenset({"aac", "mp3", "opus", "ac3", "eac3", "alac", "flac"}),
    "mov": frozenset(
        {"aac", "mp3", "alac", "ac3", "eac3", "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_f32le"}
    ),
    "webm": frozenset({"opus", "vorbis"}),
    "matroska": None,
    "gif": frozenset(),
    "webp": frozenset(),
}
"""Audio codecs each output container carries (None: any); the audio is copied, never re-encoded."""

Progress = Callable[[int, int], None]
Checkpoint = Callable[[], None]
CostReport = Callable[[int], None]


@dataclass(frozen=True)
class VideoLimits:
    """What a clip may be: seconds, frames, and pixels per frame."""

    seconds: float
    frames: int
    pixels: int
    total_pixels: int | None = None
    """Pixels decoded in all; None: the engine's FACESWAP_MAX_VIDEO_TOTAL_PIXELS once swap_video runs."""

    @classmethod
    def from_settings(cls, settings: Settings) -> VideoLimits:
        """The video caps `settings` configures."""
        return cls(
            seconds=settings.max_video_seconds,
            frames=settings.max_video_frames,
            pixels=settings.max_video_pixels,
            total_pixels=settings.max_video_total_pixels,
        )


@dataclass(frozen=True)
class VideoInfo:
    """What the container's header says, checked against the limits."""

    kind: ContainerKind
    width: int
    height: int
    fps: Fraction
    time_base: Fraction
    frames: int
    seconds: float
    has_audio: bool
    audio_codec: str | None = None
    streams: int = 1


@dataclass
class VideoResult:
    """The written clip and what the answer reports about it."""

    kind: ContainerKind
    width: int
    height: int
    frames: int
    swapped_frames: int
    fps: float
    timings_ms: dict[str, float] = field(default_factory=dict)
    recoveries: list[str] = field(default_factory=list)
    output_id: str = ""
    """The clip's id: in every frame's watermark, in its manifest, and in the log."""
    signed: bool = False
    """True when a C2PA manifest was embedded (not for WebM and Matroska, which C2PA does not support)."""
    similarities: list[float] = field(default_factory=list)
    """With `report_similarity`: each swapped face's similarity to the source identity, frame by frame."""

    @property
    def similarity_after(self) -> dict[str, float] | None:
        """The mean and the minimum of `similarities` over the clip (None when none were measured)."""
        if not self.similarities:
            return None
        return {
            "mean": round(float(np.mean(self.similarities)), 4),
            "min": round(float(np.min(self.similarities)), 4),
        }

    @property
    def media_type(self) -> str:
        """The result's MIME type."""
        return MEDIA_TYPES[self.kind]


def sniff_container(head: bytes) -> ContainerKind | None:
    """The container family of a file from its first bytes (at least 64), or None when it is no video."""
    if head[4:8] == b"ftyp":
        return "mov" if head[8:12] == b"qt  " else "mp4"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return "mov"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm" if b"webm" in head[:64] else "matroska"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def _not_a_video(role: str) -> SwapError:
    return SwapError(
        ErrorCode.INVALID_IMAGE,
        f"The {role} video is not a readable MP4, MOV, WebM, animated GIF or animated WebP file.",
    )


def _too_large(what: str) -> SwapError:
    return SwapError(ErrorCode.IMAGE_TOO_LARGE, f"The target video is too large: {what}.")


def _refused(reason: str) -> SwapError:
    """INVALID_IMAGE for a clip whose streams cannot be read or carried as they are, logged with why."""
    log.warning("clip refused: %s", reason)
    return SwapError(ErrorCode.INVALID_IMAGE, f"The target video cannot be processed: {reason}.")


_VIDEO_CODECS = frozenset({"h264", "hevc", "vp8", "vp9", "av1", "gif", "mpeg4", "mjpeg"})


def _open(path: Path, role: str) -> tuple[ContainerKind, Any]:
    """The container, opened without a decoder; INVALID_IMAGE unless its first stream is a video we read."""
    with path.open("rb") as handle:
        kind = sniff_container(handle.read(64))
    if kind is None:
        raise _not_a_video(role)
    try:
        container = av.open(str(path), "r", container_options=dict(PROBE_OPTIONS))
    except (av.FFmpegError, ValueError, OverflowError) as exc:
        log.warning("clip refused: FFmpeg could not open it (%s)", exc)
        raise _not_a_video(role) from exc
    try:
        if not container.streams.video:
            raise _not_a_video(role)
        if len(container.streams) > MAX_STREAMS:
            raise _refused(f"it holds more than {MAX_STREAMS} streams")
        codec = container.streams.video[0].codec_context
        if codec is None or codec.name not in _VIDEO_CODECS:
            raise _refused(f"its video codec ({codec.name if codec else 'unknown'}) is not one we read")
    except SwapError:
        container.close()
        raise
    return kind, container


def _count_frames(container: Any, limits: VideoLimits) -> int:
    """The first video stream's frames, counted from its packets (no decode), up to one past the cap."""
    count = 0
    for packet in container.demux(container.streams.video[0]):
        if packet.size:
            count += 1
            if count > limits.frames:
                break
    return count


def _header_info(kind: ContainerKind, container: Any) -> VideoInfo:
    stream = container.streams.video[0]
    fps = Fraction(stream.average_rate or stream.guessed_rate or 25)
    if stream.duration is not None and stream.time_base is not None:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        seconds = container.duration / av.time_base
    else:
        seconds = 0.0
    frames = int(stream.frames) or round(seconds * float(fps))
    audio = container.streams.audio[0] if container.streams.audio else None
    return VideoInfo(
        kind=kind,
        width=int(stream.codec_context.width),
        height=int(stream.codec_context.height),
        fps=fps,
        time_base=Fraction(stream.time_base or Fraction(1, 1000)),
        frames=frames,
        seconds=seconds,
        has_audio=audio is not None,
        audio_codec=audio.codec_context.name if audio is not None and audio.codec_context else None,
        streams=len(container.streams),
    )


def check_limits(info: VideoInfo, limits: VideoLimits) -> None:
    """IMAGE_TOO_LARGE when the header shows more seconds, frames, pixels per frame or in all than allowed."""
    if info.width <= 0 or info.height <= 0:
        raise SwapError(ErrorCode.INVALID_IMAGE, "The target video's frames have no size.")
    if info.width * info.height > limits.pixels:
        raise _too_large(f"{info.width}x{info.height} frames, over {limits.pixels} pixels each")
    if info.seconds > limits.seconds:
        raise _too_large(f"{info.seconds:.1f} seconds, over {limits.seconds:g}")
    if info.frames > limits.frames:
        raise _too_large(f"{info.frames} frames, over {limits.frames}")
    if limits.total_pixels is not None and info.frames * info.width * info.height > limits.total_pixels:
        raise _too_large(
            f"{info.frames} frames of {info.width}x{info.height}, over {limits.total_pixels} pixels in all"
        )
    if info.has_audio:
        allowed = _AUDIO_CODECS[info.kind]
        if allowed is not None and info.audio_codec not in allowed:
            raise _refused(f"its audio ({info.audio_codec}) cannot be carried in a {info.kind} file")


def probe_video(path: Path, limits: VideoLimits, role: str = "target") -> VideoInfo:
    """The clip measured without decoding a frame, checked against `limits`; INVALID_IMAGE when unreadable.

    Cheap whatever the file holds (no decoder is opened, at most MAX_STREAMS streams are read, packets are
    counted, not decoded), yet it reads the file: call it off the event loop.
    """
    kind, container = _open(path, role)
    try:
        info = _header_info(kind, container)
        check_limits(info, limits)
        info = replace(info, frames=_count_frames(container, limits))
    except (av.FFmpegError, ValueError, OverflowError) as exc:
        raise _refused("its packets could not be read") from exc
    finally:
        container.close()
    check_limits(info, limits)
    return info


@dataclass
class _Plan:
    """What is swapped in each frame."""

    identity: SourceIdentity
    target_index: TargetChoice
    reference: np.ndarray | None
    min_similarity: float
    quality: Quality = DEFAULT_QUALITY
    track: Track | None = None
    output_id: str = ""
    guard: ClipSampler | None = None
    on_cost: CostReport | None = None
    charged_faces: int = -1
    """The most faces a frame has had swapped so far, the clip's cost charged for (-1: not yet charged)."""


def _chosen_faces(engine: Engine, frame: np.ndarray, faces: list[Face], plan: _Plan) -> list[Face]:
    """The faces of this frame to swap under `plan` (the tracked one starts at the first frame with faces)."""
    if not faces:
        return []
    if plan.target_index == ALL_FACES:
        return faces
    if plan.reference is not None:
        candidates = [engine.embed(frame, face) for face in faces]
        try:
            index, _ = best_match(plan.reference, candidates, plan.min_similarity)
        except SwapError:
            return []
        return [faces[index - 1]]
    if plan.track is None:
        index = int(plan.target_index)
        if index > len(faces):
            return []
        chosen = faces[index - 1]
        plan.track = Track(embedding=engine.embed(frame, chosen), box=chosen.bbox)
        return [chosen]
    found = follow(plan.track, faces, lambda face: engine.embed(frame, face))
    return [] if found is None else [found]


_END = object()


def _put(out: queue.Queue[Any], item: object, stop: threading.Event) -> bool:
    """Put with back-pressure; False once the pipeline is stopping."""
    while not stop.is_set():
        try:
            out.put(item, timeout=POLL_SECONDS)
            return True
        except queue.Full:
            continue
    return False


def _get(source: queue.Queue[Any], stop: threading.Event) -> Any:
    while True:
        try:
            return source.get(timeout=POLL_SECONDS)
        except queue.Empty:
            if stop.is_set():
                return _END


@dataclass
class _Decoded:
    """What the decoder has let through so far: frames, pixels, and the last timestamps."""

    frames: int = 0
    pixels: int = 0
    video_pts: int | None = None
    audio_dts: int | None = None


def _check_frame(frame: Any, info: VideoInfo, limits: VideoLimits, seen: _Decoded) -> None:
    """Refuse a decoded frame before it is converted: its real size, the totals, and its timestamp."""
    if frame.width != info.width or frame.height != info.height:
        if frame.width * frame.height > limits.pixels:
            raise _too_large(f"a {frame.width}x{frame.height} frame, over {limits.pixels} pixels each")
        raise _refused(
            f"its frames change size ({info.width}x{info.height}, then {frame.width}x{frame.height})"
        )
    seen.frames += 1
    seen.pixels += frame.width * frame.height
    seconds = float(frame.time) if frame.time is not None else 0.0
    total = limits.total_pixels if limits.total_pixels is not None else seen.pixels
    if seen.frames > limits.frames or seconds > limits.seconds or seen.pixels > total:
        raise _too_large(
            f"over {limits.frames} frames, {limits.seconds:g} seconds or {limits.total_pixels} pixels"
        )
    if frame.pts is None or (seen.video_pts is not None and frame.pts <= seen.video_pts):
        raise _refused("its video timestamps are missing or go backwards")
    seen.video_pts = frame.pts


def _check_audio(packet: Any, seen: _Decoded) -> None:
    if packet.dts is None or (seen.audio_dts is not None and packet.dts < seen.audio_dts):
        raise _refused("its audio timestamps are missing or go backwards")
    seen.audio_dts = packet.dts


def _decode(
    container: Any, info: VideoInfo, limits: VideoLimits, out: queue.Queue[Any], stop: threading.Event
) -> None:
    """Demux and decode into `out`: ("video", pixels, pts, time_base) and ("audio", packet) in file order.

    The decoder refuses a picture over `limits.pixels` before allocating it (FFmpeg's ``max_pixels``).
    """
    video = container.streams.video[0]
    video.thread_type = "AUTO"
    video.codec_context.options = {"max_pixels": str(limits.pixels)}
    streams = [video, *container.streams.audio[:1]]
    seen = _Decoded()
    try:
        for packet in container.demux(streams):
            if packet.stream.type == "audio":
                if packet.size:
                    _check_audio(packet, seen)
                    if not _put(out, ("audio", packet), stop):
                        return
                continue
            for frame in packet.decode():
                _check_frame(frame, info, limits, seen)
                item = ("video", frame.to_ndarray(format="bgr24"), frame.pts, frame.time_base)
                if not _put(out, item, stop):
                    return
    except SwapError as exc:
        _put(out, ("error", exc), stop)
    except (av.FFmpegError, ValueError, OverflowError) as exc:
        log.warning("clip refused: it could not be decoded (%s)", exc)
        failure = SwapError(ErrorCode.INVALID_IMAGE, "The target video could not be decoded.")
        failure.__cause__ = exc
        _put(out, ("error", failure), stop)
    _put(out, _END, stop)


def _open_output(path: Path, kind: ContainerKind, info: VideoInfo, audio: Any) -> tuple[Any, Any, Any]:
    codec, pixel_format, options = _ENCODERS[kind]
    output = av.open(str(path), "w", format=_FORMATS[kind])
    stream = output.add_stream(codec, rate=info.fps, options=dict(options))
    if pixel_format == "yuv420p" and (info.width % 2 or info.height % 2):
        pixel_format = "yuv444p"  # 4:2:0 needs even sides; odd-sized clips keep every pixel at full chroma
    stream.width, stream.height, stream.pix_fmt = info.width, info.height, pixel_format
    stream.time_base = info.time_base
    stream.codec_context.time_base = info.time_base
    audio_out = output.add_stream_from_template(audio) if audio is not None else None
    return output, stream, audio_out


def _encode(
    output: Any,
    stream: Any,
    audio_out: Any,
    source: queue.Queue[Any],
    stop: threading.Event,
    errors: list[BaseException],
    failpoints: Failpoints,
) -> None:
    """Encode frames and mux packets from `source` until the end marker; the first failure in `errors`."""
    try:
        while (item := _get(source, stop)) is not _END:
            if item[0] == "audio":
                packet = item[1]
                packet.stream = audio_out
                output.mux(packet)
                continue
            _, pixels, pts, time_base = item
            if failpoints.hit("disk_full"):
                raise OSError(errno.ENOSPC, "No space left on device (failpoint disk_full)")
            frame = av.VideoFrame.from_ndarray(pixels, format="bgr24")
            frame.pts, frame.time_base = pts, time_base
            output.mux(stream.encode(frame))
        if not stop.is_set():
            output.mux(stream.encode(None))
    except (av.FFmpegError, ValueError, OverflowError) as exc:  # the copied packets or timestamps refused
        failure = _refused(f"its streams could not be written back as they are ({exc})")
        failure.__cause__ = exc
        errors.append(failure)
        stop.set()
    except Exception as exc:  # reported to the caller's thread, which raises it
        errors.append(exc)
        stop.set()


def swap_video(
    engine: Engine,
    identity: SourceIdentity,
    target: Path,
    output_path: Path,
    limits: VideoLimits,
    *,
    target_index: TargetChoice = 1,
    reference: np.ndarray | None = None,
    min_similarity: float = 0.3,
    quality: Quality = DEFAULT_QUALITY,
    progress: Progress | None = None,
    checkpoint: Checkpoint | None = None,
    on_cost: CostReport | None = None,
) -> VideoResult:
    """Swap `identity` through the clip at `target` into `output_path` (same container family).

    `progress(done, total)` after each frame; `checkpoint()` raises to stop (the output is then incomplete
    and the caller removes it). `on_cost(runs)` once the first frame's faces are known: the clip's cost at
    that many faces a frame, and again whenever a frame has more (a job's deadline is charged with it).
    """
    engine.require_models(quality)
    if limits.total_pixels is None:
        limits = replace(limits, total_pixels=engine.settings.max_video_total_pixels)
    info = probe_video(target, limits)
    _, container = _open(target, "target")
    try:
        marks = engine.provenance
        plan = _Plan(
            identity,
            target_index,
            reference,
            min_similarity,
            quality,
            output_id=marks.new_output_id(),
            on_cost=on_cost,
        )
        plan.guard = marks.clip_sampler(float(info.fps), info.frames)
        audio = container.streams.audio[0] if container.streams.audio else None
        try:
            output, stream, audio_out = _open_output(output_path, info.kind, info, audio)
        except (av.FFmpegError, ValueError) as exc:
            raise _refused(f"its streams cannot be written as a {info.kind} file") from exc
        try:
            result = _run(
                engine, container, (output, stream, audio_out), info, limits, plan, progress, checkpoint
            )
        finally:
            output.close()
    finally:
        container.close()
    result.output_id = plan.output_id
    swapper = quality.swapper or engine.settings.swapper
    result.signed = _seal(engine, output_path, info.kind, target, plan.output_id, swapper)
    log.info("made clip output %s (%s)", plan.output_id, "signed" if result.signed else "not signed")
    return result


def _seal(
    engine: Engine, output_path: Path, kind: ContainerKind, target: Path, output_id: str, swapper: str
) -> bool:
    """Sign the written clip when a certificate is set and C2PA supports its container; True if signed."""
    with target.open("rb") as stream:
        parent_type = sniff_media_type(stream.read(64))
    return engine.provenance.seal_file(
        output_path,
        MEDIA_TYPES[kind],
        output_id=output_id,
        swapper=swapper,
        parent=Ingredient(parent_type, path=target) if parent_type else None,
    )


def _run(
    engine: Engine,
    container: Any,
    sink: tuple[Any, Any, Any],
    info: VideoInfo,
    limits: VideoLimits,
    plan: _Plan,
    progress: Progress | None,
    checkpoint: Checkpoint | None,
) -> VideoResult:
    decoded: queue.Queue[Any] = queue.Queue(QUEUE_FRAMES)
    swapped: queue.Queue[Any] = queue.Queue(QUEUE_FRAMES)
    stop = threading.Event()
    errors: list[BaseException] = []
    decoder = threading.Thread(
        target=_decode, args=(container, info, limits, decoded, stop), name="video-decode"
    )
    encoder = threading.Thread(
        target=_encode, args=(*sink, swapped, stop, errors, engine.failpoints), name="video-encode"
    )
    decoder.start()
    encoder.start()
    result = VideoResult(info.kind, info.width, info.height, 0, 0, float(info.fps))
    started = time.perf_counter()
    try:
        _swap_frames(engine, decoded, swapped, stop, plan, result, info, progress, checkpoint)
    except BaseException:
        stop.set()
        raise
    finally:
        decoder.join()
        encoder.join()
    if errors:
        if isinstance(errors[0], SwapError):
            raise errors[0]
        if is_disk_full(errors[0]):
            raise storage_full("the job's work folder") from errors[0]
        raise SwapError(ErrorCode.INTERNAL, "The swapped video could not be written.") from errors[0]
    result.timings_ms["video"] = round((time.perf_counter() - started) * 1000.0, 2)
    return result


def _charge(engine: Engine, plan: _Plan, faces: int, frames: int) -> None:
    """Report the clip's cost at `faces` swapped a frame, on its first frame and when a frame has more."""
    if plan.on_cost is None or faces <= plan.charged_faces:
        return
    plan.charged_faces = faces
    plan.on_cost(cost_of(plan.quality, faces, frames=frames, swapper=engine.settings.swapper))


def _swap_frames(
    engine: Engine,
    decoded: queue.Queue[Any],
    swapped: queue.Queue[Any],
    stop: threading.Event,
    plan: _Plan,
    result: VideoResult,
    info: VideoInfo,
    progress: Progress | None,
    checkpoint: Checkpoint | None,
) -> None:
    """The middle stage: each frame's faces found and swapped, everything passed on in order."""
    while (item := _get(decoded, stop)) is not _END:
        if item[0] == "error":
            raise item[1]
        if item[0] == "video":
            if checkpoint is not None:
                checkpoint()
            pixels = item[1] if item[1].flags.writeable else item[1].copy()
            if plan.guard is not None:
                plan.guard.see(result.frames, pixels)
            faces = engine.detect(pixels, result.recoveries)
            chosen = _chosen_faces(engine, pixels, faces, plan)
            _charge(engine, plan, len(chosen), info.frames)
            for face in chosen:
                after = engine.swap_face(
                    pixels, face, plan.identity, result.recoveries, plan.quality, checkpoint=checkpoint
                )
                if after is not None:
                    result.similarities.append(after)
            pixels = engine.provenance.mark(pixels, plan.output_id)
            result.frames += 1
            result.swapped_frames += bool(chosen)
            if progress is not None:
                progress(result.frames, max(info.frames, result.frames))
            item = ("video", pixels, item[2], item[3])
        if not _put(swapped, item, stop):
            break
    if plan.guard is not None and not stop.is_set():
        plan.guard.finish()
    if not stop.is_set():
        _put(swapped, _END, stop)
