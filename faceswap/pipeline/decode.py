"""Decode, orient and downscale images; every input byte is treated as hostile.

Decoding runs in an order that allocates nothing large before the limits are checked:

    magic bytes (allow-list) ─▶ declared size from the header (pixel limit) ─▶ the decode's peak memory,
    estimated from the header (budget.py: refused over the budget, large ones a few at a time) ─▶ pixels
    (libjpeg-turbo through simplejpeg, or OpenCV, where they are faster, safe and give the same pixels;
    Pillow otherwise) ─▶ EXIF orientation ─▶ BGR

Pillow is given exactly one decoder per file: the plugin class of the format the magic bytes name, opened
directly, so no other format's parser ever sees the bytes. That also skips ``Image.open``'s check against
the process-wide ``Image.MAX_IMAGE_PIXELS`` (never changed here): our limit, per call, replaces it. The
checks Pillow keeps inside two plugins (WebP: an error above twice that limit; GIF: when the first frame
grows the canvas) run after ours, and their error becomes IMAGE_TOO_LARGE.
"""

from __future__ import annotations

import io
import logging
import struct
from dataclasses import dataclass
from typing import Final, Literal

import cv2
import numpy as np
import simplejpeg
from PIL import ExifTags, GifImagePlugin, Image, ImageFile, JpegImagePlugin, PngImagePlugin, WebPImagePlugin

from faceswap.errors import ErrorCode, SwapError, image_label
from faceswap.pipeline.arrays import Frame
from faceswap.pipeline.budget import DecodeBudget, DecodePlan

__all__ = [
    "DecodedImage",
    "ImageFormat",
    "decode_image",
    "fit_within",
    "looks_like_image",
]

ImageFormat = Literal["jpeg", "png", "webp", "gif"]

logger = logging.getLogger(__name__)

_ACCEPTED: Final = "JPEG, PNG, WebP or GIF"
_OPENERS: Final[dict[str, type[ImageFile.ImageFile]]] = {
    "jpeg": JpegImagePlugin.JpegImageFile,
    "png": PngImagePlugin.PngImageFile,
    "webp": WebPImagePlugin.WebPImageFile,
    "gif": GifImagePlugin.GifImageFile,
}
# What Pillow's parsers and decoders raise on malformed input (struct.error: short headers).
_DECODE_ERRORS: Final = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    TypeError,
    KeyError,
    struct.error,
)
_ALPHA_MODES: Final = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
# Real encoders write about 10 scans; each scan costs a pass over every block, so thousands are a CPU bomb.
_MAX_JPEG_SCANS: Final = 100
_REDUCED_JPEG: Final = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}
_WHITE: Final = (255, 255, 255, 255)


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """An upright 8-bit BGR frame, the format it came in and its upright full size (width, height)."""

    pixels: Frame
    format: ImageFormat
    original_size: tuple[int, int]


