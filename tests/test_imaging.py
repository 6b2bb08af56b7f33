import base64
import io
import resource
import struct
import tracemalloc
import zlib
from collections.abc import Callable

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import ExifTags, Image, ImageOps, PngImagePlugin

import faceswap.pipeline.decode
import faceswap.pipeline.encode
from faceswap.errors import ErrorCode, SwapError
from faceswap.pipeline.decode import decode_image, fit_within, looks_like_image
from faceswap.pipeline.encode import encode_image, to_base64
from faceswap.pipeline.labels import DIGITAL_SOURCE_TYPE, read_label
from faceswap.pipeline.png import png_chunk

LIMIT = 1_000_000
BLOCK = 16
# RGB colours of a 3x2 grid of 16-pixel blocks: no two alike, so every mirror and rotation is distinct.
GRID = np.array(
    [
        [(230, 30, 30), (30, 200, 30), (30, 30, 230)],
        [(230, 230, 30), (200, 30, 200), (30, 200, 200)],
    ],
    dtype=np.uint8,
)
# EXIF orientation → what a viewer does to the stored pixels to show them upright.
UPRIGHT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, -1)[::-1],
    8: lambda a: np.rot90(a, 1),
}


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _grid_rgb() -> np.ndarray:
    return np.kron(GRID, np.ones((BLOCK, BLOCK, 1), dtype=np.uint8))


