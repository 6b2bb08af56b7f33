import io
import struct
from collections.abc import Callable

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

import faceswap.pipeline.labels
from faceswap.pipeline.encode import encode_image
from faceswap.pipeline.labels import DIGITAL_SOURCE_TYPE, SOFTWARE, add_label, read_label, xmp_packet

RGBA = np.random.default_rng(5).integers(0, 256, (21, 34, 4), dtype=np.uint8)
RGB = np.ascontiguousarray(RGBA[..., :3])


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _opencv(extension: str, *params: int) -> bytes:
    return cv2.imencode(extension, RGB, list(params))[1].tobytes()


def _jpeg_without_jfif() -> bytes:
    data = _opencv(".jpg")
    assert data[2:4] == b"\xff\xe0"
    return data[:2] + data[4 + struct.unpack_from(">H", data, 4)[0] :]


# name → (format, encoder output)
ENCODED: dict[str, tuple[str, Callable[[], bytes]]] = {
    "PNG (OpenCV)": ("png", lambda: _opencv(".png")),
    "PNG (Pillow, RGBA)": ("png", lambda: _save(Image.fromarray(RGBA), "PNG")),
    "JPEG (OpenCV, JFIF)": ("jpeg", lambda: _opencv(".jpg", cv2.IMWRITE_JPEG_QUALITY, 90)),
    "JPEG (no JFIF)": ("jpeg", lambda: _jpeg_without_jfif()),
    "WebP lossy (VP8)": ("webp", lambda: _opencv(".webp", cv2.IMWRITE_WEBP_QUALITY, 80)),
    "WebP lossless (VP8L)": ("webp", lambda: _opencv(".webp", cv2.IMWRITE_WEBP_QUALITY, 101)),
    "WebP lossy with alpha (VP8X)": ("webp", lambda: _save(Image.fromarray(RGBA), "WEBP")),
    "WebP lossless with alpha (VP8L)": ("webp", lambda: _save(Image.fromarray(RGBA), "WEBP", lossless=True)),
}


@pytest.mark.parametrize("name", ENCODED)
def test_a_labelled_file_decodes_to_the_same_pixels_and_pillow_reads_its_xmp(name: str) -> None:
    fmt, encode = ENCODED[name]
    data = encode()
    labelled = add_label(data, fmt, size=(RGB.shape[1], RGB.shape[0]))
    original, marked = Image.open(io.BytesIO(data)), Image.open(io.BytesIO(labelled))
    assert (marked.size, marked.mode) == (original.size, original.mode)
    assert (np.asarray(marked) == np.asarray(original)).all()
    assert DIGITAL_SOURCE_TYPE.encode() in marked.info["xmp"]
    assert read_label(labelled) == DIGITAL_SOURCE_TYPE
    assert read_label(data) is None


def test_png_label_adds_a_software_text_chunk() -> None:
    labelled = add_label(_opencv(".png"), "png", size=(34, 21))
    assert Image.open(io.BytesIO(labelled)).info["Software"] == SOFTWARE


def test_jpeg_label_keeps_the_jfif_segment_first() -> None:
    labelled = add_label(_opencv(".jpg"), "jpeg", size=(34, 21))
    jfif_length = struct.unpack_from(">H", labelled, 4)[0]
    assert labelled[2:4] == b"\xff\xe0" and labelled[6:10] == b"JFIF"
    assert labelled[4 + jfif_length : 6 + jfif_length] == b"\xff\xe1"


@pytest.mark.parametrize(
    ("name", "alpha"),
    [("WebP lossy (VP8)", 0), ("WebP lossless (VP8L)", 0), ("WebP lossless with alpha (VP8L)", 1)],
)
def test_webp_label_declares_the_canvas_alpha_and_xmp(name: str, alpha: int) -> None:
    labelled = add_label(ENCODED[name][1](), "webp", size=(34, 21))
    assert labelled[12:16] == b"VP8X"
    flags = labelled[20]
    assert flags & 0x04 and (flags & 0x10) >> 4 == alpha
    assert int.from_bytes(labelled[24:27], "little") + 1 == 34
    assert int.from_bytes(labelled[27:30], "little") + 1 == 21
    assert struct.unpack_from("<I", labelled, 4)[0] == len(labelled) - 8


def test_read_label_finds_a_compressed_itxt_packet() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp_packet().decode(), zip=True)
    assert read_label(_save(Image.fromarray(RGB), "PNG", pnginfo=info)) == DIGITAL_SOURCE_TYPE


def test_read_label_finds_the_element_form_other_tools_write() -> None:
    packet = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">'
        "<Iptc4xmpExt:DigitalSourceType>http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
        "</Iptc4xmpExt:DigitalSourceType></rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    data = _save(Image.fromarray(RGB), "JPEG", xmp=packet.encode())
    assert read_label(data) == "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


@pytest.mark.parametrize(
    "data",
    [b"", b"plain text", b"GIF89a", b"\x89PNG\r\n\x1a\n", b"\xff\xd8", b"RIFF\x00\x00\x00\x00WEBP"],
)
def test_read_label_is_none_without_a_packet(data: bytes) -> None:
    assert read_label(data) is None


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8", b"RIFF\x10\x00\x00\x00WEBP"]),
    rest=st.binary(max_size=200),
)
def test_read_label_never_raises_on_garbage(prefix: bytes, rest: bytes) -> None:
    label = read_label(prefix + rest)
    assert label is None or isinstance(label, str)


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_add_label_refuses_another_format(fmt: str) -> None:
    with pytest.raises(ValueError, match="not a"):
        add_label(b"GIF89a\x01\x00\x01\x00", fmt, size=(1, 1))


def test_xmp_packet_escapes_the_software_name() -> None:
    packet = xmp_packet('a "b" <c> & d')
    assert b'xmp:CreatorTool="a &quot;b&quot; &lt;c> &amp; d"' in packet
    assert (
        read_label(add_label(_opencv(".png"), "png", size=(34, 21), software='a "b"')) == DIGITAL_SOURCE_TYPE
    )


def test_public_names_are_pinned() -> None:
    assert faceswap.pipeline.labels.__all__ == sorted(faceswap.pipeline.labels.__all__)
    assert faceswap.pipeline.labels.__all__ == [
        "DIGITAL_SOURCE_TYPE",
        "SOFTWARE",
        "add_label",
        "png_label_chunks",
        "read_label",
        "xmp_packet",
    ]


def test_our_png_writer_places_the_label_where_splicing_puts_it() -> None:
    pixels = np.random.default_rng(4).integers(0, 256, (21, 34, 3), dtype=np.uint8)
    written = encode_image(pixels, "png")
    assert written == add_label(encode_image(pixels, "png", label=False), "png", size=(34, 21))
    assert read_label(written) == DIGITAL_SOURCE_TYPE
