"""The swappers beside inswapper_128, through the real loader on the synthetic pack.

Each stand-in paints the identity it decodes from its `source` input over the region where its own
template puts the synthetic face in a crop of its own side (faceswap.testing.swappers), and returns the
rest of the crop through its own normalisation: so a wrong template, side, normalisation or source
vector shows in where and what lands on the target face.
"""

from __future__ import annotations

import base64
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import cv2
import httpx
import numpy as np
import pytest

from faceswap.config import Settings
from faceswap.errors import ErrorCode, SwapError
from faceswap.http.app import create_app
from faceswap.models.check import GraphSummary, swapper_crop
from faceswap.models.loader import FaceModels
from faceswap.pipeline.engine import Engine
from faceswap.pipeline.quality import FaceMask, Quality
from faceswap.pipeline.swappers import FAMILIES, SWAPPER_NAMES, SWAPPERS, family_of
from faceswap.pipeline.swappers.base import balance, normalised, weight_shift
from faceswap.pipeline.video import VideoLimits, swap_video
from faceswap.schemas import SwapperName
from faceswap.testing.clips import write_clip
from faceswap.testing.swappers import CONVERTER_GAIN, converter_matrix
from faceswap.testing.synthetic import draw_faces, face_pattern, write_models
from tests.conftest import SOURCE_SEED, derive, encode_png
from tests.servers import app_in_thread, wait_ready

OTHER_SEED = 4
PLACED = 0.1
"""At most this share of the face's pixels may differ from the source's pattern by more than MISMATCH
levels (the soft edges of the pattern's cells after two warps); a misplaced face differs in over 0.2."""
MISPLACED = 0.2
MISMATCH = 24


def decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def central(box: tuple[int, int, int, int], fraction: float = 0.15) -> tuple[slice, slice]:
    x1, y1, x2, y2 = box
    dx, dy = int((x2 - x1) * fraction), int((y2 - y1) * fraction)
    return slice(y1 + dy, y2 - dy), slice(x1 + dx, x2 - dx)


def pattern_error(output: np.ndarray, box: tuple[int, int, int, int], seed: int = SOURCE_SEED) -> float:
    """The share of the face's pixels (all but a 5 % rim) off identity `seed`'s pattern by > MISMATCH."""
    x1, y1, x2, y2 = box
    expected = face_pattern(seed * 1000, x2 - x1, y2 - y1)
    rows, cols = central((0, 0, x2 - x1, y2 - y1), 0.05)
    got = output[y1:y2, x1:x2][rows, cols].astype(int)
    return float((np.abs(got - expected[rows, cols].astype(int)).max(axis=2) > MISMATCH).mean())


def far_from_face(frame: np.ndarray, box: tuple[int, int, int, int], margin: float = 0.25) -> np.ndarray:
    x1, y1, x2, y2 = box
    dx, dy = int((x2 - x1) * margin), int((y2 - y1) * margin)
    keep = np.ones(frame.shape[:2], bool)
    keep[max(y1 - dy, 0) : y2 + dy, max(x1 - dx, 0) : x2 + dx] = False
    return keep


