"""An invisible watermark in the pixels: 48 bits that survive metadata stripping, JPEG, resizing and cropping.

The mark is one 64×64 tile repeated over the whole image, added to the luma (the same value on B, G and R,
so hue is untouched). The tile is 16×16 cells of 4×4 pixels, each cell ±1, softened:

    64 cells    a fixed sync pattern: finds the tile's phase after a crop (circular cross-correlation)
    192 cells   the 48 payload bits, four cells each, each cell with its own ±1 chip

Reading: the luma's high frequencies; the tile's period from the autocorrelation (so a resize is undone
by resampling to 64 pixels a period); every tile folded onto one (averaging away the picture); the sync's
peak gives the phase and the confidence; each bit is the sign of its four cells' sum.

Payload: 8 bits of service id, 32 bits of output id, 8 bits of check (the low byte of their CRC-32).
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from functools import cache
from typing import Final

import cv2
import numpy as np

from faceswap.pipeline.arrays import Frame

__all__ = [
    "PAYLOAD_BITS",
    "SERVICE_ID",
    "WatermarkReading",
    "embed_watermark",
    "payload_bits",
    "read_watermark",
]

TILE: Final = 64
CELL: Final = 4
CELLS: Final = TILE // CELL
SYNC_CELLS: Final = 64
PAYLOAD_BITS: Final = 48
CELLS_PER_BIT: Final = (CELLS * CELLS - SYNC_CELLS) // PAYLOAD_BITS
SERVICE_ID: Final = 0xFA
STRENGTH: Final = 2.45
"""Luma amplitude of a cell: about 41 dB PSNR against the unmarked image."""
PRESENT_SCORE: Final = 5.5
"""Sync peak, in standard deviations of the correlation surface, from which the mark counts as present."""
MIN_SIDE: Final = 2 * TILE
COMMON_SCALES: Final = (0.5, 0.75, 2 / 3, 0.25, 1.5, 2.0)
"""Resize factors tried when the measured period does not give a payload (textures can hide it)."""
_KEY: Final = 0x5EED_FACE
_HIGHPASS_SIGMA: Final = 3.0
_ACTIVITY_SIGMA: Final = 8.0
_ACTIVITY_FLOOR: Final = 1.0
_MIN_PERIOD: Final = 20
_MAX_PERIOD: Final = 4 * TILE


@dataclass(frozen=True)
class WatermarkReading:
    """What `read_watermark` found: the score, the bits, and the payload when its checksum holds."""

    present: bool
    score: float
    scale: float
    bits: tuple[int, ...]
    service_id: int | None = None
    output_id: str | None = None


def payload_bits(output_id: str, service_id: int = SERVICE_ID) -> tuple[int, ...]:
    """The 48 bits for an 8-hex-digit `output_id`: service id, output id, check byte."""
    body = bytes([service_id]) + bytes.fromhex(output_id)
    if len(body) != 5:
        raise ValueError("output_id must be 8 hexadecimal digits")
    value = int.from_bytes(body + bytes([binascii.crc32(body) & 0xFF]), "big")
    return tuple((value >> (PAYLOAD_BITS - 1 - index)) & 1 for index in range(PAYLOAD_BITS))


def _parse(bits: tuple[int, ...]) -> tuple[int, str] | None:
    value = 0
    for bit in bits:
        value = (value << 1) | bit
    raw = value.to_bytes(PAYLOAD_BITS // 8, "big")
    if binascii.crc32(raw[:5]) & 0xFF != raw[5]:
        return None
    return raw[0], raw[1:5].hex()


@cache
def _layout() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cell roles (-1 sync, else the bit number), the cells' chips, and the soft ±1 sync tile."""
    rng = np.random.default_rng(_KEY)
    order = rng.permutation(CELLS * CELLS)
    roles = np.empty(CELLS * CELLS, np.int32)
    roles[order[:SYNC_CELLS]] = -1
    roles[order[SYNC_CELLS:]] = np.repeat(np.arange(PAYLOAD_BITS), CELLS_PER_BIT)
    chips = rng.choice(np.array([-1.0, 1.0], np.float32), CELLS * CELLS)
    sync = np.where(roles == -1, chips, 0.0).astype(np.float32)
    return roles.reshape(CELLS, CELLS), chips.reshape(CELLS, CELLS), _soften(sync.reshape(CELLS, CELLS))


