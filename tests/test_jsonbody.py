"""A base64 field over its limit is found in the raw JSON, before the parse copies it; honest bodies pass."""

from __future__ import annotations

import asyncio
import base64
import json
import os

import pytest

from faceswap.errors import ErrorCode, SwapError
from faceswap.http.jsonbody import MAX_STRINGS, Base64Fields, oversized_field, parse_json_body
from faceswap.service import decode_base64_image

LIMIT = 3000
FIELDS = Base64Fields(LIMIT, {"target_video": 4 * LIMIT})


def wrapped(size: int, line_break: bytes = b"\\n", width: int = 76) -> bytes:
    """Base64 of `size` random bytes as JSON text, a `line_break` every `width` characters (MIME's)."""
    text = base64.b64encode(os.urandom(size))
    return line_break.join(text[at : at + width] for at in range(0, len(text), width))


def body(field: str, value: bytes) -> bytes:
    return b'{"source_url": "https://example.com/a.jpg", "' + field.encode() + b'": "' + value + b'"}'


def decoder_verdict(raw: bytes, field: str, limit: int = LIMIT) -> str | None:
    """What the decoder says of the field once the body is parsed: None when it takes it, else its message."""
    try:
        decode_base64_image(json.loads(raw)[field], "target", limit)
    except SwapError as error:
        return error.message
    return None


@pytest.mark.parametrize(
    "line_break", [b"\\n", b"\\r\\n", b"\\u000a", b" "], ids=["lf", "crlf", "unicode", "space"]
)
def test_an_honest_field_at_the_limit_passes_as_the_decoder_takes_it(line_break: bytes) -> None:
    raw = body("target_image", b"data:image/png;base64," + wrapped(LIMIT, line_break).replace(b"/", b"\\/"))
    assert oversized_field(raw, FIELDS) is None
    assert decoder_verdict(raw, "target_image") is None


@pytest.mark.parametrize(
    "leading", [b" ", b"\\n", b"\\r\\n  ", b"\\u0020"], ids=["space", "lf", "crlf", "unicode"]
)
def test_space_before_a_data_prefix_is_skipped_as_the_decoder_skips_it(leading: bytes) -> None:
    text = base64.b64encode(os.urandom(LIMIT))
    raw = body("target_image", leading + b"data:image/png;base64," + text)
    assert decoder_verdict(raw, "target_image") is None
    assert oversized_field(raw, FIELDS) is None


def test_a_field_just_over_the_limit_is_refused_in_the_decoders_words() -> None:
    raw = body("target_image", wrapped(LIMIT + 4))
    error = oversized_field(raw, FIELDS)
    assert error is not None and error.code is ErrorCode.IMAGE_TOO_LARGE and error.status == 413
    assert error.message == decoder_verdict(raw, "target_image")


def test_line_breaks_every_four_characters_do_not_hide_a_field_over_the_limit() -> None:
    raw = body("target_image", b"AAA\\n" * (LIMIT // 4))  # 1.7 KB of data in 3.7 KB of JSON: fits
    assert oversized_field(raw, FIELDS) is None
    raw = body("target_image", b"AAA\\n" * (LIMIT // 2))  # 3.4 KB of data in 7.5 KB of JSON: over
    assert oversized_field(raw, FIELDS) is not None


def test_an_escaped_backslash_is_not_taken_for_a_line_break() -> None:
    raw = body("target_image", b"\\\\n" * (2 * LIMIT))  # a backslash and an n each time: 12 KB of text
    assert oversized_field(raw, FIELDS) is not None
    raw = body("target_image", b"\\\\u" * (2 * LIMIT))
    assert oversized_field(raw, FIELDS) is not None


class CountedBytes(bytes):
    """A body that notes each sequence counted in it."""

    counted: list[bytes]

    def count(self, sub: bytes, *span: int) -> int:  # type: ignore[override]
        self.counted.append(sub)
        return super().count(sub, *span)


def test_a_field_of_escaped_backslashes_is_refused_without_a_count_per_escape_letter() -> None:
    raw = CountedBytes(body("target_image", b"\\\\" * (4 * LIMIT)))
    raw.counted = []
    assert oversized_field(raw, FIELDS) is not None
    assert raw.counted == [b" ", b"\\", b"\\\\"], "no escape can bring it under: each letter is not counted"


def test_each_field_has_its_own_limit_and_name() -> None:
    clip = wrapped(2 * LIMIT)
    assert oversized_field(body("target_video", clip), FIELDS) is None
    error = oversized_field(body("source_image", clip), FIELDS)
    assert error is not None and error.message.startswith("The source image is larger than")
    error = oversized_field(body("target_video", wrapped(5 * LIMIT)), FIELDS)
    assert error is not None and error.message.startswith("The target image is larger than")


def test_a_list_of_photos_is_judged_photo_by_photo() -> None:
    photos = b'{"source_images": ["' + wrapped(LIMIT) + b'", "' + wrapped(2 * LIMIT) + b'"]}'
    assert oversized_field(photos, FIELDS) is not None
    photos = b'{"source_images": ["' + wrapped(LIMIT) + b'", "' + wrapped(LIMIT) + b'"]}'
    assert oversized_field(photos, FIELDS) is None


def test_escaped_quotes_do_not_split_a_long_string() -> None:
    raw = body("target_image", b'AAAA\\"' * LIMIT)
    assert oversized_field(raw, FIELDS) is not None


def test_a_body_over_the_field_limit_is_refused_before_parsing() -> None:
    scope: dict[str, object] = {}
    with pytest.raises(SwapError) as refused:
        asyncio.run(parse_json_body(scope, body("target_image", wrapped(2 * LIMIT)), FIELDS))
    assert refused.value.code is ErrorCode.IMAGE_TOO_LARGE
    assert "parsed_json" not in scope.get("state", {})  # type: ignore[operator]


def test_a_body_of_thousands_of_strings_is_refused_before_parsing() -> None:
    with pytest.raises(ValueError, match=f"more than {MAX_STRINGS} JSON strings"):
        asyncio.run(parse_json_body({}, b'"' * (8 * MAX_STRINGS)))
    asyncio.run(parse_json_body({}, json.dumps({f"k{n}": "v" for n in range(MAX_STRINGS // 2)}).encode()))
