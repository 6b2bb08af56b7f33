"""Mark encoded outputs as AI-altered (IPTC DigitalSourceType in XMP) by splicing bytes, and read it back.

Where the packet goes, per format, so that common readers (Pillow, exiftool, metadata panels) find it:

    PNG    an iTXt chunk with keyword ``XML:com.adobe.xmp`` and a ``Software`` tEXt chunk, after IHDR
    JPEG   an APP1 segment ``http://ns.adobe.com/xap/1.0/\\0`` after SOI (and after a JFIF APP0, which must
           stay first)
    WebP   the extended layout: a VP8X header chunk with the XMP flag, the image chunk, then an ``XMP `` chunk

The encoders' own output is never re-encoded: labelling costs one copy of the bytes.
"""

from __future__ import annotations

import re
import struct
import zlib
from typing import Final

from faceswap.constants import OutputFormat
from faceswap.pipeline.png import png_chunk

__all__ = ["DIGITAL_SOURCE_TYPE", "SOFTWARE", "add_label", "png_label_chunks", "read_label", "xmp_packet"]

DIGITAL_SOURCE_TYPE: Final = (
    "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
)
SOFTWARE: Final = "faceswap"

_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_PNG_XMP_KEYWORD: Final = b"XML:com.adobe.xmp"
_JPEG_XMP_NAMESPACE: Final = b"http://ns.adobe.com/xap/1.0/\x00"
_WEBP_XMP_FLAG: Final = 0x04
_WEBP_ALPHA_FLAG: Final = 0x10
_SOURCE_TYPE = re.compile(rb'DigitalSourceType\s*=\s*"([^"<>]*)"|DigitalSourceType>\s*([^<\s]+)\s*<')
_MAX_XMP_BYTES: Final = 1 << 20


def xmp_packet(software: str = SOFTWARE) -> bytes:
    """The XMP packet that says the image is a composite made with a trained algorithm."""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about=""'
        ' xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
        ' xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
        f' Iptc4xmpExt:DigitalSourceType="{DIGITAL_SOURCE_TYPE}"'
        f' xmp:CreatorTool="{_xml_attribute(software)}"/>'
        "</rdf:RDF>"
        "</x:xmpmeta>"
        '<?xpacket end="r"?>'
    ).encode()


def add_label(data: bytes, fmt: OutputFormat, *, size: tuple[int, int], software: str = SOFTWARE) -> bytes:
    """`data` (an encoder's output of a `size` = (width, height) image) with the AI label spliced in."""
    if fmt == "png":
        return _label_png(data, software)
    packet = xmp_packet(software)
    if fmt == "jpeg":
        return _label_jpeg(data, packet)
    return _label_webp(data, packet, size)


def read_label(data: bytes) -> str | None:
    """The DigitalSourceType in the file's XMP packet, or None when it has none (or is not PNG/JPEG/WebP)."""
    if data.startswith(_PNG_SIGNATURE):
        packet = _png_xmp(data)
    elif data.startswith(b"\xff\xd8"):
        packet = _jpeg_xmp(data)
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        packet = _webp_xmp(data)
    else:
        return None
    match = _SOURCE_TYPE.search(packet or b"")
    if match is None:
        return None
    return (match[1] or match[2]).decode("utf-8", "replace")


def _xml_attribute(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")


def png_label_chunks(software: str = SOFTWARE) -> bytes:
    """The label as PNG chunks (XMP iTXt, Software tEXt), framed, for a writer to put right after IHDR."""
    itxt = png_chunk(b"iTXt", _PNG_XMP_KEYWORD + b"\x00\x00\x00\x00\x00" + xmp_packet(software))
    return itxt + png_chunk(b"tEXt", b"Software\x00" + software.encode("latin-1", "replace"))


def _label_png(data: bytes, software: str) -> bytes:
    ihdr_end = len(_PNG_SIGNATURE) + 8 + 13 + 4
    if not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise ValueError("not a PNG stream that starts with IHDR")
    return b"".join((data[:ihdr_end], png_label_chunks(software), memoryview(data)[ihdr_end:]))


def _png_xmp(data: bytes) -> bytes | None:
    pos = len(_PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"iTXt" and body.startswith(_PNG_XMP_KEYWORD + b"\x00"):
            return _itxt_text(body[len(_PNG_XMP_KEYWORD) + 1 :])
        if kind in (b"IDAT", b"IEND"):
            return None
        pos += 12 + length
    return None


def _itxt_text(rest: bytes) -> bytes | None:
    compressed, _method = rest[0:1], rest[1:2]
    parts = rest[2:].split(b"\x00", 2)
    if len(parts) != 3:
        return None
    if compressed != b"\x01":
        return parts[2]
    inflater = zlib.decompressobj()
    try:
        return inflater.decompress(parts[2], _MAX_XMP_BYTES)
    except zlib.error:
        return None


def _label_jpeg(data: bytes, packet: bytes) -> bytes:
    if not data.startswith(b"\xff\xd8"):
        raise ValueError("not a JPEG stream")
    pos = 2
    if data[2:4] == b"\xff\xe0":
        pos += 2 + struct.unpack_from(">H", data, 4)[0]
    payload = _JPEG_XMP_NAMESPACE + packet
    segment = b"\xff\xe1" + struct.pack(">H", 2 + len(payload)) + payload
    return b"".join((data[:pos], segment, memoryview(data)[pos:]))


def _jpeg_xmp(data: bytes) -> bytes | None:
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker in (0xDA, 0xD9):
            return None
        length = struct.unpack_from(">H", data, pos + 2)[0]
        body = data[pos + 4 : pos + 2 + length]
        if marker == 0xE1 and body.startswith(_JPEG_XMP_NAMESPACE):
            return body[len(_JPEG_XMP_NAMESPACE) :]
        pos += 2 + length
    return None


def _riff_chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + b"\x00" * (len(body) % 2)


def _label_webp(data: bytes, packet: bytes, size: tuple[int, int]) -> bytes:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ValueError("not a WebP stream")
    if data[12:16] == b"VP8X":
        head = data[12:20] + bytes([data[20] | _WEBP_XMP_FLAG]) + data[21:30]
        image = memoryview(data)[30:]
    else:
        width, height = size
        alpha = (
            data[12:16] == b"VP8L" and len(data) >= 25 and (struct.unpack_from("<I", data, 21)[0] >> 28) & 1
        )
        flags = _WEBP_XMP_FLAG | (_WEBP_ALPHA_FLAG if alpha else 0)
        canvas = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
        head = _riff_chunk(b"VP8X", bytes([flags, 0, 0, 0]) + canvas)
        image = memoryview(data)[12:]
    xmp = _riff_chunk(b"XMP ", packet)
    riff_size = 4 + len(head) + len(image) + len(xmp)
    return b"".join((b"RIFF", struct.pack("<I", riff_size), b"WEBP", head, image, xmp))


def _webp_xmp(data: bytes) -> bytes | None:
    pos = 12
    while pos + 8 <= len(data):
        kind, length = struct.unpack_from("<4sI", data, pos)
        if kind == b"XMP ":
            return data[pos + 8 : pos + 8 + length]
        pos += 8 + length + length % 2
    return None
