"""The pipeline on the synthetic pack, through the real insightface + ONNX Runtime path."""

from __future__ import annotations

import threading
import tracemalloc

import cv2
import numpy as np
import pytest

from faceswap.config import Settings
from faceswap.errors import ErrorCode, SwapError
from faceswap.pipeline.align import align_face
from faceswap.pipeline.blend import paste_back
from faceswap.pipeline.engine import Engine
from faceswap.pipeline.quality import Enhancer, FaceMask, Quality
from faceswap.runtime.failpoints import Failpoints
from faceswap.testing.synthetic import BACKGROUND_BGR, draw_faces, face_pattern, place_faces
from tests.conftest import derive, encode_png

MARGIN = 0.12
"""How far, as a fraction of the face box, the soft edge of the blend may reach beyond the face."""


def decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def changed_mask(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return np.abs(before.astype(int) - after.astype(int)).max(axis=2) > 0


def inner(box: tuple[int, int, int, int], fraction: float = 0.3) -> tuple[slice, slice]:
    x1, y1, x2, y2 = box
    dx, dy = int((x2 - x1) * fraction), int((y2 - y1) * fraction)
    return slice(y1 + dy, y2 - dy), slice(x1 + dx, x2 - dx)


def test_swap_changes_only_the_chosen_target_face(engine: Engine) -> None:
    target, boxes = draw_faces(900, 500, 3, seed=7)
    source, _ = draw_faces(640, 480, 1, seed=9)
    result = engine.swap(encode_png(source), encode_png(target), target_index=2)
    output = decode(result.image)
    assert (result.width, result.height, result.target_faces, result.source_faces) == (900, 500, 3, 1)
    changed = changed_mask(target, output)
    ys, xs = np.nonzero(changed)
    x1, y1, x2, y2 = boxes[1]
    margin_x, margin_y = (x2 - x1) * MARGIN, (y2 - y1) * MARGIN
    assert xs.min() >= x1 - margin_x and xs.max() < x2 + margin_x
    assert ys.min() >= y1 - margin_y and ys.max() < y2 + margin_y
    rows, cols = inner(boxes[1])
    assert changed[rows, cols].mean() > 0.9


def test_swapped_face_shows_the_chosen_source_identity(engine: Engine) -> None:
    target, boxes = draw_faces(800, 480, 1, seed=3)
    source, source_boxes = draw_faces(900, 500, 3, seed=11)
    x1, y1, x2, y2 = boxes[0]
    for index in (1, 3):
        result = engine.swap(encode_png(source), encode_png(target), source_index=index)
        output = decode(result.image)
        sx1, sy1, sx2, sy2 = source_boxes[index - 1]
        expected = cv2.resize(source[sy1:sy2, sx1:sx2], (x2 - x1, y2 - y1), interpolation=cv2.INTER_AREA)
        rows, cols = inner((0, 0, x2 - x1, y2 - y1), 0.3)
        got = output[y1:y2, x1:x2][rows, cols].astype(int)
        assert np.abs(got - expected[rows, cols].astype(int)).mean() < 25, f"source face {index} not pasted"


def test_output_depends_on_the_source_face(engine: Engine) -> None:
    target, _ = draw_faces(640, 480, 1, seed=3)
    source, _ = draw_faces(900, 500, 2, seed=12)
    first = engine.swap(encode_png(source), encode_png(target), source_index=1)
    second = engine.swap(encode_png(source), encode_png(target), source_index=2)
    assert not np.array_equal(decode(first.image), decode(second.image))


def test_same_identity_anywhere_in_the_source_gives_the_same_result(engine: Engine) -> None:
    canvas = np.full((480, 900, 3), BACKGROUND_BGR, np.uint8)
    left = place_faces(canvas, [(50, 100, 210, 300)], [42])
    right = place_faces(canvas, [(600, 150, 760, 350)], [42])
    target = encode_png(draw_faces(640, 480, 1, seed=5)[0])
    a = decode(engine.swap(encode_png(left), target).image)
    b = decode(engine.swap(encode_png(right), target).image)
    difference = np.abs(a.astype(int) - b.astype(int))
    assert difference.mean() < 1.5 and difference.max() <= 16


def test_faces_are_numbered_left_to_right(engine: Engine) -> None:
    canvas = np.full((500, 900, 3), BACKGROUND_BGR, np.uint8)
    boxes = [(600, 60, 760, 260), (40, 200, 200, 400), (320, 120, 480, 320)]
    target = place_faces(canvas, boxes, [1, 2, 3])
    faces = engine.faces(b"ordering", target)
    lefts = [round(face.bbox[0]) for face in faces]
    assert lefts == sorted(lefts)
    assert all(abs(left - expected) <= 3 for left, expected in zip(lefts, (40, 320, 600), strict=True))


def test_target_index_out_of_range_names_the_count(engine: Engine, one_face_png: bytes) -> None:
    target = encode_png(draw_faces(800, 600, 2)[0])
    with pytest.raises(SwapError) as caught:
        engine.swap(one_face_png, target, target_index=3)
    assert caught.value.code is ErrorCode.FACE_INDEX_OUT_OF_RANGE
    assert "the target image has 2 faces" in caught.value.message


def test_source_index_out_of_range_names_the_count(engine: Engine, one_face_png: bytes) -> None:
    with pytest.raises(SwapError) as caught:
        engine.swap(one_face_png, one_face_png, source_index=2)
    assert caught.value.code is ErrorCode.FACE_INDEX_OUT_OF_RANGE
    assert "the source image has 1 face" in caught.value.message


@pytest.mark.parametrize("role", ["source", "target"])
def test_an_image_without_faces_is_no_face_naming_the_image(
    engine: Engine, one_face_png: bytes, role: str
) -> None:
    empty = encode_png(draw_faces(640, 480, 0)[0])
    images = {"source": one_face_png, "target": one_face_png, role: empty}
    with pytest.raises(SwapError) as caught:
        engine.swap(images["source"], images["target"])
    assert caught.value.code is ErrorCode.NO_FACE
    assert role in caught.value.message


def test_unreadable_image_is_invalid_image(engine: Engine, one_face_png: bytes) -> None:
    with pytest.raises(SwapError) as caught:
        engine.swap(one_face_png, b"GIF89a not really")
    assert caught.value.code is ErrorCode.INVALID_IMAGE


def test_large_target_is_downscaled_to_the_max_dimension(engine: Engine, one_face_png: bytes) -> None:
    target = encode_png(draw_faces(2000, 1000, 2)[0])
    result = engine.swap(one_face_png, target, target_index=2)
    assert (result.width, result.height) == (1024, 512)
    assert decode(result.image).shape == (512, 1024, 3)


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_output_formats(engine: Engine, one_face_png: bytes, fmt: str) -> None:
    result = engine.swap(one_face_png, one_face_png, output_format=fmt)  # type: ignore[arg-type]
    magic = {"png": b"\x89PNG", "jpeg": b"\xff\xd8\xff", "webp": b"RIFF"}[fmt]
    assert result.image.startswith(magic)
    assert decode(result.image).shape == (480, 640, 3)


def test_cached_and_uncached_results_are_identical(models, settings: Settings, two_faces_png: bytes) -> None:
    source = encode_png(draw_faces(640, 480, 1, seed=21)[0])
    cold = Engine(models, settings).swap(source, two_faces_png, target_index=2)
    warm_engine = Engine(models, settings)
    warm_engine.swap(source, two_faces_png, target_index=1)
    warm = warm_engine.swap(source, two_faces_png, target_index=2)
    assert warm_engine.identities.hits >= 1 and warm_engine.detections.hits >= 1
    assert warm.image == cold.image
    assert "embed" not in warm.timings_ms


def _decodes_by_thread(monkeypatch: pytest.MonkeyPatch, engine: Engine) -> list[tuple[str, str]]:
    """(role, thread name) of every decode the engine makes from now on."""
    seen: list[tuple[str, str]] = []
    load_frame = engine.load_frame

    def spy(data: bytes, role: str) -> np.ndarray:
        seen.append((role, threading.current_thread().name))
        return load_frame(data, role)

    monkeypatch.setattr(engine, "load_frame", spy)
    return seen


def test_the_source_is_decoded_beside_the_target_unless_its_face_is_cached(
    models, settings: Settings, one_face_png: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine(models, settings)
    seen = _decodes_by_thread(monkeypatch, engine)
    source = encode_png(draw_faces(640, 480, 1, seed=31)[0])
    first = engine.swap(source, one_face_png)
    here = threading.current_thread().name
    threads = dict(seen)
    assert len(seen) == 2 and threads["target"] == here and threads["source"] != here
    assert (engine.identities.hits, engine.identities.misses) == (0, 1)
    seen.clear()
    again = engine.swap(source, one_face_png)
    assert seen == [("target", here)]  # its face is cached: no decode at all
    assert (engine.identities.hits, engine.identities.misses) == (1, 1)  # one lookup per request
    assert again.image == first.image == Engine(models, settings).swap(source, one_face_png).image


@pytest.mark.parametrize(
    ("source_broken", "target_broken", "code", "named"),
    [
        (True, True, ErrorCode.INVALID_IMAGE, "target"),
        (True, False, ErrorCode.INVALID_IMAGE, "source"),
        (False, True, ErrorCode.INVALID_IMAGE, "target"),
    ],
)
def test_errors_keep_their_order_with_the_source_decoded_ahead(
    engine: Engine, one_face_png: bytes, source_broken: bool, target_broken: bool, code: ErrorCode, named: str
) -> None:
    broken = b"GIF89a not really"
    with pytest.raises(SwapError) as caught:
        engine.swap(broken if source_broken else one_face_png, broken if target_broken else one_face_png)
    assert caught.value.code is code
    assert named in caught.value.message


def test_a_target_without_faces_is_reported_before_a_broken_source(engine: Engine) -> None:
    empty = encode_png(draw_faces(640, 480, 0)[0])
    with pytest.raises(SwapError) as caught:
        engine.swap(b"GIF89a not really", empty)
    assert caught.value.code is ErrorCode.NO_FACE
    assert "target" in caught.value.message


def test_swap_oom_once_recovers_and_says_so(models, settings: Settings, one_face_png: bytes) -> None:
    engine = Engine(models, settings, Failpoints("swap_oom:1"))
    result = engine.swap(one_face_png, one_face_png)
    assert result.recoveries == ["swap: out of memory, retried after releasing the memory arena"]


def test_persistent_swap_oom_is_out_of_memory_then_the_next_swap_succeeds(
    models, settings: Settings, one_face_png: bytes
) -> None:
    engine = Engine(models, settings, Failpoints("swap_oom:2"))
    with pytest.raises(SwapError) as caught:
        engine.swap(one_face_png, one_face_png)
    assert caught.value.code is ErrorCode.OUT_OF_MEMORY
    assert "out of memory" in caught.value.message
    assert engine.swap(one_face_png, one_face_png).recoveries == []


def test_detect_oom_retries_at_a_smaller_size(models, settings: Settings, one_face_png: bytes) -> None:
    engine = Engine(models, settings, Failpoints("detect_oom:1"))
    result = engine.swap(one_face_png, one_face_png)
    assert result.recoveries == ["detect: out of memory, retried at detection size 320"]


def test_checkpoint_stops_the_pipeline(engine: Engine, one_face_png: bytes) -> None:
    def stop() -> None:
        raise SwapError(ErrorCode.TIMEOUT, "stopped")

    with pytest.raises(SwapError) as caught:
        engine.swap(one_face_png, one_face_png, checkpoint=stop)
    assert caught.value.code is ErrorCode.TIMEOUT


def test_blend_of_a_4000x3000_target_allocates_far_less_than_a_full_frame_buffer(engine: Engine) -> None:
    frame = place_faces(np.full((3000, 4000, 3), BACKGROUND_BGR, np.uint8), [(1800, 1200, 2200, 1700)], [8])
    faces = engine.faces(b"big", frame)
    full_frame_float_channel = 4000 * 3000 * 4
    _, matrix = align_face(frame, faces[0].keypoints, 128)
    crop = np.zeros((128, 128, 3), np.uint8)
    tracemalloc.start()
    try:
        patch = paste_back(frame, crop, matrix)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert patch is not None
    assert peak < full_frame_float_channel / 4, f"blend peak {peak / 1e6:.1f} MB"


def test_whole_swap_of_a_4000x3000_target_stays_near_the_frame_size(models, settings: Settings) -> None:
    big = derive(settings, max_dimension=4000)
    engine = Engine(models, big)
    canvas = np.full((3000, 4000, 3), BACKGROUND_BGR, np.uint8)
    target = cv2.imencode(".jpg", place_faces(canvas, [(1800, 1200, 2200, 1700)], [8]))[1].tobytes()
    source_image = np.full((480, 640, 3), BACKGROUND_BGR, np.uint8)
    source_image[140:340, 240:400] = face_pattern(5, 160, 200)
    source = encode_png(source_image)
    engine.source_identity(source, 1)
    frame_bytes = 4000 * 3000 * 3
    tracemalloc.start()
    try:
        result = engine.swap(source, target, output_format="jpeg")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (result.width, result.height) == (4000, 3000)
    assert peak < frame_bytes * 1.6, f"swap peak {peak / 1e6:.1f} MB for a {frame_bytes / 1e6:.0f} MB frame"


def test_the_checkpoint_runs_before_every_pixel_boost_tile_and_model(
    engine: Engine, one_face_png: bytes
) -> None:
    calls = 0

    def count() -> None:
        nonlocal calls
        calls += 1

    quality = Quality(
        pixel_boost=512, face_enhancer=Enhancer("gfpgan_1.4"), face_mask=FaceMask(("box", "region"))
    )
    engine.swap(one_face_png, one_face_png, checkpoint=count, quality=quality)
    assert calls >= 16 + 2  # each of the 16 tiles, the face parser and the restoration


def test_a_deadline_inside_a_face_stops_it_between_tiles(engine: Engine, one_face_png: bytes) -> None:
    calls = 0

    def stop_at_a_tile() -> None:
        nonlocal calls
        calls += 1
        if calls == 8:  # past the decode and the first face check: the sixth of its 16 tiles
            raise SwapError(ErrorCode.TIMEOUT, "stopped")

    with pytest.raises(SwapError) as caught:
        engine.swap(one_face_png, one_face_png, checkpoint=stop_at_a_tile, quality=Quality(pixel_boost=512))
    assert caught.value.code is ErrorCode.TIMEOUT and calls == 8


def test_a_swap_over_the_cost_limit_is_refused_after_detection(models, settings: Settings) -> None:
    costly = Engine(models, derive(settings, max_request_cost=40))
    target = encode_png(draw_faces(900, 500, 3, seed=7)[0])
    quality = Quality(pixel_boost=512)
    with pytest.raises(SwapError) as caught:
        costly.swap(target, target, target_index="all", quality=quality)
    assert caught.value.code is ErrorCode.COST_LIMIT_EXCEEDED and "40" in caught.value.message
    assert costly.swap(target, target, target_index=1, quality=quality).swapped