def looks_like_image(data: bytes) -> ImageFormat | None:
    """The accepted format the magic bytes name, or None (headers and extensions are never trusted)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    return None


def decode_image(
    data: bytes,
    *,
    max_pixels: int,
    role: str = "image",
    max_dimension: int | None = None,
    budget: DecodeBudget | None = None,
) -> DecodedImage:
    """Decode an accepted image to an upright uint8 HxWx3 BGR frame, refusing anything over `max_pixels`.

    EXIF orientation is applied; transparent pixels are composited on white; 16-bit samples are scaled
    to 8 bits; animated images give their first frame. With `max_dimension`, a JPEG may be decoded at
    1/2, 1/4 or 1/8 scale (in the DCT, much faster) while its longer side stays at least `max_dimension`;
    callers still call `fit_within`. `role` ("source", "target") names the image in error messages.
    With `budget`, a decode whose estimated peak memory exceeds it is refused as IMAGE_TOO_LARGE unstarted.
    """
    fmt = _accepted_format(data, role)
    declared = _declared_size(data, fmt, role)
    if declared is not None:
        _check_pixels(declared, max_pixels, role)
    try:
        with _OPENERS[fmt](io.BytesIO(data)) as image:
            _check_pixels(image.size, max_pixels, role)
            orientation = _orientation(image)
            plan = _plan(image, fmt, max_dimension)
            if budget is None:
                pixels = _pixels(image, data, fmt, role, plan.scale)
            elif not budget.fits(plan):
                raise _over_budget(role, image.size)
            else:
                with budget.admitted(plan):
                    pixels = _pixels(image, data, fmt, role, plan.scale)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_large(role) from exc
    except _DECODE_ERRORS as exc:
        logger.debug("%s image failed to decode: %s", role, type(exc).__name__)
        raise _damaged(role) from exc
    width, height = image.size
    size = (height, width) if orientation >= 5 else (width, height)
    return DecodedImage(pixels=_upright(pixels, orientation), format=fmt, original_size=size)


def fit_within(pixels: Frame, max_dimension: int) -> Frame:
    """Downscale (aspect kept, longer side = `max_dimension`) when larger; else the input itself."""
    if max_dimension < 1:
        raise ValueError("max_dimension must be at least 1")
    height, width = pixels.shape[:2]
    longer = max(height, width)
    if longer <= max_dimension:
        return pixels
    scale = max_dimension / longer
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)


def _accepted_format(data: bytes, role: str) -> ImageFormat:
    if not data:
        raise SwapError(ErrorCode.INVALID_IMAGE, f"{_the(role)} is empty.")
    fmt = looks_like_image(data)
    if fmt is None:
        raise SwapError(ErrorCode.INVALID_IMAGE, f"{_the(role)} is not a {_ACCEPTED} file.")
    if fmt == "jpeg" and data.count(b"\xff\xda") > _MAX_JPEG_SCANS:
        raise SwapError(
            ErrorCode.INVALID_IMAGE,
            f"{_the(role)} has an unusual JPEG structure (too many scans); save it again as a JPEG.",
        )
    return fmt


def _declared_size(data: bytes, fmt: ImageFormat, role: str) -> tuple[int, int] | None:
    """The size WebP and GIF headers declare, read before Pillow, which allocates the canvas on opening."""
    if fmt == "webp":
        size = _webp_size(data)
    elif fmt == "gif":
        size = _gif_size(data)
    else:
        return None
    if size is None:
        raise _damaged(role)
    return size


def _webp_size(data: bytes) -> tuple[int, int] | None:
    kind = data[12:16]
    if kind == b"VP8X" and len(data) >= 30:
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if kind == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", data, 26)
        return width & 0x3FFF, height & 0x3FFF
    if kind == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _gif_size(data: bytes) -> tuple[int, int] | None:
    """The logical screen grown to the first frame's extent, as Pillow sizes the canvas."""
    try:
        width, height, flags = struct.unpack_from("<HHB", data, 6)
        pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
        while data[pos] == 0x21:  # an extension: label, then data sub-blocks up to an empty one
            pos += 2
            while data[pos]:
                pos += data[pos] + 1
            pos += 1
        if data[pos] != 0x2C:
            return None
        left, top, frame_width, frame_height = struct.unpack_from("<HHHH", data, pos + 1)
    except (IndexError, struct.error):
        return None
    return max(width, left + frame_width), max(height, top + frame_height)


def _check_pixels(size: tuple[int, int], max_pixels: int, role: str) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise SwapError(ErrorCode.INVALID_IMAGE, f"{_the(role)} has no pixels.")
    if width * height > max_pixels:
        raise SwapError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"{_the(role)} is {width}x{height} pixels, more than the {max_pixels:,} pixels allowed; "
            "send a smaller image.",
        )


def _the(role: str) -> str:
    """How messages name the image: "The source image", or "The image" when no role was given."""
    return f"The {image_label(role)}"


def _over_budget(role: str, size: tuple[int, int]) -> SwapError:
    width, height = size
    return SwapError(
        ErrorCode.IMAGE_TOO_LARGE,
        f"{_the(role)} is {width}x{height} pixels in a format too costly to decode at that size; "
        "send a smaller image or a baseline JPEG.",
    )


def _plan(image: ImageFile.ImageFile, fmt: ImageFormat, max_dimension: int | None) -> DecodePlan:
    """How `image` will be decoded, read from its header: what the budget estimates from."""
    fast = _libjpeg_or_libwebp_decodes(image, fmt)
    progressive = fmt == "jpeg" and bool(image.info.get("progressive") or image.info.get("progression"))
    return DecodePlan(
        size=image.size,
        mode=image.mode,
        alpha=image.mode in _ALPHA_MODES or "transparency" in image.info,
        fast=fast,
        scale=_jpeg_scale(image.size, max_dimension) if fast and fmt == "jpeg" else 1,
        progressive=progressive,
        components=int(getattr(image, "layers", 3) or 3),
    )


def _too_large(role: str) -> SwapError:
    return SwapError(ErrorCode.IMAGE_TOO_LARGE, f"{_the(role)} is too large to decode; send a smaller one.")


def _damaged(role: str) -> SwapError:
    return SwapError(
        ErrorCode.INVALID_IMAGE,
        f"{_the(role)} could not be decoded: the file is damaged, incomplete or not a valid {_ACCEPTED}.",
    )