@pytest.mark.parametrize("name", SWAPPER_NAMES)
def test_each_swapper_lands_the_source_face_exactly_on_the_target_face(
    name: str, engine: Engine, large: Any
) -> None:
    source, target, frame, box = large
    result = engine.swap(source, target, quality=Quality(swapper=name))
    output = decode(result.image)
    assert pattern_error(output, box) < PLACED, name
    assert pattern_error(frame, box) > 0.9  # the target's own face was someone else
    keep = far_from_face(frame, box)
    assert np.array_equal(output[keep], frame[keep])


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("ghost_1_256", {"template": "arcface_128"}),
        ("hyperswap_1a_256", {"template": "ffhq_512"}),
        ("uniface_256", {"template": "arcface_112_v1"}),
        ("simswap_256", {"template": "ffhq_512"}),
        ("simswap_256", {"crop": 512}),
    ],
)
def test_a_wrong_template_or_side_misplaces_the_face(
    name: str, change: dict[str, Any], engine: Engine, large: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target, _, box = large
    monkeypatch.setitem(SWAPPERS, name, dataclasses.replace(SWAPPERS[name], **change))
    try:
        output = decode(engine.swap(source, target, quality=Quality(swapper=name)).image)
    except Exception:  # a wrong side is refused by the model itself: also a visible failure
        return
    assert pattern_error(output, box) > MISPLACED


@pytest.mark.parametrize("name", ["simswap_256", "hyperswap_1a_256", "ghost_2_256", "simswap_unofficial_512"])
def test_a_wrong_normalisation_shows_on_or_around_the_face(
    name: str, engine: Engine, large: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target, frame, box = large
    right = decode(engine.swap(source, target, quality=Quality(swapper=name)).image)
    model = SWAPPERS[name]
    wrong_mean = tuple(value + 0.2 for value in model.mean)
    monkeypatch.setitem(SWAPPERS, name, dataclasses.replace(model, mean=wrong_mean))  # type: ignore[arg-type]
    wrong = decode(engine.swap(source, target, quality=Quality(swapper=name)).image)
    x1, y1, x2, y2 = box
    outer, inner = (x2 - x1) * 15 // 100, (x2 - x1) * 2 // 100
    ring = np.zeros(frame.shape[:2], bool)
    ring[y1 - outer : y2 + outer, x1 - outer : x2 + outer] = True
    ring[y1 - inner : y2 + inner, x1 - inner : x2 + inner] = False
    right_error = np.abs(right[ring].astype(int) - frame[ring].astype(int)).max()
    wrong_error = np.abs(wrong[ring].astype(int) - frame[ring].astype(int)).max()
    assert right_error == 0, right_error
    # Families whose output is de-normalised undo a wrong input normalisation around the face (as the real
    # models would) but paint the face in the wrong colours; the others show it around the face.
    assert wrong_error >= 8 or pattern_error(wrong, box) > MISPLACED


def test_each_stand_in_has_the_real_files_io_contract(engine: Engine) -> None:
    for name in SWAPPER_NAMES[1:]:
        loaded = engine.swapper(name)
        inputs = {value.name: (value.shape, value.type) for value in loaded.session.get_inputs()}
        side = SWAPPERS[name].crop
        source_shape = [1, 3, 256, 256] if name == "uniface_256" else [1, 512]
        assert inputs == {
            "target": ([1, 3, side, side], "tensor(float)"),
            "source": (source_shape, "tensor(float)"),
        }, name
        outputs = [value.name for value in loaded.session.get_outputs()]
        if name.startswith("hyperswap"):
            assert [value.name for value in loaded.session.get_inputs()] == ["source", "target"]
            assert outputs == ["output", "mask"]
        else:
            assert outputs == ["output"]
        if SWAPPERS[name].converter is not None:
            assert loaded.converter is not None
            assert [value.shape for value in loaded.converter.get_inputs()] == [[1, 512]]


def test_pixel_boost_choices_follow_each_models_side() -> None:
    assert SWAPPERS["inswapper_128"].boost_sizes == (128, 256, 384, 512, 768, 1024)
    assert SWAPPERS["hyperswap_1b_256"].boost_sizes == (256, 512, 768, 1024)
    assert SWAPPERS["simswap_unofficial_512"].boost_sizes == (512, 1024)
    with pytest.raises(
        ValueError, match="pixel_boost for hyperswap_1a_256 must be one of 256, 512, 768, 1024"
    ):
        Quality(swapper="hyperswap_1a_256", pixel_boost=384)
    with pytest.raises(ValueError, match="512, 1024"):
        Quality(swapper="simswap_unofficial_512", pixel_boost=768)


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("inswapper_128", 768),
        ("inswapper_128", 1024),
        ("hyperswap_1c_256", 512),
        ("ghost_3_256", 768),
        ("uniface_256", 1024),
        ("simswap_unofficial_512", 1024),
    ],
)
def test_every_offered_pixel_boost_works_and_keeps_the_face_in_place(
    name: str, size: int, engine: Engine, large: Any
) -> None:
    source, target, _, box = large
    output = decode(engine.swap(source, target, quality=Quality(swapper=name, pixel_boost=size)).image)
    assert pattern_error(output, box) < PLACED


def test_a_pixel_boost_the_default_swapper_does_not_take_is_invalid_input(
    models: FaceModels, settings: Settings, large: Any
) -> None:
    ghost = Engine(models, derive(settings, swapper="ghost_1_256"))
    source, target, _, _ = large
    with pytest.raises(SwapError) as caught:
        ghost.swap(source, target, quality=Quality(pixel_boost=128))
    assert caught.value.code is ErrorCode.INVALID_INPUT
    assert "256, 512, 768, 1024" in caught.value.message


