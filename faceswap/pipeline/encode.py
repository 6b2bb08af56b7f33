"""Encode a frame as PNG, JPEG or WebP, marked as AI-altered unless asked not to; base64 for answers."""

from __future__ import annotations

import cv2
import pybase64

from faceswap.constants import OutputFormat
from faceswap.errors import ErrorCode, SwapError
from faceswap.pipeline.arrays import Frame
from faceswap.pipeline.labels import add_label, png_label_chunks
from faceswap.pipeline.png import DEFAULT_LEVEL, encode_png

__all__ = ["encode_image", "to_base64"]


def encode_image(
    pixels: Frame,
    fmt: OutputFormat,
    *,
    png_compression: int = DEFAULT_LEVEL,
    jpeg_quality: int = 92,
    webp_quality: int = 90,
    label: bool = True,
) -> bytes:
    """Encode a BGR frame; with `label`, mark it as AI-altered in XMP (see `faceswap.pipeline.labels`).

    PNG goes through `faceswap.pipeline.png` (strips deflated on several cores; `png_compression` 1-3
    with ISA-L, 0 stored, 4-9 zlib: smaller and much slower).
    JPEG and WebP go through OpenCV at their qualities.
    """
    if fmt == "png":
        return _png(pixels, png_compression, png_label_chunks() if label else b"")
    if fmt == "jpeg":
        data = _opencv_encode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    elif fmt == "webp":
        data = _opencv_encode(".webp", pixels, [cv2.IMWRITE_WEBP_QUALITY, min(webp_quality, 100)])
    else:
        raise ValueError(f"unknown output format {fmt!r}")
    if not label:
        return data
    height, width = pixels.shape[:2]
    return add_label(data, fmt, size=(width, height))


def to_base64(data: bytes) -> str:
    """Standard base64 of `data`, as ASCII text (SIMD-accelerated: 8x the standard library here)."""
    return pybase64.b64encode_as_string(data)


def _png(pixels: Frame, compression: int, after_header: bytes) -> bytes:
    try:
        return encode_png(pixels, compression, after_header=after_header)
    except ValueError as exc:
        raise _unencodable() from exc


def _opencv_encode(extension: str, pixels: Frame, params: list[int]) -> bytes:
    try:
        ok, buffer = cv2.imencode(extension, pixels, params)
    except cv2.error as exc:
        raise _unencodable() from exc
    if not ok:
        raise _unencodable()
    return buffer.tobytes()


def _unencodable() -> SwapError:
    return SwapError(ErrorCode.INTERNAL, "The result image could not be encoded.")
