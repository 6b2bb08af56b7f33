"""What a file says about where it came from: its C2PA manifest, our watermark, the XMP label.

One reader for `POST /provenance` and `python -m faceswap provenance check`. Clips: the manifest is read
from the file; the watermark from the first frames.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Literal

import av
import c2pa
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from faceswap.errors import ErrorCode, SwapError
from faceswap.pipeline.decode import decode_image
from faceswap.pipeline.labels import DIGITAL_SOURCE_TYPE, read_label
from faceswap.pipeline.video import MAX_STREAMS, MEDIA_TYPES, PROBE_OPTIONS, sniff_container
from faceswap.provenance.credentials import SIGNABLE_TYPES, sniff_media_type
from faceswap.provenance.watermark import SERVICE_ID, read_watermark

__all__ = [
    "C2paReport",
    "ProvenanceInput",
    "ProvenanceReport",
    "WatermarkReport",
    "check_file",
]

FRAMES_READ = 8
"""Clip frames the watermark is looked for in (the mark is in every frame; the best reading wins)."""
_READ_SETTINGS: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}


class ProvenanceInput(BaseModel):
    """An image or clip to check: given once, as a URL or as base64."""

    model_config = ConfigDict(extra="forbid")

    image_url: str | None = Field(None, max_length=8192, description="URL of the image or clip to check.")
    image: str | None = Field(None, description="The image or clip in base64 (a data: prefix is allowed).")

    @model_validator(mode="after")
    def _exactly_once(self) -> ProvenanceInput:
        if (self.image_url is None) == (self.image is None):
            raise ValueError("give the file exactly once, as image_url or as image")
        return self


class C2paReport(BaseModel):
    """The file's C2PA manifest, as the official SDK validates it."""

    present: bool = Field(description="A C2PA manifest is embedded.")
    state: Literal["Trusted", "Valid", "Invalid"] | None = Field(
        None, description="Trusted: valid and signed under a trust anchor; Valid: intact, signer not trusted."
    )
    trust_anchors: list[str] = Field(
        default_factory=list, description="The trust anchors validated against (besides the SDK's own)."
    )
    signer: str | None = Field(None, description="The signing certificate's subject (common name, issuer).")
    claim_generator: str | None = Field(None, description="The software that made the manifest.")
    ai_generated: bool = Field(
        False, description="An action says the content was made or changed by a trained model."
    )
    failures: list[str] = Field(default_factory=list, description="Validation failure codes, if any.")


class WatermarkReport(BaseModel):
    """Our invisible watermark, read from the pixels."""

    present: bool = Field(description="The watermark's sync pattern was found.")
    ours: bool = Field(False, description="The payload reads back whole and names this service.")
    output_id: str | None = Field(None, description="The output id the service logged when it made the file.")
    score: float = Field(description="Strength of the sync pattern (5.5 and over: present).")


class ProvenanceReport(BaseModel):
    """Where a file came from, as far as it says."""

    success: Literal[True] = True
    media_type: str | None = Field(description="The file's type, from its first bytes.")
    c2pa: C2paReport
    watermark: WatermarkReport | None = Field(description="None when the pixels could not be read.")
    label: str | None = Field(description="The IPTC DigitalSourceType of the XMP label, if any.")
    made_by_ai: bool = Field(description="Any of the three says the file was made or changed by AI.")
    request_id: str = ""


DEFAULT_MAX_PIXELS = 50_000_000  # the service's own default (Settings.max_pixels)
DEFAULT_MAX_FRAME_PIXELS = 1920 * 1080  # the service's own default (Settings.max_video_pixels)


def check_file(
    data: bytes | Path,
    trust: list[str] | None = None,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_frame_pixels: int = DEFAULT_MAX_FRAME_PIXELS,
) -> ProvenanceReport:
    """Everything a file (bytes or a path) carries; `trust`: PEM roots to validate its manifest against.

    An image is decoded as the service decodes its inputs, IMAGE_TOO_LARGE over `max_pixels` before any
    pixel is decoded; one that cannot be decoded (damaged, or no image at all) reports no watermark. A
    clip is opened as the clip pipeline opens it (no picture decoded by the stream probe, at most
    MAX_STREAMS streams) and its frames capped at `max_frame_pixels` as that pipeline caps them:
    IMAGE_TOO_LARGE when its header says more, and a frame larger than its header said is refused by
    the decoder before its picture is allocated (the frames read so far then decide the watermark).
    """
    if isinstance(data, Path):
        with data.open("rb") as stream:
            head = stream.read(64)
    else:
        head = data[:64]
    kind = sniff_container(head)
    is_clip = kind in ("mp4", "mov", "webm", "matroska")
    media_type = sniff_media_type(head) or (MEDIA_TYPES[kind] if kind else None)
    if is_clip:
        watermark = _read_clip_watermark(data, max_frame_pixels)
    else:
        if isinstance(data, Path):
            data = data.read_bytes()  # an image: read whole, like the service reads it
        watermark = _read_image_watermark(data, max_pixels)
    credentials = _read_c2pa(data, media_type, trust or [])
    label = read_label(data) if isinstance(data, bytes) else None
    return ProvenanceReport(
        media_type=media_type,
        c2pa=credentials,
        watermark=watermark,
        label=label,
        made_by_ai=(
            credentials.ai_generated or bool(watermark and watermark.ours) or label == DIGITAL_SOURCE_TYPE
        ),
    )


