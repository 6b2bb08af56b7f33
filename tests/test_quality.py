"""The quality options, measured on the synthetic pack: what each changes, where, and by how much.

The synthetic swapper paints the source's 4x4 colour grid over the face; a large target face shows how
much of that painted pattern's resolution survives the round trip through the crop.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from faceswap.config import Settings
from faceswap.errors import ErrorCode, SwapError
from faceswap.http.app import create_app
from faceswap.lifecycle import ModelLifecycle
from faceswap.models.loader import FaceModels
from faceswap.pipeline.align import align_face
from faceswap.pipeline.blend import paste_back, paste_region
from faceswap.pipeline.embed import identity_latent
from faceswap.pipeline.engine import Engine
from faceswap.pipeline.enhance import align_ffhq
from faceswap.pipeline.quality import Enhancer, FaceMask, Quality
from faceswap.pipeline.swap import swap_crop
from faceswap.runpod_worker import QueueWorker
from faceswap.testing.optional import GRID, OCCLUDED_CELLS, PARSER_LABELS
from faceswap.testing.synthetic import face_pattern, write_models
from tests.conftest import SOURCE_SEED, derive
from tests.servers import app_in_thread, wait_ready

MARGIN = 0.12
"""How far, as a fraction of the face box, the blend's soft edge may reach beyond the face."""


def decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def inner(box: tuple[int, int, int, int], fraction: float = 0.2) -> tuple[slice, slice]:
    x1, y1, x2, y2 = box
    dx, dy = int((x2 - x1) * fraction), int((y2 - y1) * fraction)
    return slice(y1 + dy, y2 - dy), slice(x1 + dx, x2 - dx)


def face_region(engine: Engine, target: bytes, frame: np.ndarray) -> np.ndarray:
    """The pixels the blend may touch for the target's first face: its aligned crop's paste region."""
    _, matrix = align_face(frame, engine.faces(target, frame)[0].keypoints, 128)
    region = paste_region(frame.shape, matrix, 128)
    assert region is not None
    x0, y0, x1, y1 = region
    inside = np.zeros(frame.shape[:2], bool)
    inside[y0:y1, x0:x1] = True
    return inside


def assert_changes_inside(before: np.ndarray, after: np.ndarray, inside: np.ndarray) -> None:
    assert np.array_equal(before[~inside], after[~inside])


def assert_changes_stay_near(before: np.ndarray, after: np.ndarray, box: tuple[int, int, int, int]) -> None:
    changed = np.abs(before.astype(int) - after.astype(int)).max(axis=2) > 0
    ys, xs = np.nonzero(changed)
    x1, y1, x2, y2 = box
    margin_x, margin_y = (x2 - x1) * MARGIN, (y2 - y1) * MARGIN
    assert xs.min() >= x1 - margin_x and xs.max() < x2 + margin_x
    assert ys.min() >= y1 - margin_y and ys.max() < y2 + margin_y