def test_each_familys_source_vector_follows_its_recipe(engine: Engine, large: Any) -> None:
    source, _, _, _ = large
    identity = engine.source_identity(source, 1, portrait=True)
    raw, normed = identity.raw, identity.embedding
    assert raw is not None and np.allclose(normed, raw / np.linalg.norm(raw), atol=1e-6)
    converted = {
        name: (raw / np.linalg.norm(raw)) @ converter_matrix(name) * CONVERTER_GAIN
        for name in ("crossface_ghost", "crossface_simswap")
    }
    expected = {
        "hyperswap_1a_256": normed.reshape(1, -1),
        "ghost_1_256": converted["crossface_ghost"].reshape(1, -1),
        "simswap_256": (converted["crossface_simswap"] / CONVERTER_GAIN).reshape(1, -1),
        "inswapper_128": normalised(normed.reshape(1, -1) @ engine.models.swapper.emap),
    }
    for name, vector in expected.items():
        loaded = engine.swapper(name)
        got = family_of(loaded.model).source_input(identity.identity(), loaded)
        assert got.shape == (1, 512) and got.dtype == np.float32, name
        assert np.allclose(got, vector, atol=1e-5), name
    portrait = family_of(SWAPPERS["uniface_256"]).source_input(
        identity.identity(), engine.swapper("uniface_256")
    )
    assert portrait.shape == (1, 3, 256, 256) and portrait.min() >= 0 and portrait.max() <= 1


def test_identity_strength_is_facefusions_blend() -> None:
    rng = np.random.default_rng(0)
    source, target = rng.normal(size=(1, 512)).astype(np.float32), rng.normal(size=512).astype(np.float32)
    assert balance(source, target, 0.5) is source
    assert weight_shift(0.0) == np.float32(0.35) and weight_shift(1.0) == np.float32(-0.35)
    assert np.allclose(balance(source, target, 0.0), source * 0.65 + target * 0.35)
    assert np.allclose(balance(source, target, 1.0), source * 1.35 - target * 0.35)
    assert np.allclose(balance(source, target, 0.25), source * 0.825 + target * 0.175)
    assert {name for name, family in FAMILIES.items() if family.target_vector is None} == {"uniface"}


def test_weight_one_half_is_the_plain_swap_byte_for_byte(engine: Engine, large: Any) -> None:
    source, target, _, _ = large
    for name in ("inswapper_128", "ghost_1_256"):
        plain = engine.swap(source, target, quality=Quality(swapper=name)).image
        assert engine.swap(source, target, quality=Quality(swapper=name, swapper_weight=0.5)).image == plain


def test_identity_strength_moves_the_swapped_face_monotonically(engine: Engine, large: Any) -> None:
    source, target, frame, _ = large
    own = engine.embed(frame, engine.faces(target, frame)[0])
    wanted = engine.source_identity(source, 1).embedding
    towards_target, towards_source = [], []
    for weight in (0.0, 0.25, 0.5, 0.75, 1.0):
        quality = Quality(swapper="hyperswap_1a_256", swapper_weight=weight)
        output = decode(engine.swap(source, target, quality=quality).image)
        after = engine.embed(output, engine.detect(output, [])[0])
        towards_target.append(float(np.dot(after, own)))
        towards_source.append(float(np.dot(after, wanted)))
    assert towards_target == sorted(towards_target, reverse=True)
    assert len(set(towards_target)) == 5
    assert towards_source[2] > towards_source[0]


def test_several_photos_average_into_one_identity(engine: Engine, large: Any) -> None:
    source, target, _, _ = large
    other = encode_png(draw_faces(640, 480, 1, seed=OTHER_SEED)[0])
    first, second = engine.source_identity(source, 1), engine.source_identity(other, 1)
    averaged = engine.source_identities([source, other], 1, Quality())
    assert np.allclose(averaged.embedding, (first.embedding + second.embedding) / 2)
    assert first.raw is not None and second.raw is not None and averaged.raw is not None
    assert np.allclose(averaged.raw, (first.raw + second.raw) / 2)
    assert engine.source_identities([source], 1, Quality()) is first
    one = engine.swap(source, target)
    assert engine.swap(source, target, extra_sources=[]).image == one.image
    both = engine.swap(source, target, extra_sources=[other])
    assert both.image not in (one.image, engine.swap(other, target).image)


