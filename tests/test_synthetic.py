"""The synthetic pack runs through insightface's own loader and code paths, and sees what was drawn."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from insightface.app.common import Face
from insightface.model_zoo import get_model
from insightface.model_zoo.arcface_onnx import ArcFaceONNX
from insightface.model_zoo.inswapper import INSwapper
from insightface.model_zoo.scrfd import SCRFD
from insightface.utils import face_align

from faceswap.testing import synthetic
from faceswap.testing.synthetic import (
    BACKGROUND_BGR,
    KEYPOINT_FRACTIONS,
    SWAP_REGION,
    Box,
    ModelPaths,
    draw_faces,
    face_pattern,
    layout_faces,
    place_faces,
    write_image,
    write_models,
)

CPU = ["CPUExecutionProvider"]
SIZES = [(320, 240), (640, 480), (1024, 768), (1920, 1080), (4000, 3000), (768, 1024)]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> ModelPaths:
    return write_models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def detector(models: ModelPaths) -> SCRFD:
    model = get_model(str(models.detector), providers=CPU)
    model.prepare(0, input_size=(640, 640))
    return model


@pytest.fixture(scope="module")
def recognizer(models: ModelPaths) -> ArcFaceONNX:
    return get_model(str(models.recognizer), providers=CPU)


@pytest.fixture(scope="module")
def swapper(models: ModelPaths) -> INSwapper:
    return get_model(str(models.swapper), providers=CPU)


def detect(detector: SCRFD, image: np.ndarray, input_size: tuple[int, int] = (640, 640)) -> list[Face]:
    """Faces left to right, as the service numbers them."""
    boxes, kpss = detector.detect(image, input_size=input_size)
    order = np.argsort(boxes[:, 0], kind="stable")
    return [Face(bbox=boxes[i, :4], kps=kpss[i], det_score=boxes[i, 4]) for i in order]


def box_tolerance(image: np.ndarray, input_size: tuple[int, int] = (640, 640)) -> float:
    """A pixel, or a pixel and a half of the detector's input, whichever is more, in image pixels."""
    height, width = image.shape[:2]
    scale = min(input_size[0] / width, input_size[1] / height)
    return max(1.0, 1.5 / scale)


def assert_found(faces: list[Face], boxes: list[Box], tolerance: float) -> None:
    assert len(faces) == len(boxes)
    for face, box in zip(faces, boxes, strict=True):
        np.testing.assert_allclose(face.bbox, box, atol=tolerance)
        x1, y1, x2, y2 = box
        expected_kps = np.array([x1, y1]) + KEYPOINT_FRACTIONS * np.array([x2 - x1, y2 - y1])
        np.testing.assert_allclose(face.kps, expected_kps, atol=tolerance)


def embed(recognizer: ArcFaceONNX, image: np.ndarray, face: Face) -> np.ndarray:
    recognizer.get(image, face)
    return face.normed_embedding


def canvas(width: int, height: int) -> np.ndarray:
    return np.full((height, width, 3), BACKGROUND_BGR, dtype=np.uint8)


def test_public_names_are_pinned() -> None:
    assert synthetic.__all__ == [
        "ARCFACE_TEMPLATE",
        "BACKGROUND_BGR",
        "KEYPOINT_FRACTIONS",
        "SWAP_REGION",
        "Box",
        "ModelPaths",
        "draw_faces",
        "face_pattern",
        "layout_faces",
        "main",
        "place_faces",
        "thumbnail_grid",
        "write_image",
        "write_models",
    ]


def test_keypoint_fractions_are_insightfaces_template() -> None:
    np.testing.assert_array_equal(KEYPOINT_FRACTIONS * 112, face_align.arcface_dst)


def test_models_are_written_where_the_contract_puts_them(models: ModelPaths) -> None:
    root = models.swapper.parent
    assert models.detector == root / "buffalo_l" / "det_10g.onnx"
    assert models.recognizer == root / "buffalo_l" / "w600k_r50.onnx"
    assert models.swapper == root / "inswapper_128.onnx"
    assert (
        sum(path.stat().st_size for path in (models.detector, models.recognizer, models.swapper)) < 4_000_000
    )


def test_models_are_valid_onnx(models: ModelPaths) -> None:
    for path in (models.detector, models.recognizer, models.swapper):
        onnx.checker.check_model(onnx.load(path), full_check=True)


def test_models_are_generated_byte_for_byte_the_same(models: ModelPaths, tmp_path: Path) -> None:
    again = write_models(tmp_path)
    for first, second in zip(
        (models.detector, models.recognizer, models.swapper),
        (again.detector, again.recognizer, again.swapper),
        strict=True,
    ):
        assert first.read_bytes() == second.read_bytes()