def _read_c2pa(data: bytes | Path, media_type: str | None, trust: list[str]) -> C2paReport:
    if media_type is None or media_type not in SIGNABLE_TYPES:
        return C2paReport(present=False)  # a type C2PA cannot carry (WebM, Matroska) or none at all
    settings = dict(_READ_SETTINGS)
    if trust:
        settings["trust"] = {"user_anchors": "\n".join(trust)}
    stream: Any = io.BytesIO(data) if isinstance(data, bytes) else data.open("rb")
    try:
        with stream, c2pa.Context.from_dict(settings) as context:
            reader = c2pa.Reader.try_create(media_type, stream, context=context)
            if reader is None:
                return C2paReport(present=False)
            with reader:
                store = json.loads(reader.json())
    except c2pa.C2paError as exc:
        return C2paReport(present=True, state="Invalid", failures=[type(exc).__name__])
    return _summary(store, trust)


def _summary(store: dict[str, Any], trust: list[str]) -> C2paReport:
    manifest = store.get("manifests", {}).get(store.get("active_manifest") or "", {})
    signature = manifest.get("signature_info") or {}
    signer = ", ".join(part for part in (signature.get("common_name"), signature.get("issuer")) if part)
    generators = manifest.get("claim_generator_info") or [{}]
    generator = " ".join(str(generators[0].get(key, "")) for key in ("name", "version")).strip()
    ai = DIGITAL_SOURCE_TYPE.rsplit("/", 1)[-1] in json.dumps(manifest.get("assertions", []))
    return C2paReport(
        present=True,
        state=store.get("validation_state"),
        trust_anchors=[_subject(pem) for pem in trust],
        signer=signer or None,
        claim_generator=generator or None,
        ai_generated=ai,
        failures=[status.get("code", "") for status in store.get("validation_status", [])],
    )


def _subject(pem: str) -> str:
    from cryptography import x509

    try:
        return x509.load_pem_x509_certificate(pem.encode()).subject.rfc4514_string()
    except ValueError:
        return "an unreadable certificate"


def _report(frame: np.ndarray) -> WatermarkReport:
    reading = read_watermark(frame)
    ours = reading.output_id is not None and reading.service_id == SERVICE_ID
    return WatermarkReport(
        present=reading.present, ours=ours, output_id=reading.output_id if ours else None, score=reading.score
    )


def _read_image_watermark(data: bytes, max_pixels: int) -> WatermarkReport | None:
    try:
        frame = decode_image(data, max_pixels=max_pixels).pixels
    except SwapError as exc:
        if exc.code is ErrorCode.INVALID_IMAGE:
            return None
        raise
    return _report(frame)


def _frames_too_large(width: int, height: int, max_pixels: int) -> SwapError:
    return SwapError(
        ErrorCode.IMAGE_TOO_LARGE,
        f"The clip's frames are {width}x{height} pixels, more than the {max_pixels:,} pixels allowed "
        "(FACESWAP_MAX_VIDEO_PIXELS); send a smaller clip.",
    )


def _read_clip_watermark(data: bytes | Path, max_pixels: int) -> WatermarkReport | None:
    source: Any = io.BytesIO(data) if isinstance(data, bytes) else str(data)
    best: WatermarkReport | None = None
    try:
        with av.open(source, container_options=dict(PROBE_OPTIONS)) as container:
            if not container.streams.video or len(container.streams) > MAX_STREAMS:
                return None
            video = container.streams.video[0]
            width, height = video.codec_context.width, video.codec_context.height
            if width * height > max_pixels:
                raise _frames_too_large(width, height, max_pixels)
            video.codec_context.options = {"max_pixels": str(max_pixels)}
            for number, frame in enumerate(container.decode(video)):
                if frame.width * frame.height > max_pixels:  # a decoder that ignores max_pixels
                    raise _frames_too_large(frame.width, frame.height, max_pixels)
                report = _report(frame.to_ndarray(format="bgr24"))
                if best is None or report.score > best.score:
                    best = report
                if report.ours or number + 1 >= FRAMES_READ:
                    break
    except (av.FFmpegError, ValueError):
        return best
    return best