def test_a_source_photo_without_a_face_is_no_face_naming_it(engine: Engine, large: Any) -> None:
    source, target, _, _ = large
    blank = encode_png(np.full((300, 300, 3), 128, np.uint8))
    with pytest.raises(SwapError) as caught:
        engine.swap(source, target, extra_sources=[source, blank])
    assert caught.value.code is ErrorCode.NO_FACE
    assert "source 3 image" in caught.value.message


def test_similarity_after_is_high_when_the_swap_took_and_low_when_it_did_not(
    engine: Engine, large: Any
) -> None:
    source, target, _, _ = large
    for name in ("inswapper_128", "hyperswap_1a_256", "simswap_unofficial_512"):
        result = engine.swap(source, target, quality=Quality(swapper=name, report_similarity=True))
        (swapped,) = result.swapped
        assert swapped.similarity_after is not None and 0.85 < swapped.similarity_after <= 1.0, name
    assert engine.swap(source, target).swapped[0].similarity_after is None
    barely = Quality(report_similarity=True, face_mask=FaceMask(padding=(45.0, 45.0, 45.0, 45.0)))
    (missed,) = engine.swap(source, target, quality=barely).swapped
    assert missed.similarity_after is not None and -1.0 <= missed.similarity_after < 0.5


def test_a_missing_swapper_or_converter_is_model_not_installed_naming_file_and_command(
    models: FaceModels, settings: Settings, tmp_path: Path, large: Any
) -> None:
    write_models(tmp_path)
    (tmp_path / "swappers" / "hyperswap_1b_256.onnx").unlink()
    (tmp_path / "swappers" / "crossface_simswap.onnx").unlink()
    bare = Engine(models, derive(settings, model_dir=tmp_path))
    source, target, _, _ = large
    for name, missing in (("hyperswap_1b_256", "hyperswap_1b_256"), ("simswap_256", "crossface_simswap")):
        with pytest.raises(SwapError) as caught:
            bare.swap(source, target, quality=Quality(swapper=name))
        assert caught.value.code is ErrorCode.MODEL_NOT_INSTALLED and caught.value.status == 422
        assert f"swappers/{missing}.onnx" in caught.value.message
        assert f"python -m faceswap.models download --with {missing}" in caught.value.message
    assert bare.swap(source, target, quality=Quality(swapper="ghost_1_256")).image


@pytest.fixture(scope="module")
def ghost_url(settings: Settings) -> Iterator[str]:
    with app_in_thread(create_app(derive(settings, swapper="ghost_1_256"))) as url:
        wait_ready(url)
        yield url


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_the_deployment_default_swapper_serves_every_request_and_is_reported(
    ghost_url: str, engine: Engine, large: Any
) -> None:
    source, target, _, _ = large
    health = httpx.get(f"{ghost_url}/health", timeout=10).json()
    assert health["status"] == "ready" and health["swapper"] == "ghost_1_256"
    body = {"source_image": b64(source), "target_image": b64(target), "report_similarity": True}
    response = httpx.post(f"{ghost_url}/swap", json=body, timeout=60)
    assert response.status_code == 200, response.text
    expected = engine.swap(source, target, quality=Quality(swapper="ghost_1_256")).image
    assert np.array_equal(decode(base64.b64decode(response.json()["image_base64"])), decode(expected))
    assert 0.85 < response.json()["swapped"][0]["similarity_after"] <= 1.0
    listing = httpx.get(f"{ghost_url}/models", timeout=30).json()
    assert listing["default_swapper"] == "ghost_1_256"
    entries = {entry["name"]: entry for entry in listing["models"]}
    assert entries["ghost_1_256"]["loaded"] and entries["crossface_ghost"]["loaded"]
    assert not entries["uniface_256"]["loaded"]