def test_insightface_routes_each_file_to_its_model(
    detector: SCRFD, recognizer: ArcFaceONNX, swapper: INSwapper
) -> None:
    assert isinstance(detector, SCRFD)
    assert detector.use_kps
    assert detector.static_input_size is None
    assert isinstance(recognizer, ArcFaceONNX)
    assert (recognizer.input_mean, recognizer.input_std) == (127.5, 127.5)
    assert isinstance(swapper, INSwapper)
    assert swapper.emap.shape == (512, 512)
    np.testing.assert_allclose(swapper.emap @ swapper.emap.T, np.eye(512), atol=1e-5)


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
@pytest.mark.parametrize("count", [0, 1, 3, 8])
def test_detector_finds_exactly_the_drawn_faces(detector: SCRFD, size: tuple[int, int], count: int) -> None:
    image, boxes = draw_faces(*size, count, seed=count)
    faces = detect(detector, image)
    assert_found(faces, boxes, box_tolerance(image))
    assert all(face.det_score >= 0.8 for face in faces)


@pytest.mark.parametrize("input_size", [(640, 480), (320, 320), (1280, 1280)])
@pytest.mark.parametrize("static_shape_sessions", [True, False])
def test_detector_works_at_other_input_sizes_and_with_dynamic_sessions(
    models: ModelPaths, input_size: tuple[int, int], static_shape_sessions: bool
) -> None:
    model = get_model(str(models.detector), providers=CPU, static_shape_sessions=static_shape_sessions)
    model.prepare(0, input_size=input_size)
    image, boxes = draw_faces(1024, 768, 4, seed=1)
    assert_found(detect(model, image, input_size), boxes, box_tolerance(image, input_size))


def test_detector_merges_insightfaces_two_default_sizes_into_one_box_per_face(models: ModelPaths) -> None:
    model = get_model(str(models.detector), providers=CPU)
    image, boxes = draw_faces(640, 480, 3)
    found, _ = model.detect(image, input_size=[(128, 128), (640, 640)])
    assert len(found) == len(boxes)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp"])
def test_written_images_keep_their_faces(detector: SCRFD, tmp_path: Path, suffix: str) -> None:
    image, boxes = draw_faces(800, 600, 6, seed=3)
    path = tmp_path / f"faces{suffix}"
    write_image(path, image)
    decoded = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if suffix == ".png":
        np.testing.assert_array_equal(decoded, image)
    assert_found(detect(detector, decoded), boxes, box_tolerance(image) + 1)


@pytest.mark.parametrize(("size", "count"), [((200, 200), 3), ((200, 200), 4), ((240, 180), 3)])
def test_detector_counts_faces_of_small_upscaled_jpegs_exactly(
    detector: SCRFD, size: tuple[int, int], count: int
) -> None:
    image, boxes = draw_faces(*size, count, seed=1)
    _, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 75])
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    assert_found(detect(detector, decoded), boxes, box_tolerance(image) + 1)


def test_small_coloured_specks_and_grey_noise_are_not_faces(detector: SCRFD) -> None:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (480, 640, 1), dtype=np.uint8).repeat(3, axis=2)
    specks = place_faces(noise, [(50, 50, 55, 55), (300, 200, 306, 212)], [1, 2])
    assert detect(detector, specks) == []


def test_same_face_at_two_places_and_scales_embeds_the_same(detector: SCRFD, recognizer: ArcFaceONNX) -> None:
    image = place_faces(canvas(1024, 768), [(40, 60, 340, 360), (700, 500, 780, 580)], [7, 7])
    big, small = detect(detector, image)
    assert float(embed(recognizer, image, big) @ embed(recognizer, image, small)) > 0.99


def test_different_identities_embed_clearly_apart(detector: SCRFD, recognizer: ArcFaceONNX) -> None:
    image, _ = draw_faces(1600, 400, 8, seed=2)
    embeddings = [embed(recognizer, image, face) for face in detect(detector, image)]
    for first, second in itertools.combinations(embeddings, 2):
        assert float(first @ second) < 0.8


def test_swapper_paints_the_source_face_over_the_target_face_only(
    detector: SCRFD, recognizer: ArcFaceONNX, swapper: INSwapper
) -> None:
    source_image, _ = draw_faces(640, 480, 1, seed=5)
    (source,) = detect(detector, source_image)
    embed(recognizer, source_image, source)
    target_image, _ = draw_faces(1024, 768, 3, seed=9)
    target = detect(detector, target_image)[1]

    swapped, _ = swapper.get(target_image, target, source, paste_back=False)

    crop, _ = face_align.norm_crop2(target_image, target.kps, 128)
    x1, y1, x2, y2 = SWAP_REGION
    outside = np.ones(crop.shape[:2], dtype=bool)
    outside[y1:y2, x1:x2] = False
    np.testing.assert_array_equal(swapped[outside], crop[outside])
    aligned = face_align.norm_crop(source_image, source.kps, 112).astype(np.float32)
    thumbnail = aligned.reshape(8, 14, 8, 14, 3).mean(axis=(1, 3))
    painted = swapped[y1:y2, x1:x2].astype(np.float32).reshape(8, 14, 8, 14, 3)
    np.testing.assert_allclose(painted, np.broadcast_to(thumbnail[:, None, :, None], painted.shape), atol=1)