def _centres(pixels: np.ndarray) -> np.ndarray:
    return pixels[BLOCK // 2 :: BLOCK, BLOCK // 2 :: BLOCK].astype(int)


def _bgr(rgb: tuple[int, int, int]) -> list[int]:
    return [rgb[2], rgb[1], rgb[0]]


def _decode(data: bytes, **options: object) -> np.ndarray:
    return decode_image(data, max_pixels=LIMIT, **options).pixels


def _refusal(data: bytes, **options: object) -> SwapError:
    with pytest.raises(SwapError) as caught:
        decode_image(data, max_pixels=LIMIT, **options)
    return caught.value


def _oriented(fmt: str, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    image = Image.fromarray(_grid_rgb())
    if fmt == "jpeg":
        return _save(image, "JPEG", quality=95, exif=exif)
    if fmt == "png-alpha":
        return _save(image.convert("RGBA"), "PNG", exif=exif)
    return _save(image, "WEBP", lossless=True, exif=exif)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["jpeg", "png-alpha", "webp"])
def test_every_exif_orientation_is_shown_upright(fmt: str, orientation: int) -> None:
    decoded = decode_image(_oriented(fmt, orientation), max_pixels=LIMIT)
    expected = UPRIGHT[orientation](_grid_rgb()[..., ::-1])
    assert decoded.pixels.shape == expected.shape
    assert decoded.original_size == (expected.shape[1], expected.shape[0])
    assert np.abs(_centres(decoded.pixels) - _centres(expected)).max() <= 12


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_table_agrees_with_pillow(orientation: int) -> None:
    image = Image.open(io.BytesIO(_oriented("png-alpha", orientation)))
    assert (
        np.asarray(ImageOps.exif_transpose(image).convert("RGB")) == UPRIGHT[orientation](_grid_rgb())
    ).all()


def test_a_broken_exif_block_leaves_the_photo_unrotated() -> None:
    data = _save(Image.fromarray(_grid_rgb()), "JPEG", quality=95, exif=b"Exif\x00\x00MM\x00*garbage")
    with pytest.warns(UserWarning, match="Corrupt EXIF data"):
        pixels = _decode(data)
    assert pixels.shape == (2 * BLOCK, 3 * BLOCK, 3)
    assert np.abs(_centres(pixels) - _centres(_grid_rgb()[..., ::-1])).max() <= 12


def _png16_grey() -> bytes:
    return _save(Image.fromarray(np.array([[0, 257, 32768, 65535]], dtype=np.uint16)), "PNG")


def _png16_grey_keyed() -> bytes:
    return _save(
        Image.fromarray(np.array([[0, 257, 32768, 65535]], dtype=np.uint16)), "PNG", transparency=257
    )


def _png16_rgb() -> bytes:
    samples = np.array([[[0, 0, 65535], [32768, 1000, 65280]]], dtype=np.uint16)  # BGR for OpenCV
    return cv2.imencode(".png", samples)[1].tobytes()


def _palette(transparency: int | None) -> bytes:
    image = Image.new("P", (2, 1))
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.putpixel((1, 0), 1)
    return _save(image, "PNG") if transparency is None else _save(image, "PNG", transparency=transparency)


def _two_frames(fmt: str, **options: object) -> bytes:
    frames = [Image.new("RGB", (8, 8), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    return _save(frames[0], fmt, save_all=True, append_images=frames[1:], **options)


def _rgba(fmt: str, **options: object) -> bytes:
    pixels = np.array([[(255, 0, 0, 0), (0, 0, 255, 255), (0, 0, 0, 128)]], dtype=np.uint8)
    return _save(Image.fromarray(pixels, "RGBA"), fmt, **options)


def _gif_transparent() -> bytes:
    image = Image.new("P", (2, 1))
    image.putpalette([0, 255, 0, 9, 9, 9] + [0] * 762)
    image.putpixel((1, 0), 1)
    return _save(image, "GIF", transparency=1)


# name → (file bytes, expected BGR rows, tolerance)
VARIANTS: dict[str, tuple[Callable[[], bytes], list[list[list[int]]], int]] = {
    "L": (lambda: _save(Image.new("L", (2, 1), 100), "PNG"), [[[100] * 3] * 2], 0),
    "LA": (
        lambda: _save(Image.fromarray(np.array([[[0, 0], [40, 255]]], dtype=np.uint8), "LA"), "PNG"),
        [[[255] * 3, [40] * 3]],
        0,
    ),
    "P": (lambda: _palette(None), [[_bgr((255, 0, 0)), _bgr((0, 0, 255))]], 0),
    "P+transparency": (lambda: _palette(0), [[[255] * 3, _bgr((0, 0, 255))]], 0),
    "RGBA on white": (lambda: _rgba("PNG"), [[[255] * 3, _bgr((0, 0, 255)), [127] * 3]], 1),
    "RGB+colour key": (
        lambda: _save(Image.new("RGB", (2, 1), (1, 2, 3)), "PNG", transparency=(1, 2, 3)),
        [[[255] * 3] * 2],
        0,
    ),
    "1-bit": (lambda: _save(Image.new("1", (2, 1), 1), "PNG"), [[[255] * 3] * 2], 0),
    "16-bit grey": (lambda: _png16_grey(), [[[0] * 3, [1] * 3, [128] * 3, [255] * 3]], 0),
    "16-bit grey+key": (lambda: _png16_grey_keyed(), [[[0] * 3, [255] * 3, [128] * 3, [255] * 3]], 0),
    "16-bit RGB": (lambda: _png16_rgb(), [[[0, 0, 255], [128, 3, 255]]], 0),
    "JPEG L": (lambda: _save(Image.new("L", (16, 16), 77), "JPEG"), [[[77] * 3] * 16] * 16, 1),
    "CMYK JPEG": (
        lambda: _save(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG"),
        [[_bgr((255, 0, 0))] * 16] * 16,
        4,
    ),
    "WebP lossy": (
        lambda: _save(Image.new("RGB", (16, 16), (0, 0, 200)), "WEBP"),
        [[[200, 0, 0]] * 16] * 16,
        6,
    ),
    "WebP lossless": (
        lambda: _save(Image.new("RGB", (2, 1), (1, 2, 3)), "WEBP", lossless=True),
        [[[3, 2, 1]] * 2],
        0,
    ),
    "WebP RGBA on white": (
        lambda: _rgba("WEBP", lossless=True, exact=True),
        [[[255] * 3, _bgr((0, 0, 255)), [127] * 3]],
        1,
    ),
    "APNG first frame": (lambda: _two_frames("PNG"), [[_bgr((255, 0, 0))] * 8] * 8, 0),
    "animated WebP first frame": (
        lambda: _two_frames("WEBP", lossless=True),
        [[_bgr((255, 0, 0))] * 8] * 8,
        0,
    ),
    "animated GIF first frame": (lambda: _two_frames("GIF"), [[_bgr((255, 0, 0))] * 8] * 8, 0),
    "GIF transparency": (lambda: _gif_transparent(), [[_bgr((0, 255, 0)), [255] * 3]], 0),
}


@pytest.mark.parametrize("name", VARIANTS)
def test_every_variant_decodes_to_8_bit_bgr_with_its_colours(name: str) -> None:
    build, rows, tolerance = VARIANTS[name]
    pixels = _decode(build())
    expected = np.array(rows)
    assert pixels.dtype == np.uint8 and pixels.flags.c_contiguous
    assert pixels.shape == expected.shape
    assert np.abs(pixels.astype(int) - expected).max() <= tolerance


@pytest.mark.parametrize(
    ("fmt", "build"),
    [
        ("jpeg", lambda a: _save(Image.fromarray(a), "JPEG", quality=90)),
        ("jpeg", lambda a: _save(Image.fromarray(a), "JPEG", quality=90, progressive=True)),
        ("jpeg", lambda a: _save(Image.fromarray(a).convert("L"), "JPEG", quality=90)),
        ("webp", lambda a: _save(Image.fromarray(a), "WEBP", quality=80)),
        ("webp", lambda a: _save(Image.fromarray(a), "WEBP", lossless=True)),
    ],
)
def test_the_fast_opencv_path_gives_pillows_pixels(fmt: str, build: Callable[[np.ndarray], bytes]) -> None:
    rgb = np.random.default_rng(3).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    data = build(rgb)
    decoded = decode_image(data, max_pixels=LIMIT)
    reference = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))[..., ::-1]
    assert decoded.format == fmt
    assert (decoded.pixels == reference).all()


def test_a_large_jpeg_is_decoded_reduced_but_not_below_max_dimension() -> None:
    rgb = cv2.resize(_grid_rgb(), (2001, 1001), interpolation=cv2.INTER_NEAREST)
    data = _save(Image.fromarray(rgb), "JPEG", quality=95)
    decoded = decode_image(data, max_pixels=10_000_000, max_dimension=400)
    assert decoded.pixels.shape == (251, 501, 3)
    assert decoded.original_size == (2001, 1001)
    full = decode_image(data, max_pixels=10_000_000)
    assert full.pixels.shape == (1001, 2001, 3)
    small = cv2.resize(full.pixels, (501, 251), interpolation=cv2.INTER_AREA)
    assert np.abs(small.astype(int) - decoded.pixels).mean() < 2


@pytest.mark.parametrize("max_dimension", [None, 1001, 501, 251, 126])
def test_jpeg_pixels_are_opencvs_at_every_dct_scale(max_dimension: int | None) -> None:
    rgb = cv2.GaussianBlur(
        np.random.default_rng(5).integers(0, 256, (1001, 2001, 3), dtype=np.uint8), (5, 5), 2
    )
    data = _save(Image.fromarray(rgb), "JPEG", quality=90)
    decoded = decode_image(data, max_pixels=LIMIT * 100, max_dimension=max_dimension)
    scale = round(2001 / decoded.pixels.shape[1])
    flag = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4}.get(
        scale, cv2.IMREAD_REDUCED_COLOR_8
    )
    assert np.array_equal(decoded.pixels, cv2.imdecode(np.frombuffer(data, np.uint8), flag))


def test_a_jpeg_libjpeg_can_recover_from_still_decodes_and_a_cut_one_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = _save(Image.fromarray(_grid_rgb()), "JPEG")
    expected = _decode(data)
    calls: list[int] = []
    imdecode = cv2.imdecode

    def spy(buffer: np.ndarray, flags: int) -> np.ndarray | None:
        calls.append(len(buffer))
        return imdecode(buffer, flags)

    monkeypatch.setattr(faceswap.pipeline.decode.cv2, "imdecode", spy)
    scan = data.index(b"\xff\xda")
    stray = data[:scan] + b"\x00\x11\x22" + data[scan:]  # libjpeg-turbo warns: extraneous bytes before SOS
    assert np.array_equal(_decode(stray), expected)
    assert calls == [len(stray)]  # simplejpeg refused it; OpenCV decided
    assert _refusal(data[: len(data) * 3 // 4]).code == ErrorCode.INVALID_IMAGE


def test_a_sound_jpeg_never_needs_opencv(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _save(Image.fromarray(_grid_rgb()), "JPEG")
    expected = _decode(data)

    def refuse(*args: object) -> None:
        raise AssertionError("OpenCV was asked to decode a JPEG simplejpeg should have decoded")

    monkeypatch.setattr(faceswap.pipeline.decode.cv2, "imdecode", refuse)
    assert np.array_equal(_decode(data), expected)


def test_max_dimension_above_the_image_decodes_it_whole() -> None:
    data = _save(Image.fromarray(_grid_rgb()), "JPEG")
    assert decode_image(data, max_pixels=LIMIT, max_dimension=1024).pixels.shape == (2 * BLOCK, 3 * BLOCK, 3)


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (b"\xff\xd8\xff\xe0rest", "jpeg"),
        (b"\x89PNG\r\n\x1a\nrest", "png"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "webp"),
        (b"GIF87a", "gif"),
        (b"GIF89a", "gif"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),
        (b"BM\x00\x00", None),
        (b"II*\x00", None),
        (b"<svg", None),
        (b"", None),
    ],
)
def test_looks_like_image_reads_only_magic_bytes(data: bytes, fmt: str | None) -> None:
    assert looks_like_image(data) == fmt


def _png_bomb(width: int, height: int) -> bytes:
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    idat = png_chunk(b"IDAT", zlib.compress(b"\x00" * 4096, 9))
    return b"\x89PNG\r\n\x1a\n" + header + idat + png_chunk(b"IEND", b"")


def _png_with_idat_length(length: int) -> bytes:
    data = bytearray(_save(Image.fromarray(_grid_rgb()), "PNG"))
    idat = data.index(b"IDAT")
    data[idat - 4 : idat] = struct.pack(">I", length)
    return bytes(data)


def _jpeg_bomb() -> bytes:
    data = bytearray(_save(Image.new("RGB", (16, 16)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 65000, 65000)
    return bytes(data)


def _webp_bomb(kind: str) -> bytes:
    small = _save(Image.new("RGB", (4, 4)), "WEBP", lossless=True)
    if kind == "VP8L":
        data = bytearray(small)
        data[21:25] = struct.pack(
            "<I", (16383 | 16383 << 14) | (int.from_bytes(data[21:25], "little") & ~0xFFFFFFF)
        )
        return bytes(data)
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00" * 4 + (16383).to_bytes(3, "little") * 2
    body = b"WEBP" + vp8x + small[12:]
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _gif(screen: tuple[int, int], frame: tuple[int, int]) -> bytes:
    palette = b"\x00\x00\x00\xff\xff\xff"
    descriptor = b"," + struct.pack("<HHHHB", 0, 0, *frame, 0)
    return (
        b"GIF89a"
        + struct.pack("<HHBBB", *screen, 0x80, 0, 0)
        + palette
        + b"!\xf9\x04\x00\x00\x00\x00\x00"
        + descriptor
        + b"\x02\x02\x44\x01\x00;"
    )


def _many_scans(count: int) -> bytes:
    data = _save(Image.fromarray(_grid_rgb()), "JPEG", progressive=True)
    last = data.rindex(b"\xff\xda")
    return data[:-2] + data[last:-2] * count + b"\xff\xd9"


BOMBS: dict[str, Callable[[], bytes]] = {
    "PNG 100000x100000": lambda: _png_bomb(100_000, 100_000),
    "JPEG 65000x65000": _jpeg_bomb,
    "WebP VP8X 16384x16384": lambda: _webp_bomb("VP8X"),
    "WebP VP8L 16384x16384": lambda: _webp_bomb("VP8L"),
    "GIF screen 65535x65535": lambda: _gif((65535, 65535), (1, 1)),
    "GIF 1x1 screen, 60000x60000 frame": lambda: _gif((1, 1), (60000, 60000)),
}

HOSTILE: dict[str, tuple[Callable[[], bytes], ErrorCode]] = {
    "zero bytes": (lambda: b"", ErrorCode.INVALID_IMAGE),
    "text": (lambda: b"hello, this is not an image", ErrorCode.INVALID_IMAGE),
    "HTML": (lambda: b"<!doctype html><html><body><img src=x></body></html>", ErrorCode.INVALID_IMAGE),
    "SVG": (
        lambda: b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>',
        ErrorCode.INVALID_IMAGE,
    ),
    "PDF": (lambda: b"%PDF-1.7\n1 0 obj << >> endobj\n%%EOF", ErrorCode.INVALID_IMAGE),
    "TIFF": (lambda: _save(Image.new("RGB", (4, 4)), "TIFF"), ErrorCode.INVALID_IMAGE),
    "BMP": (lambda: _save(Image.new("RGB", (4, 4)), "BMP"), ErrorCode.INVALID_IMAGE),
    "ICO": (lambda: _save(Image.new("RGB", (16, 16)), "ICO"), ErrorCode.INVALID_IMAGE),
    "truncated JPEG": (lambda: _save(Image.fromarray(_grid_rgb()), "JPEG")[:-40], ErrorCode.INVALID_IMAGE),
    "JPEG without EOI": (lambda: _save(Image.fromarray(_grid_rgb()), "JPEG")[:-2], ErrorCode.INVALID_IMAGE),
    "truncated PNG": (lambda: _save(Image.fromarray(_grid_rgb()), "PNG")[:-30], ErrorCode.INVALID_IMAGE),
    "truncated WebP": (lambda: _save(Image.fromarray(_grid_rgb()), "WEBP")[:-30], ErrorCode.INVALID_IMAGE),
    "truncated GIF": (lambda: _two_frames("GIF")[:30], ErrorCode.INVALID_IMAGE),
    "PNG header only": (lambda: b"\x89PNG\r\n\x1a\n", ErrorCode.INVALID_IMAGE),
    "PNG 0x0": (lambda: _png_bomb(0, 0), ErrorCode.INVALID_IMAGE),
    "PNG magic, JPEG body": (
        lambda: b"\x89PNG\r\n\x1a\n" + _save(Image.new("RGB", (4, 4)), "JPEG"),
        ErrorCode.INVALID_IMAGE,
    ),
    "WebP magic, PNG body": (
        lambda: b"RIFF\x00\x01\x00\x00WEBP" + _save(Image.new("RGB", (4, 4)), "PNG"),
        ErrorCode.INVALID_IMAGE,
    ),
    "GIF magic, HTML body": (
        lambda: b"GIF89a<html><script>alert(1)</script></html>",
        ErrorCode.INVALID_IMAGE,
    ),
    "JPEG magic, HTML body": (
        lambda: b"\xff\xd8\xff<html><script>x</script></html>",
        ErrorCode.INVALID_IMAGE,
    ),
    "GIF without an image": (lambda: b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", ErrorCode.INVALID_IMAGE),
    "JPEG with 150 scans": (lambda: _many_scans(150), ErrorCode.INVALID_IMAGE),
    **{f"bomb: {name}": (build, ErrorCode.IMAGE_TOO_LARGE) for name, build in BOMBS.items()},
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_files_are_refused_with_their_code(name: str) -> None:
    build, code = HOSTILE[name]
    error = _refusal(build(), role="target")
    assert error.code == code
    assert error.message.startswith("The target image ")
    assert "/" not in error.message and "PIL" not in error.message and "Error" not in error.message


@pytest.mark.parametrize("name", BOMBS)
def test_a_bomb_is_refused_from_its_header_without_allocating(name: str) -> None:
    data = BOMBS[name]()
    tracemalloc.start()
    try:
        error = _refusal(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.code == ErrorCode.IMAGE_TOO_LARGE
    assert f"more than the {LIMIT:,} pixels allowed" in error.message
    assert peak < 2 * 1024 * 1024


def test_a_corrupt_png_chunk_length_is_not_allocated() -> None:
    # OpenCV 5.0's PNG reader allocated 2.9 GB for such a length (8 s); Pillow reads only the data present.
    data = _png_with_idat_length(0xB5000000)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert (_decode(data) == _grid_rgb()[..., ::-1]).all()
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 200 * 1024


def test_the_pixel_limit_names_the_size_and_the_limit() -> None:
    data = _save(Image.new("RGB", (300, 200)), "PNG")
    with pytest.raises(SwapError) as caught:
        decode_image(data, max_pixels=59_999, role="source")
    error = caught.value
    assert error.code == ErrorCode.IMAGE_TOO_LARGE
    assert error.message == (
        "The source image is 300x200 pixels, more than the 59,999 pixels allowed; send a smaller image."
    )
    assert decode_image(data, max_pixels=60_000).original_size == (300, 200)


@pytest.mark.parametrize(
    ("options", "start"), [({}, "The image is"), ({"role": "source"}, "The source image is")]
)
def test_messages_name_the_image_by_its_role(options: dict[str, str], start: str) -> None:
    assert _refusal(b"<html>", **options).message == f"{start} not a JPEG, PNG, WebP or GIF file."


def test_pillows_bomb_warning_never_fires_and_its_limit_is_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 48x32 = 1536: over it, under twice it
    for data in (_save(Image.fromarray(_grid_rgb()), fmt) for fmt in ("PNG", "JPEG", "WEBP", "GIF")):
        assert _decode(data).shape == (2 * BLOCK, 3 * BLOCK, 3)
    assert Image.MAX_IMAGE_PIXELS == 1000


def test_a_normal_progressive_jpeg_is_accepted() -> None:
    assert _decode(_many_scans(1)).shape == (2 * BLOCK, 3 * BLOCK, 3)


def test_bytes_after_a_complete_image_are_ignored() -> None:
    # The output is re-encoded from pixels, so an appended archive or page never leaves the service.
    data = _save(Image.fromarray(_grid_rgb()), "PNG") + b"PK\x03\x04<html>appended</html>"
    assert _decode(data).shape == (2 * BLOCK, 3 * BLOCK, 3)


def _pixels_or_code(data: bytes) -> np.ndarray | ErrorCode:
    try:
        return _decode(data)
    except SwapError as error:
        return error.code


FUZZ_BASES = [
    _save(Image.fromarray(_grid_rgb()), "JPEG"),
    _save(Image.fromarray(_grid_rgb()), "PNG"),
    _save(Image.fromarray(_grid_rgb()).convert("RGBA"), "PNG"),
    _save(Image.fromarray(_grid_rgb()), "WEBP"),
    _save(Image.fromarray(_grid_rgb()), "WEBP", lossless=True),
    _two_frames("GIF"),
    _two_frames("PNG"),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from(FUZZ_BASES),
    edits=st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 255)), max_size=6),
    cut=st.integers(1, 4096),
)
def test_damaged_files_only_ever_raise_swap_errors(
    base: bytes, edits: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(base[: max(cut, 1)])
    for position, value in edits:
        data[position % len(data)] = value
    outcome = _pixels_or_code(bytes(data))
    if isinstance(outcome, ErrorCode):
        assert outcome in (ErrorCode.INVALID_IMAGE, ErrorCode.IMAGE_TOO_LARGE)
    else:
        assert outcome.dtype == np.uint8 and outcome.ndim == 3 and outcome.flags.c_contiguous


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ((3000, 4000), (768, 1024)),
        ((4000, 3000), (1024, 768)),
        ((10, 1025), (10, 1024)),
        ((2048, 2048), (1024, 1024)),
    ],
)
def test_fit_within_keeps_the_aspect_with_the_longer_side_at_the_limit(
    shape: tuple[int, int], expected: tuple[int, int]
) -> None:
    pixels = np.zeros((*shape, 3), dtype=np.uint8)
    assert fit_within(pixels, 1024).shape == (*expected, 3)


def test_fit_within_returns_a_small_image_itself_and_never_mutates() -> None:
    small = np.random.default_rng(1).integers(0, 256, (768, 1024, 3), dtype=np.uint8)
    assert fit_within(small, 1024) is small
    large = small.copy()
    before = large.copy()
    fit_within(large, 100)
    assert (large == before).all()


def test_fit_within_refuses_a_limit_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        fit_within(np.zeros((4, 4, 3), dtype=np.uint8), 0)


def _photo() -> np.ndarray:
    rng = np.random.default_rng(7)
    base = cv2.resize(
        rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), (97, 61), interpolation=cv2.INTER_CUBIC
    )
    return np.clip(base.astype(int) + rng.integers(-3, 4, base.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize(("fmt", "mean_error"), [("png", 0), ("jpeg", 3), ("webp", 4)])
@pytest.mark.parametrize("label", [True, False])
def test_encode_round_trips_each_format(fmt: str, mean_error: float, label: bool) -> None:
    pixels = _photo()
    data = encode_image(pixels, fmt, label=label)
    decoded = decode_image(data, max_pixels=LIMIT)
    assert decoded.format == fmt
    assert np.abs(decoded.pixels.astype(int) - pixels).mean() <= mean_error
    assert read_label(data) == (DIGITAL_SOURCE_TYPE if label else None)


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_labelled_outputs_decode_to_the_same_pixels_and_pillow_sees_the_label(fmt: str) -> None:
    pixels = _photo()
    labelled = Image.open(io.BytesIO(encode_image(pixels, fmt)))
    plain = Image.open(io.BytesIO(encode_image(pixels, fmt, label=False)))
    assert (np.asarray(labelled) == np.asarray(plain)).all()
    assert DIGITAL_SOURCE_TYPE.encode() in labelled.info["xmp"]
    assert "xmp" not in plain.info


@pytest.mark.parametrize("level", range(10))
def test_png_output_is_lossless_and_labelled_at_every_level(level: int) -> None:
    pixels = _photo()
    data = encode_image(pixels, "png", png_compression=level)
    assert (cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) == pixels).all()
    assert (np.asarray(Image.open(io.BytesIO(data)))[..., ::-1] == pixels).all()
    assert read_label(data) == DIGITAL_SOURCE_TYPE


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_a_frame_no_encoder_can_write_is_an_internal_error(fmt: str) -> None:
    with pytest.raises(SwapError) as caught:
        encode_image(np.zeros((0, 4, 3), dtype=np.uint8), fmt)
    assert caught.value.code == ErrorCode.INTERNAL


def test_an_unknown_output_format_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown output format"):
        encode_image(np.zeros((4, 4, 3), dtype=np.uint8), "bmp")  # type: ignore[arg-type]


def test_to_base64_is_standard_base64_text() -> None:
    data = bytes(range(256))
    assert base64.b64decode(to_base64(data), validate=True) == data


def test_public_names_are_pinned() -> None:
    assert faceswap.pipeline.decode.__all__ == sorted(faceswap.pipeline.decode.__all__)
    assert faceswap.pipeline.decode.__all__ == [
        "DecodedImage",
        "ImageFormat",
        "decode_image",
        "fit_within",
        "looks_like_image",
    ]
    assert faceswap.pipeline.encode.__all__ == ["encode_image", "to_base64"]


def test_a_png_text_bomb_is_refused() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("comment", "x" * 5_000_000, zip=True)
    data = _save(Image.new("RGB", (4, 4)), "PNG", pnginfo=info)
    assert len(data) < 20_000
    assert _refusal(data).code == ErrorCode.INVALID_IMAGE


def test_png_levels_above_one_trade_speed_for_size_with_identical_pixels() -> None:
    rng = np.random.default_rng(3)
    grainy = np.clip(rng.normal(128, 30, (240, 320, 1)), 0, 255).astype(np.uint8).repeat(3, axis=2)
    fast = encode_image(grainy, "png", png_compression=1, label=False)
    small = encode_image(grainy, "png", png_compression=9, label=False)
    assert len(small) < len(fast)
    for data in (fast, small):
        assert np.array_equal(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), grainy)
