"""The strip-parallel PNG writer: lossless at every level and strip count, and a well-formed file."""

from __future__ import annotations

import io
import itertools
import struct
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import faceswap.pipeline.png
import faceswap.runtime.pool
from faceswap.pipeline.png import adler32_combine, encode_png, strip_rows


def _grainy(height: int, width: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 200, width, dtype=np.float32)[None, :, None]
    grain = rng.normal(0, 12, (height, width, 3)).astype(np.float32)
    return np.clip(ramp + grain + 20, 0, 255).astype(np.uint8)


def _chunks(data: bytes) -> list[tuple[bytes, bytes, int]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, position = [], 8
    while position < len(data):
        (length,) = struct.unpack_from(">I", data, position)
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack_from(">I", data, position + 8 + length)
        chunks.append((kind, body, crc))
        position += 12 + length
    assert position == len(data)
    return chunks


def _rgb(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


@pytest.fixture
def tiny_strips(monkeypatch: pytest.MonkeyPatch) -> None:
    """Strips of a few rows, so small frames are cut as a 4000x3000 one is."""
    monkeypatch.setattr(faceswap.pipeline.png, "STRIP_BYTES", 64)


@pytest.mark.parametrize("level", range(10))
@pytest.mark.parametrize("workers", [1, 2, 5])
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (7, 1), (61, 97)])
def test_every_level_and_strip_count_is_lossless(
    tiny_strips: None, level: int, workers: int, shape: tuple[int, int]
) -> None:
    pixels = _grainy(*shape, seed=level)
    data = encode_png(pixels, level, workers=workers)
    assert np.array_equal(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED), pixels)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data)))[..., ::-1], pixels)


def test_the_file_is_well_formed_chunk_by_chunk(tiny_strips: None) -> None:
    pixels = _grainy(40, 30)
    chunks = _chunks(encode_png(pixels, 2, workers=4))
    kinds = [kind for kind, _, _ in chunks]
    assert kinds == [b"IHDR"] + [b"IDAT"] * 4 + [b"IEND"]
    for kind, body, crc in chunks:
        assert zlib.crc32(kind + body) == crc
    assert struct.unpack(">IIBBBBB", chunks[0][1]) == (30, 40, 8, 2, 0, 0, 0)
    stream = b"".join(body for kind, body, _ in chunks if kind == b"IDAT")
    decompressor = zlib.decompressobj()
    raw = decompressor.decompress(stream)  # checks the zlib header and the combined Adler-32
    assert decompressor.eof and not decompressor.unused_data
    rows = np.frombuffer(raw, np.uint8).reshape(40, 1 + 30 * 3)
    assert (rows[:, 0] == 2).all()  # the Up filter on every row


def test_a_large_frame_is_cut_into_strips_without_changing_a_pixel() -> None:
    pixels = _grainy(700, 500)
    assert len(strip_rows(700, 1 + 500 * 3, 4)) == 4
    split, whole = encode_png(pixels, 2, workers=4), encode_png(pixels, 2, workers=1)
    assert np.array_equal(
        np.asarray(Image.open(io.BytesIO(split))), np.asarray(Image.open(io.BytesIO(whole)))
    )
    assert len(split) < 1.01 * len(whole)


def test_compression_levels_order_the_sizes() -> None:
    pixels = cv2.GaussianBlur(_grainy(120, 160), (5, 5), 1.5)
    sizes = {level: len(encode_png(pixels, level)) for level in (0, 2, 9)}
    assert sizes[9] < sizes[2] < sizes[0] < pixels.nbytes // 2


def test_views_of_a_frame_encode_as_their_own_pixels(tiny_strips: None) -> None:
    frame = _grainy(50, 60)
    for view in (frame[5:45, 7:51], frame[::2, ::3], frame[:, ::-1]):
        data = encode_png(view, 2, workers=3)
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(data)))[..., ::-1], view)


def test_strips_are_compressed_here_once_the_pool_is_shut_down(
    tiny_strips: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    pixels = _grainy(30, 20)
    expected = encode_png(pixels, 2, workers=3)
    closed = ThreadPoolExecutor(max_workers=1)
    closed.shutdown()
    monkeypatch.setattr(faceswap.runtime.pool, "_pool", closed)
    assert encode_png(pixels, 2, workers=3) == expected


def test_threads_encoding_at_once_each_get_their_own_file(tiny_strips: None) -> None:
    frames = [_grainy(30, 20, seed=seed) for seed in range(8)]
    expected = [encode_png(frame, 2, workers=3) for frame in frames]
    results: list[bytes | None] = [None] * len(frames)

    def encode(number: int) -> None:
        results[number] = encode_png(frames[number], 2, workers=3)

    threads = [threading.Thread(target=encode, args=(number,)) for number in range(len(frames))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == expected


@pytest.mark.parametrize(
    ("pixels", "level", "message"),
    [
        (np.zeros((4, 4), np.uint8), 2, "HxWx3 uint8"),
        (np.zeros((4, 4, 4), np.uint8), 2, "HxWx3 uint8"),
        (np.zeros((4, 4, 3), np.uint16), 2, "HxWx3 uint8"),
        (np.zeros((0, 4, 3), np.uint8), 2, "empty"),
        (np.zeros((4, 0, 3), np.uint8), 2, "empty"),
        (np.zeros((4, 4, 3), np.uint8), 10, "0-9"),
        (np.zeros((4, 4, 3), np.uint8), -1, "0-9"),
    ],
)
def test_what_it_cannot_write_is_a_value_error(pixels: np.ndarray, level: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encode_png(pixels, level)


@given(height=st.integers(1, 5000), row_bytes=st.integers(4, 20_000), workers=st.integers(1, 64))
def test_strips_cover_every_row_once(height: int, row_bytes: int, workers: int) -> None:
    bounds = strip_rows(height, row_bytes, workers)
    assert bounds[0][0] == 0 and bounds[-1][1] == height
    assert all(stop > start for start, stop in bounds)
    assert all(previous[1] == following[0] for previous, following in itertools.pairwise(bounds))
    assert 1 <= len(bounds) <= workers
    if len(bounds) > 1:
        assert (
            min(stop - start for start, stop in bounds) * row_bytes >= faceswap.pipeline.png.STRIP_BYTES // 2
        )


@settings(max_examples=200)
@given(first=st.binary(max_size=300), second=st.binary(max_size=300), repeat=st.integers(1, 400))
def test_adler32_combine_matches_zlib(first: bytes, second: bytes, repeat: int) -> None:
    second *= repeat  # lengths past the modulus, 65521
    assert adler32_combine(zlib.adler32(first), zlib.adler32(second), len(second)) == zlib.adler32(
        first + second
    )