def pattern_error(output: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Mean absolute error, inside the face's central part, against the source's painted pattern."""
    x1, y1, x2, y2 = box
    expected = face_pattern(SOURCE_SEED * 1000, x2 - x1, y2 - y1).astype(int)
    rows, cols = inner((0, 0, x2 - x1, y2 - y1))
    got = output[y1:y2, x1:x2][rows, cols].astype(int)
    return float(np.abs(got - expected[rows, cols]).mean())


def test_without_options_the_output_is_todays_128_swap_byte_for_byte(engine: Engine, large: Any) -> None:
    source, target, frame, _ = large
    result = engine.swap(source, target)
    assert engine.swap(source, target, quality=Quality()).image == result.image
    expected = frame.copy()
    face = engine.faces(target, frame)[0]
    latent = identity_latent(engine.source_identity(source, 1).embedding, engine.models.swapper.emap)
    crop, matrix = align_face(expected, face.keypoints, 128)
    swapper = engine.models.swapper
    patch = paste_back(expected, swap_crop(swapper.session, swapper.input_names, crop, latent), matrix)
    assert patch is not None
    height, width = patch.pixels.shape[:2]
    expected[patch.y : patch.y + height, patch.x : patch.x + width] = patch.pixels
    assert result.image == engine.encode(expected, "png")


def test_pixel_boost_512_keeps_the_painted_pattern_sharper_than_128(engine: Engine, large: Any) -> None:
    source, target, frame, box = large
    errors = {}
    for size in (128, 256, 512):
        output = decode(engine.swap(source, target, quality=Quality(pixel_boost=size)).image)
        assert_changes_stay_near(frame, output, box)
        assert_changes_inside(frame, output, face_region(engine, target, frame))
        errors[size] = pattern_error(output, box)
    assert errors[512] < errors[256] < errors[128]
    assert errors[512] < 0.5 * errors[128], errors


def test_pixel_boost_swaps_k_squared_tiles_per_face(engine: Engine, large: Any) -> None:
    source, target, _, _ = large
    session = engine.models.swapper.session
    calls: list[int] = []
    original = session.run_with_iobinding

    def counted(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        original(*args, **kwargs)

    session.run_with_iobinding = counted  # type: ignore[method-assign]
    try:
        engine.swap(source, target, quality=Quality(pixel_boost=384))
    finally:
        session.run_with_iobinding = original  # type: ignore[method-assign]
    assert len(calls) == 9


def test_an_unknown_pixel_boost_is_refused() -> None:
    with pytest.raises(ValueError, match="pixel_boost"):
        Quality(pixel_boost=200)


def lab_mean(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB).reshape(-1, 3).mean(axis=0)


def test_color_match_moves_the_swapped_faces_colours_to_the_targets(engine: Engine, large: Any) -> None:
    source, target, frame, box = large
    plain = decode(engine.swap(source, target).image)
    matched = decode(engine.swap(source, target, quality=Quality(color_match=True)).image)
    assert_changes_inside(frame, matched, face_region(engine, target, frame))
    rows, cols = inner(box)
    want = lab_mean(frame[rows, cols])
    before = np.linalg.norm(lab_mean(plain[rows, cols]) - want)
    after = np.linalg.norm(lab_mean(matched[rows, cols]) - want)
    assert after < 0.25 * before, (before, after)
    assert not np.array_equal(plain[rows, cols], matched[rows, cols])


def cells_in_frame(
    engine: Engine, target: bytes, frame: np.ndarray, cells: tuple[int, int, int, int], size: int, inset: int
) -> tuple[slice, slice]:
    """The frame pixels under grid cells (x1, y1, x2, y2) of the first face's `size` crop, `inset` px in."""
    _, matrix = align_face(frame, engine.faces(target, frame)[0].keypoints, size)
    inverse = cv2.invertAffineTransform(matrix)
    cell = size / GRID
    corners = np.array([[cells[0] * cell, cells[1] * cell, 1], [cells[2] * cell, cells[3] * cell, 1]])
    (x1, y1), (x2, y2) = corners @ inverse.T
    return slice(int(y1) + inset, int(y2) - inset), slice(int(x1) + inset, int(x2) - inset)


def with_mask(**fields: Any) -> Quality:
    return Quality(pixel_boost=512, face_mask=FaceMask(**fields))


@pytest.mark.parametrize("swapper", ["inswapper_128", "hyperswap_1a_256", "uniface_256"])
def test_color_match_leaves_what_the_plain_swap_leaves_alone(
    swapper: str, engine: Engine, large: Any
) -> None:
    source, target, frame, box = large
    plain = decode(engine.swap(source, target, quality=Quality(swapper=swapper)).image)
    matched = decode(engine.swap(source, target, quality=Quality(swapper=swapper, color_match=True)).image)
    untouched = (plain == frame).all(axis=2)
    assert untouched.sum() > 0.5 * untouched.size
    assert np.abs(matched[untouched].astype(int) - frame[untouched].astype(int)).max() <= 3
    rows, cols = inner(box)
    assert np.abs(matched[rows, cols].astype(int) - plain[rows, cols].astype(int)).mean() > 10


def test_the_default_box_mask_is_the_plain_swap(engine: Engine, large: Any) -> None:
    source, target, _, _ = large
    for size in (128, 512):
        plain = engine.swap(source, target, quality=Quality(pixel_boost=size)).image
        boxed = engine.swap(
            source, target, quality=Quality(pixel_boost=size, face_mask=FaceMask(types=("box",)))
        )
        assert boxed.image == plain


def test_the_occluders_patch_keeps_the_targets_pixels(engine: Engine, large: Any) -> None:
    source, target, frame, _ = large
    plain = decode(engine.swap(source, target, quality=with_mask(types=("box",))).image)
    occluded = decode(engine.swap(source, target, quality=with_mask(types=("box", "occlusion"))).image)
    rows, cols = cells_in_frame(engine, target, frame, OCCLUDED_CELLS, 512, inset=12)
    assert rows.stop - rows.start > 60 and cols.stop - cols.start > 60
    assert np.array_equal(occluded[rows, cols], frame[rows, cols])
    assert not np.array_equal(plain[rows, cols], frame[rows, cols])
    assert_changes_inside(frame, occluded, face_region(engine, target, frame))
    outside_patch = np.ones(frame.shape[:2], bool)
    outside_patch[rows.start - 60 : rows.stop + 60, cols.start - 60 : cols.stop + 60] = False
    assert np.array_equal(occluded[outside_patch], plain[outside_patch])


def test_the_parsers_excluded_regions_keep_the_targets_pixels(engine: Engine, large: Any) -> None:
    source, target, frame, _ = large
    kept = decode(engine.swap(source, target, quality=with_mask(types=("region",))).image)
    no_nose = decode(
        engine.swap(source, target, quality=with_mask(types=("region",), regions=("skin", "eyes"))).image
    )
    ys, xs = np.nonzero(PARSER_LABELS == 10)
    nose = cells_in_frame(engine, target, frame, (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), 512, 12)
    hair = cells_in_frame(engine, target, frame, (2, 0, 14, 3), 512, 12)
    skin = cells_in_frame(engine, target, frame, (1, 9, 5, 11), 512, 12)
    assert np.array_equal(no_nose[nose], frame[nose])
    assert not np.array_equal(kept[nose], frame[nose])
    for output in (kept, no_nose):
        assert np.array_equal(output[hair], frame[hair])
        assert not np.array_equal(output[skin], frame[skin])
        assert_changes_inside(frame, output, face_region(engine, target, frame))


def test_the_box_masks_padding_keeps_that_part_of_the_target(engine: Engine, large: Any) -> None:
    source, target, frame, _ = large
    padded = decode(engine.swap(source, target, quality=with_mask(padding=(0, 0, 50, 0), blur=0.0)).image)
    lower = cells_in_frame(engine, target, frame, (1, 8, 15, 14), 512, 4)
    upper = cells_in_frame(engine, target, frame, (2, 2, 14, 7), 512, 4)
    assert np.array_equal(padded[lower], frame[lower])
    assert not np.array_equal(padded[upper], frame[upper])


def sharpness(image: np.ndarray) -> float:
    pixels = image.astype(np.float64)
    return float((np.diff(pixels, axis=0) ** 2).sum() + (np.diff(pixels, axis=1) ** 2).sum())


def enhancer_region(engine: Engine, target: bytes, frame: np.ndarray) -> np.ndarray:
    """The pixels the restored face's paste may touch: its FFHQ 512 crop's paste region."""
    _, matrix = align_ffhq(frame, engine.faces(target, frame)[0].keypoints)
    region = paste_region(frame.shape, matrix, 512)
    assert region is not None
    inside = np.zeros(frame.shape[:2], bool)
    inside[region[1] : region[3], region[0] : region[2]] = True
    return inside | face_region(engine, target, frame)


@pytest.mark.parametrize("model", ["gfpgan_1.4", "codeformer", "gpen_bfr_512"])
def test_each_enhancer_sharpens_the_swapped_face_and_nothing_else(
    engine: Engine, large: Any, model: str
) -> None:
    source, target, frame, box = large
    plain = decode(engine.swap(source, target).image)
    quality = Quality(face_enhancer=Enhancer(model, 1.0, 0.0))
    enhanced = decode(engine.swap(source, target, quality=quality).image)
    rows, cols = inner(box)
    assert sharpness(enhanced[rows, cols]) > 1.1 * sharpness(plain[rows, cols])
    assert_changes_inside(frame, enhanced, enhancer_region(engine, target, frame))


def test_the_enhancers_blend_mixes_it_with_the_swap(engine: Engine, large: Any) -> None:
    source, target, _, box = large
    plain = decode(engine.swap(source, target).image).astype(int)
    outputs = {}
    for blend in (0.0, 0.5, 1.0):
        quality = Quality(face_enhancer=Enhancer("gfpgan_1.4", blend))
        outputs[blend] = decode(engine.swap(source, target, quality=quality).image).astype(int)
    assert np.array_equal(outputs[0.0], plain)
    rows, cols = inner(box)
    half = np.abs(outputs[0.5] - plain)[rows, cols].mean()
    full = np.abs(outputs[1.0] - plain)[rows, cols].mean()
    assert 0.4 * full < half < 0.6 * full


def test_codeformers_fidelity_1_stays_closest_to_the_swap(engine: Engine, large: Any) -> None:
    source, target, _, box = large
    plain = decode(engine.swap(source, target).image).astype(int)
    rows, cols = inner(box)
    distance = {}
    for fidelity in (0.0, 0.5, 1.0):
        quality = Quality(face_enhancer=Enhancer("codeformer", 1.0, fidelity))
        output = decode(engine.swap(source, target, quality=quality).image)
        distance[fidelity] = np.abs(output - plain)[rows, cols].mean()
    assert distance[1.0] < distance[0.5] < distance[0.0]


@pytest.mark.parametrize(
    ("quality", "missing"),
    [
        (Quality(face_mask=FaceMask(types=("occlusion",))), "masks/xseg_1"),
        (Quality(face_mask=FaceMask(types=("box", "region"))), "masks/bisenet_resnet_34"),
        (Quality(face_enhancer=Enhancer("gfpgan_1.4")), "enhancers/gfpgan_1.4"),
        (Quality(face_enhancer=Enhancer("codeformer")), "enhancers/codeformer"),
        (Quality(face_enhancer=Enhancer("gpen_bfr_512")), "enhancers/gpen_bfr_512"),
    ],
)
def test_a_missing_optional_model_is_model_not_installed_naming_the_file_and_command(
    models: FaceModels, settings: Settings, tmp_path: Any, large: Any, quality: Quality, missing: str
) -> None:
    write_models(tmp_path)
    (tmp_path / f"{missing}.onnx").unlink()
    bare = Engine(models, derive(settings, model_dir=tmp_path))
    source, target, _, _ = large
    with pytest.raises(SwapError) as caught:
        bare.swap(source, target, quality=quality)
    assert caught.value.code is ErrorCode.MODEL_NOT_INSTALLED and caught.value.status == 422
    assert f"{missing}.onnx" in caught.value.message
    missing = missing.split("/")[1]
    assert f"python -m faceswap.models download --with {missing}" in caught.value.message
    assert bare.swap(source, target).image == Engine(models, settings).swap(source, target).image


# Each option as a request sends it, and as the engine receives it.
OPTIONS: dict[str, tuple[dict[str, Any], Quality]] = {
    "pixel_boost": ({"pixel_boost": 512}, Quality(pixel_boost=512)),
    "color_match": ({"color_match": True}, Quality(color_match=True)),
    "together": ({"pixel_boost": 256, "color_match": True}, Quality(pixel_boost=256, color_match=True)),
    "face_mask": (
        {"face_mask": {"types": ["box", "occlusion", "region"], "blur": 0.5, "regions": ["skin", "nose"]}},
        Quality(face_mask=FaceMask(types=("box", "occlusion", "region"), blur=0.5, regions=("skin", "nose"))),
    ),
    "face_enhancer": (
        {"face_enhancer": {"model": "codeformer", "blend": 0.6, "fidelity": 0.2}},
        Quality(face_enhancer=Enhancer("codeformer", 0.6, 0.2)),
    ),
    "swapper": (
        {"swapper": "simswap_unofficial_512", "pixel_boost": 1024},
        Quality(swapper="simswap_unofficial_512", pixel_boost=1024),
    ),
    "swapper_weight": (
        {"swapper": "hyperswap_1c_256", "swapper_weight": 0.9},
        Quality(swapper="hyperswap_1c_256", swapper_weight=0.9),
    ),
    "uniface": ({"swapper": "uniface_256"}, Quality(swapper="uniface_256")),
}


@pytest.fixture(scope="module")
def base_url(settings: Settings) -> Iterator[str]:
    with app_in_thread(create_app(settings)) as url:
        wait_ready(url)
        yield url


def images_b64(large: Any) -> dict[str, str]:
    source, target, _, _ = large
    return {
        "source_image": base64.b64encode(source).decode(),
        "target_image": base64.b64encode(target).decode(),
    }


def form_fields(fields: dict[str, Any]) -> dict[str, str]:
    """The option fields as multipart form fields: nested values as JSON text."""
    return {
        name: json.dumps(value) if isinstance(value, dict | list | bool) else str(value)
        for name, value in fields.items()
    }


@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_every_entry_point_applies_the_option(
    option: str, engine: Engine, large: Any, base_url: str, settings: Settings, models: FaceModels
) -> None:
    fields, quality = OPTIONS[option]
    source, target, _, _ = large
    expected = decode(engine.swap(source, target, quality=quality).image)
    assert not np.array_equal(expected, decode(engine.swap(source, target).image))
    body = {**images_b64(large), **fields}
    outputs = {}
    response = httpx.post(f"{base_url}/swap", json=body, timeout=60)
    assert response.status_code == 200, response.text
    outputs["/swap"] = response.json()["image_base64"]
    files = {"source": ("s.png", source, "image/png"), "target": ("t.png", target, "image/png")}
    response = httpx.post(f"{base_url}/swap/upload", files=files, data=form_fields(fields), timeout=60)
    assert response.status_code == 200, response.text
    outputs["/swap/upload"] = response.json()["image_base64"]
    response = httpx.post(f"{base_url}/runsync", json={"input": body}, timeout=60)
    assert response.status_code == 200, response.text
    outputs["/runsync"] = response.json()["output"]["image_base64"]
    worker = QueueWorker(settings, ModelLifecycle(settings, loader=lambda _: models))
    assert worker.load()
    outputs["queue worker"] = asyncio.run(worker.handle({"id": "job-1", "input": body}))["image_base64"]
    for entry, image in outputs.items():
        assert np.array_equal(decode(base64.b64decode(image)), expected), entry


@pytest.mark.parametrize(
    "fields",
    [
        {"pixel_boost": 200},
        {"pixel_boost": "big"},
        {"color_match": "sometimes"},
        {"face_mask": {"types": ["hat"]}},
        {"face_mask": {"types": []}},
        {"face_mask": {"regions": ["hair"]}},
        {"face_mask": {"padding": [0, 0, 0]}},
        {"face_mask": {"blur": 2}},
        {"face_mask": {"feather": 1}},
        {"face_enhancer": {"model": "restoreformer"}},
        {"face_enhancer": {"model": "gfpgan_1.4", "blend": 1.5}},
        {"face_enhancer": {"blend": 0.5}},
        {"face_enhancer": {"model": "codeformer", "strength": 1}},
        {"swapper": "blendswap_256"},
        {"swapper": "ghost_1_256", "pixel_boost": 384},
        {"swapper_weight": -0.1},
    ],
)
def test_an_invalid_option_is_invalid_input_everywhere(
    fields: dict[str, Any], base_url: str, large: Any
) -> None:
    body = {**images_b64(large), **fields}
    response = httpx.post(f"{base_url}/swap", json=body, timeout=60)
    assert response.status_code == 422 and response.json()["error_code"] == "INVALID_INPUT", response.text
    source, target, _, _ = large
    files = {"source": ("s.png", source, "image/png"), "target": ("t.png", target, "image/png")}
    response = httpx.post(f"{base_url}/swap/upload", files=files, data=form_fields(fields), timeout=60)
    assert response.status_code == 422 and response.json()["error_code"] == "INVALID_INPUT", response.text
    response = httpx.post(f"{base_url}/runsync", json={"input": body}, timeout=60)
    assert response.json()["output"]["error_code"] == "INVALID_INPUT", response.text


def test_model_not_installed_over_http_and_runsync(settings: Settings, tmp_path: Any, large: Any) -> None:
    write_models(tmp_path)
    (tmp_path / "masks" / "xseg_1.onnx").unlink()
    body = {**images_b64(large), "face_mask": {"types": ["box", "occlusion"]}}
    with app_in_thread(create_app(derive(settings, model_dir=tmp_path))) as url:
        wait_ready(url)
        response = httpx.post(f"{url}/swap", json=body, timeout=60)
        assert response.status_code == 422, response.text
        assert response.json()["error_code"] == "MODEL_NOT_INSTALLED"
        assert "masks/xseg_1.onnx" in response.json()["message"]
        assert "/tmp" not in response.json()["message"]
        response = httpx.post(f"{url}/runsync", json={"input": body}, timeout=60)
        assert response.status_code == 200 and response.json()["output"]["success"] is False
        assert response.json()["output"]["error_code"] == "MODEL_NOT_INSTALLED"
        assert httpx.get(f"{url}/health", timeout=10).json()["status"] == "ready"


def test_the_interactive_docs_describe_every_option(base_url: str) -> None:
    schema = httpx.get(f"{base_url}/openapi.json", timeout=10).json()
    components = schema["components"]["schemas"]
    fields = components["SwapInput"]["properties"]
    for name in ("pixel_boost", "color_match", "face_mask", "face_enhancer", "swapper", "swapper_weight"):
        assert fields[name]["description"], name
    assert set(components["FaceMaskOptions"]["properties"]) == {"types", "blur", "padding", "regions"}
    assert set(components["FaceEnhancerOptions"]["properties"]) == {"model", "blend", "fidelity"}
    upload = next(name for name in components if name.startswith("Body_swap_upload"))
    assert {"pixel_boost", "color_match", "face_mask", "face_enhancer"} <= set(
        components[upload]["properties"]
    )