def _orientation(image: ImageFile.ImageFile) -> int:
    """The EXIF (or XMP) orientation, 1 to 8; 1 when absent or unreadable (a broken tag rejects no photo)."""
    try:
        # The base class reads the tags already parsed; PngImageFile.getexif would decode every pixel first.
        value = Image.Image.getexif(image).get(ExifTags.Base.Orientation, 1)
    except _DECODE_ERRORS:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _pixels(image: ImageFile.ImageFile, data: bytes, fmt: ImageFormat, role: str, scale: int) -> Frame:
    if not _libjpeg_or_libwebp_decodes(image, fmt):
        return _pillow_pixels(image)
    width, height = image.size
    shape = (-(-height // scale), -(-width // scale), 3)
    pixels = _simplejpeg_pixels(data, shape) if fmt == "jpeg" else None
    if pixels is None:
        flags = _REDUCED_JPEG[scale] | cv2.IMREAD_IGNORE_ORIENTATION
        try:
            pixels = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
        except cv2.error as exc:
            raise _damaged(role) from exc
    if pixels is None or pixels.shape != shape:
        raise _damaged(role)
    return pixels


def _simplejpeg_pixels(data: bytes, shape: tuple[int, int, int]) -> Frame | None:
    """The JPEG, DCT-scaled to `shape`, from simplejpeg: 1.3x faster than OpenCV, the same pixels (its
    own libjpeg-turbo, the same version as OpenCV's; tests/test_imaging.py compares them).

    None when libjpeg-turbo reports any problem, even one it could recover from: OpenCV then decides, as
    it did alone before (it accepts stray bytes before a marker and refuses a file cut short).
    """
    try:
        pixels = simplejpeg.decode_jpeg(
            data, colorspace="BGR", min_height=shape[0], min_width=shape[1], strict=True
        )
    except Exception:  # ValueError for damage; anything else (allocation) is OpenCV's to meet too
        return None
    return pixels if pixels.shape == shape else None


def _libjpeg_or_libwebp_decodes(image: ImageFile.ImageFile, fmt: ImageFormat) -> bool:
    """Opaque still JPEG and WebP: decoded without Pillow (same libjpeg-turbo and libwebp), 1.5x faster.

    Never PNG: OpenCV 5.0's PNG reader trusts chunk lengths (a 2 KB file with one corrupted length took
    8 s and 2.9 GB), while Pillow checks them; Pillow is only 1.25x slower there.
    """
    if fmt == "jpeg":
        return image.mode in ("RGB", "L")
    return fmt == "webp" and image.mode == "RGB" and not getattr(image, "is_animated", False)


def _jpeg_scale(size: tuple[int, int], max_dimension: int | None) -> int:
    """The largest DCT scale-down (1, 2, 4 or 8) that keeps the longer side at least `max_dimension`."""
    if max_dimension is None:
        return 1
    longer = max(size)
    return max((scale for scale in _REDUCED_JPEG if -(-longer // scale) >= max_dimension), default=1)


def _pillow_pixels(image: ImageFile.ImageFile) -> Frame:
    image.load()
    if image.mode.startswith("I"):
        return cv2.cvtColor(_gray16_to_8(image), cv2.COLOR_GRAY2BGR)
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        white = Image.new("RGBA", image.size, _WHITE)
        rgb = Image.alpha_composite(white, image.convert("RGBA")).convert("RGB")
    elif image.mode in ("L", "1"):
        return cv2.cvtColor(np.asarray(image.convert("L")), cv2.COLOR_GRAY2BGR)
    else:
        rgb = image if image.mode == "RGB" else image.convert("RGB")
    return cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2BGR)


def _gray16_to_8(image: Image.Image) -> np.ndarray:
    """16-bit grey scaled (not clipped) to 8 bits, the transparent grey level (if any) painted white."""
    samples = np.asarray(image)
    if samples.dtype != np.uint16:  # mode "I": 32-bit samples, clipped into 16 bits in place of a copy
        samples = np.clip(samples, 0, 0xFFFF, out=np.array(samples))
    gray = (samples >> 8).astype(np.uint8)
    key = image.info.get("transparency")
    if isinstance(key, int):
        gray[samples == key] = 255
    return gray


def _upright(pixels: Frame, orientation: int) -> Frame:
    """The frame as displayed under an EXIF orientation (2-8: mirrored and/or rotated), C-contiguous."""
    if orientation == 2:
        return cv2.flip(pixels, 1)
    if orientation == 3:
        return cv2.rotate(pixels, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(pixels, 0)
    if orientation == 5:
        return cv2.transpose(pixels)
    if orientation == 6:
        return cv2.rotate(pixels, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:
        return cv2.flip(cv2.transpose(pixels), -1)
    if orientation == 8:
        return cv2.rotate(pixels, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return pixels