def test_get_models_lists_every_model_with_its_licence(ghost_url: str) -> None:
    listing = httpx.get(f"{ghost_url}/models", timeout=30).json()
    entries = {entry["name"]: entry for entry in listing["models"]}
    assert set(SWAPPER_NAMES) | {"crossface_ghost", "crossface_simswap", "det_10g", "w600k_r50"} <= set(
        entries
    )
    assert all(entry["licence"] and entry["size"] for entry in entries.values())
    assert all(
        entries[name]["installed"] for name in (*SWAPPER_NAMES, "crossface_ghost", "crossface_simswap")
    )
    assert {"nsfw_1", "nsfw_2", "nsfw_3"} <= set(entries)
    assert entries["inswapper_128"]["commercial_use"] == "no" and entries["inswapper_128"]["core"]
    assert entries["w600k_r50"]["commercial_use"] == "no"
    assert entries["simswap_256"]["commercial_use"] == "no"
    assert entries["ghost_2_256"]["commercial_use"] == "yes"
    assert entries["hyperswap_1a_256"]["commercial_use"] == "unclear"
    assert entries["hyperswap_1a_256"]["verification"] == "sha256"
    assert entries["ghost_1_256"]["verification"] == "crc32"
    assert entries["uniface_256"]["verification"] == "structure"
    assert "non-commercial" in listing["notice"]


def test_a_missing_default_swapper_fails_health_naming_file_and_command(
    settings: Settings, tmp_path: Path
) -> None:
    write_models(tmp_path)
    (tmp_path / "swappers" / "crossface_ghost.onnx").unlink()
    with app_in_thread(create_app(derive(settings, model_dir=tmp_path, swapper="ghost_2_256"))) as url:
        for _ in range(200):
            health = httpx.get(f"{url}/health", timeout=10)
            if health.json()["status"] == "failed":
                break
        assert health.status_code == 503
        reason = health.json()["reason"]
        assert "swappers/crossface_ghost.onnx" in reason
        assert "python -m faceswap.models download --with crossface_ghost" in reason
        assert str(tmp_path) not in reason


def test_every_entry_point_takes_several_source_photos(ghost_url: str, engine: Engine, large: Any) -> None:
    source, target, _, _ = large
    other = encode_png(draw_faces(640, 480, 1, seed=OTHER_SEED)[0])
    quality = Quality(swapper="hyperswap_1a_256")
    expected = decode(engine.swap(source, target, quality=quality, extra_sources=[other]).image)
    body = {
        "source_images": [b64(source), b64(other)],
        "target_image": b64(target),
        "swapper": "hyperswap_1a_256",
    }
    response = httpx.post(f"{ghost_url}/swap", json=body, timeout=60)
    assert response.status_code == 200, response.text
    assert np.array_equal(decode(base64.b64decode(response.json()["image_base64"])), expected)
    files = [
        ("source", ("a.png", source, "image/png")),
        ("source", ("b.png", other, "image/png")),
        ("target", ("t.png", target, "image/png")),
    ]
    response = httpx.post(
        f"{ghost_url}/swap/upload", files=files, data={"swapper": "hyperswap_1a_256"}, timeout=60
    )
    assert response.status_code == 200, response.text
    assert np.array_equal(decode(base64.b64decode(response.json()["image_base64"])), expected)
    response = httpx.post(f"{ghost_url}/runsync", json={"input": body}, timeout=60)
    assert np.array_equal(decode(base64.b64decode(response.json()["output"]["image_base64"])), expected)
    single = {**body, "source_images": [b64(source)]}
    response = httpx.post(f"{ghost_url}/swap", json=single, timeout=60)
    plain = decode(engine.swap(source, target, quality=quality).image)
    assert np.array_equal(decode(base64.b64decode(response.json()["image_base64"])), plain)


@pytest.mark.parametrize(
    "fields",
    [
        {"swapper": "roop_128"},
        {"swapper": "hyperswap_1a_256", "pixel_boost": 128},
        {"swapper": "simswap_unofficial_512", "pixel_boost": 768},
        {"swapper_weight": 1.5},
        {"report_similarity": "maybe"},
        {"source_images": []},
        {"source_images": ["aGk="] * 9},
        {"source_urls": ["https://example.com/a.jpg"]},
    ],
)
def test_an_invalid_swapper_field_is_invalid_input(
    fields: dict[str, Any], ghost_url: str, large: Any
) -> None:
    source, target, _, _ = large
    body = {"source_image": b64(source), "target_image": b64(target), **fields}
    response = httpx.post(f"{ghost_url}/swap", json=body, timeout=60)
    assert response.status_code == 422 and response.json()["error_code"] == "INVALID_INPUT", response.text