def _soften(cells: np.ndarray) -> np.ndarray:
    """Cells to a 64×64 tile, edges softened with wrap-around (the tile repeats)."""
    tile = np.kron(cells, np.ones((CELL, CELL), np.float32))
    wrapped = np.tile(tile, (3, 3))
    blurred = cv2.GaussianBlur(wrapped, (0, 0), 0.8)
    return blurred[TILE : 2 * TILE, TILE : 2 * TILE]


@cache
def _tile(bits: tuple[int, ...]) -> np.ndarray:
    roles, chips, _ = _layout()
    signs = np.where(np.asarray(bits) > 0, 1.0, -1.0).astype(np.float32)
    cells = np.where(roles == -1, chips, chips * signs[np.maximum(roles, 0)])
    tile = _soften(cells.astype(np.float32))
    return tile * (STRENGTH / float(np.sqrt(np.mean(tile**2))))


def embed_watermark(
    frame: Frame, output_id: str, service_id: int = SERVICE_ID, *, out: Frame | None = None
) -> Frame:
    """The BGR `frame` with the payload in its pixels (unchanged when under 128 px a side), written to `out`
    (`frame` itself marks it in place), else to a new array."""
    height, width = frame.shape[:2]
    marked = np.empty_like(frame) if out is None else out
    if min(height, width) < MIN_SIDE:
        np.copyto(marked, frame)
        return marked
    # The frame is whole numbers, so rounding the tile first gives the same pixels; saturating uint8 adds,
    # one band of tile rows at a time, never widen or copy the whole frame (a float copy of a 12 MP frame
    # took a second).
    steps = np.rint(_tile(payload_bits(output_id, service_id)))
    repeats = (1, width // TILE + 1) + (1,) * (frame.ndim - 2)
    bands = []
    for part in (np.maximum(steps, 0), np.maximum(-steps, 0)):
        cells = part.astype(np.uint8)
        if frame.ndim == 3:
            cells = np.repeat(cells[:, :, None], frame.shape[2], axis=2)
        bands.append(np.ascontiguousarray(np.tile(cells, repeats)[:, :width]))
    raised, lowered = bands
    for top in range(0, height, TILE):
        rows = min(TILE, height - top)
        band = marked[top : top + rows]
        cv2.add(frame[top : top + rows], raised[:rows], dst=band)
        cv2.subtract(band, lowered[:rows], dst=band)
    return marked


def read_watermark(frame: Frame) -> WatermarkReading:
    """Look for the mark in a BGR (or grey) frame: at its own scale, the measured one, then common ones."""
    luma = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    luma = luma.astype(np.float32)
    if min(luma.shape) < MIN_SIDE // 2:
        return WatermarkReading(False, 0.0, 1.0, ())
    best = _read_at(luma, 1.0)
    if best.present:
        return best
    period = _period(_highpass(luma))
    scales = [period / TILE] if period is not None and abs(period - TILE) > 0.5 else []
    for scale in [*scales, *COMMON_SCALES]:
        reading = _read_at(luma, scale)
        if reading.score > best.score:
            best = reading
        if best.output_id is not None:
            break
    return best


def _highpass(luma: np.ndarray) -> np.ndarray:
    """The luma's fine detail, each region divided by its own activity, so texture does not drown the mark."""
    detail = luma - cv2.GaussianBlur(luma, (0, 0), _HIGHPASS_SIGMA)
    activity = np.sqrt(cv2.GaussianBlur(detail * detail, (0, 0), _ACTIVITY_SIGMA))
    return detail / (activity + _ACTIVITY_FLOOR)


def _period(residual: np.ndarray) -> float | None:
    """The tile's period in pixels: the shortest lag whose multiples stand out in the autocorrelation along
    both axes, refined at its furthest multiple (None when the image is too small to tell)."""
    spectrum = np.fft.rfft2(residual - residual.mean())
    auto = np.fft.irfft2(spectrum * np.conj(spectrum), s=residual.shape)
    span = min(residual.shape) // 2
    if span <= 2 * _MIN_PERIOD:
        return None
    profile = auto[0, :span] + auto[:span, 0]
    peaks = profile - cv2.GaussianBlur(profile.reshape(1, -1), (0, 0), 3.0).ravel()
    candidates = np.arange(_MIN_PERIOD, min(_MAX_PERIOD, span // 2) + 1)
    strength = [np.mean([peaks[k * lag] for k in range(1, span // lag)]) for lag in candidates]
    scores = np.asarray(strength)
    lag = int(candidates[int(np.argmax(scores >= 0.7 * scores.max()))])  # the period, not a multiple of it
    multiple = (span - 2) // lag
    around = lag * multiple
    peak = around - 1 + int(np.argmax(profile[around - 1 : around + 2]))
    return _refine(profile, peak) / multiple


def _refine(profile: np.ndarray, peak: int) -> float:
    """Sub-sample position of a peak (parabola through its neighbours)."""
    if peak <= 0 or peak + 1 >= profile.size:
        return float(peak)
    left, middle, right = profile[peak - 1], profile[peak], profile[peak + 1]
    denominator = left - 2 * middle + right
    return float(peak) if denominator == 0 else float(peak + 0.5 * (left - right) / denominator)


def _read_at(luma: np.ndarray, scale: float) -> WatermarkReading:
    """Read with the tile `scale` times its embedded size (the image resized by `scale`)."""
    if abs(scale - 1.0) > 1e-3:
        height, width = luma.shape
        size = (max(1, round(width / scale)), max(1, round(height / scale)))
        luma = cv2.resize(luma, size, interpolation=cv2.INTER_CUBIC)
    folded = _fold(_highpass(luma))
    roles, chips, sync = _layout()
    correlation = np.real(np.fft.ifft2(np.fft.fft2(folded) * np.conj(np.fft.fft2(sync))))
    shift = np.unravel_index(int(np.argmax(correlation)), correlation.shape)
    spread = float(correlation.std()) or 1.0
    score = float((correlation[shift] - correlation.mean()) / spread)
    aligned = np.roll(folded, (-int(shift[0]), -int(shift[1])), axis=(0, 1))
    inner = aligned.reshape(CELLS, CELL, CELLS, CELL)[:, 1:-1, :, 1:-1].mean(axis=(1, 3)) * chips
    sums = np.bincount(roles[roles >= 0], weights=inner[roles >= 0], minlength=PAYLOAD_BITS)
    bits = tuple(int(value > 0) for value in sums)
    parsed = _parse(bits)
    present = score >= PRESENT_SCORE
    return WatermarkReading(
        present=present,
        score=round(score, 2),
        scale=round(scale, 4),
        bits=bits,
        service_id=parsed[0] if parsed and present else None,
        output_id=parsed[1] if parsed and present else None,
    )


def _fold(residual: np.ndarray) -> np.ndarray:
    """Every 64×64 tile of the residual summed onto one, the partial ones too (averaged per pixel)."""
    height, width = residual.shape
    rows, columns = -(-height // TILE) * TILE, -(-width // TILE) * TILE
    padded = np.zeros((rows, columns), np.float32)
    counts = np.zeros((rows, columns), np.float32)
    padded[:height, :width] = residual
    counts[:height, :width] = 1.0
    total = padded.reshape(rows // TILE, TILE, columns // TILE, TILE).sum(axis=(0, 2))
    weight = counts.reshape(rows // TILE, TILE, columns // TILE, TILE).sum(axis=(0, 2))
    return total / np.maximum(weight, 1.0)