def test_swapped_face_shows_the_source_identitys_colours(
    detector: SCRFD, recognizer: ArcFaceONNX, swapper: INSwapper
) -> None:
    source_image = place_faces(canvas(640, 480), [(200, 100, 440, 340)], [42])
    (source,) = detect(detector, source_image)
    embed(recognizer, source_image, source)
    target_image, _ = draw_faces(640, 480, 1, seed=1)
    (target,) = detect(detector, target_image)

    swapped, _ = swapper.get(target_image, target, source, paste_back=False)

    x1, y1, x2, y2 = SWAP_REGION
    expected = face_pattern(42, x2 - x1, y2 - y1).astype(np.int16)
    difference = np.abs(swapped[y1:y2, x1:x2].astype(np.int16) - expected)
    assert np.median(difference) <= 2
    assert difference.max() <= 40


def test_face_pattern_is_saturated_everywhere_and_depends_on_identity() -> None:
    first = face_pattern(3, 60, 80).astype(np.int16)
    assert first.shape == (80, 60, 3)
    assert (first.max(axis=2) - first.min(axis=2)).min() >= 127
    assert not np.array_equal(first, face_pattern(4, 60, 80))
    np.testing.assert_array_equal(first, face_pattern(3, 60, 80))


def test_place_faces_returns_a_new_image_and_leaves_the_canvas_alone() -> None:
    blank = canvas(200, 100)
    drawn = place_faces(blank, [(10, 10, 50, 50)], [1])
    assert (blank == BACKGROUND_BGR).all()
    np.testing.assert_array_equal(drawn[10:50, 10:50], face_pattern(1, 40, 40))


@pytest.mark.parametrize(
    "size", [(320, 240), (1920, 1080), (768, 1024)], ids=lambda size: f"{size[0]}x{size[1]}"
)
def test_draw_faces_lays_faces_out_left_to_right_on_grey(size: tuple[int, int]) -> None:
    image, boxes = draw_faces(*size, 8)
    assert image.shape == (size[1], size[0], 3)
    assert image.dtype == np.uint8
    assert all(left[2] < right[0] for left, right in itertools.pairwise(boxes))
    background = np.ones(image.shape[:2], dtype=bool)
    for x1, y1, x2, y2 in boxes:
        assert 0 <= x1 < x2 <= size[0]
        assert 0 <= y1 < y2 <= size[1]
        background[y1:y2, x1:x2] = False
    assert (image[background] == BACKGROUND_BGR).all()


def test_seed_changes_colours_but_never_the_layout() -> None:
    first, first_boxes = draw_faces(640, 480, 3, seed=0)
    second, second_boxes = draw_faces(640, 480, 3, seed=1)
    assert first_boxes == second_boxes
    assert not np.array_equal(first, second)


def test_no_faces_gives_a_plain_grey_image() -> None:
    image, boxes = draw_faces(320, 240, 0)
    assert boxes == []
    assert (image == BACKGROUND_BGR).all()


def test_too_many_faces_for_the_size_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot fit"):
        layout_faces(320, 240, 40)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "faceswap.testing.synthetic", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=Path(__file__).resolve().parents[1],
    )


def test_cli_writes_the_model_pack(tmp_path: Path, models: ModelPaths) -> None:
    result = run_cli("models", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "buffalo_l" / "det_10g.onnx").read_bytes() == models.detector.read_bytes()
    assert (tmp_path / "buffalo_l" / "w600k_r50.onnx").is_file()
    assert (tmp_path / "inswapper_128.onnx").is_file()


@pytest.mark.parametrize("count", [0, 3])
def test_cli_writes_an_image_with_the_asked_number_of_faces(
    detector: SCRFD, tmp_path: Path, count: int
) -> None:
    out = tmp_path / "faces.jpg"
    result = run_cli("image", str(out), "--faces", str(count), "--size", "800x600", "--seed", "4")
    assert result.returncode == 0, result.stderr
    image = cv2.imread(str(out), cv2.IMREAD_COLOR)
    assert image.shape == (600, 800, 3)
    assert len(detect(detector, image)) == count


def test_cli_refuses_too_many_faces_with_status_2(tmp_path: Path) -> None:
    result = run_cli("image", str(tmp_path / "out.png"), "--faces", "40", "--size", "320x240")
    assert result.returncode == 2
    assert "cannot fit" in result.stderr
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--faces", "-1"], "not be negative"),
        (["--faces", "1", "--seed", "-3"], "not be negative"),
        (["--faces", "1", "--size", "640by480"], "WxH"),
        (["--faces", "1", "--size", "16x16"], "WxH"),
        (["--size", "640x480"], "--faces"),
        (["--faces", "two"], "invalid int"),
    ],
)
def test_bad_image_arguments_exit_with_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        synthetic.main(["image", str(tmp_path / "out.png"), *args])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out.png").exists()


def test_unknown_image_format_exits_with_status_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        synthetic.main(["image", str(tmp_path / "out.gif"), "--faces", "1"])
    assert exited.value.code == 2
    assert ".png" in capsys.readouterr().err


def test_unwritable_output_exits_with_status_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(SystemExit) as exited:
        synthetic.main(["image", str(blocker / "out.png"), "--faces", "1"])
    assert exited.value.code == 2
    assert "cannot write" in capsys.readouterr().err