def test_the_schema_offers_every_swapper_with_a_description(ghost_url: str) -> None:
    assert get_args(SwapperName) == SWAPPER_NAMES
    schema = httpx.get(f"{ghost_url}/openapi.json", timeout=10).json()
    components = schema["components"]["schemas"]
    fields = components["SwapInput"]["properties"]
    for name in (
        "swapper",
        "swapper_weight",
        "report_similarity",
        "source_urls",
        "source_images",
        "pixel_boost",
    ):
        assert fields[name]["description"], name
    choices = next(option["enum"] for option in fields["swapper"]["anyOf"] if "enum" in option)
    assert tuple(choices) == SWAPPER_NAMES
    assert components["SwappedFace"]["properties"]["similarity_after"]["description"]
    upload = next(name for name in components if name.startswith("Body_swap_upload"))
    assert {"swapper", "swapper_weight", "report_similarity"} <= set(components[upload]["properties"])
    assert components["ModelEntry"]["properties"]["commercial_use"]["description"]


def test_a_clip_reports_the_mean_and_minimum_similarity_over_its_frames(
    engine: Engine, large: Any, tmp_path: Path
) -> None:
    source, _, _, _ = large
    clip = tmp_path / "clip.mp4"
    write_clip(clip, frames=8, faces=1, audio=False, size=(320, 240))
    quality = Quality(swapper="hyperswap_1b_256", report_similarity=True)
    identity = engine.source_identities([source], 1, quality)
    limits = VideoLimits(seconds=60, frames=100, pixels=1920 * 1080)
    result = swap_video(engine, identity, clip, tmp_path / "out.mp4", limits, quality=quality)
    assert result.swapped_frames > 0 and len(result.similarities) == result.swapped_frames
    summary = result.similarity_after
    assert summary is not None and -1.0 <= summary["min"] <= summary["mean"] <= 1.0
    plain = swap_video(engine, identity, clip, tmp_path / "plain.mp4", limits)
    assert plain.similarity_after is None


def job_result(base_url: str, body: dict[str, Any]) -> dict[str, Any]:
    started = httpx.post(f"{base_url}/jobs", json=body, timeout=30)
    assert started.status_code == 202, started.text
    for _ in range(600):
        job = httpx.get(f"{base_url}/jobs/{started.json()['id']}", timeout=10).json()
        if job["status"] in ("succeeded", "failed"):
            assert job["status"] == "succeeded", job
            return dict(job["result"])
        time.sleep(0.1)
    raise AssertionError("the job did not finish")


def test_photo_and_clip_jobs_take_the_swapper_fields(
    ghost_url: str, engine: Engine, large: Any, tmp_path: Path
) -> None:
    source, target, _, _ = large
    other = encode_png(draw_faces(640, 480, 1, seed=OTHER_SEED)[0])
    fields = {"swapper": "hyperswap_1a_256", "swapper_weight": 0.7, "report_similarity": True}
    photo = job_result(
        ghost_url, {"source_images": [b64(source), b64(other)], "target_image": b64(target), **fields}
    )
    quality = Quality(swapper="hyperswap_1a_256", swapper_weight=0.7)
    expected = decode(engine.swap(source, target, quality=quality, extra_sources=[other]).image)
    assert np.array_equal(decode(base64.b64decode(photo["base64"])), expected)
    (after,) = photo["similarity_after"]
    assert -1.0 <= after <= 1.0
    clip = tmp_path / "clip.mp4"
    write_clip(clip, frames=6, faces=1, audio=False, size=(320, 240))
    video = job_result(
        ghost_url, {"source_image": b64(source), "target_video": b64(clip.read_bytes()), **fields}
    )
    assert video["kind"] == "video" and set(video["similarity_after"]) == {"mean", "min"}


def test_the_slot_check_knows_a_swapper_by_its_contract_with_fixed_or_symbolic_sides() -> None:
    hyperswap = GraphSummary(((1, 512), (1, 3, 256, 256)), ((1, 3, 256, 256), (1, 1, 256, 256)), None)
    assert swapper_crop(hyperswap) == 256
    assert (
        swapper_crop(GraphSummary(((None, 3, None, None), (None, 512)), ((None, 3, None, None),), None)) == 0
    )
    assert swapper_crop(GraphSummary(((1, 3, 256, 256), (1, 3, 256, 256)), ((1, 3, 256, 256),), None)) == 256
    assert swapper_crop(GraphSummary(((1, 3, 512, 512), (1, 512)), ((1, 3, 256, 256),), None)) is None
    assert swapper_crop(GraphSummary(((1, 3, 512, 512), (1,)), ((1, 3, 512, 512),), None)) is None
