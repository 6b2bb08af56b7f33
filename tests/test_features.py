"""Face listing, many-to-many swaps, reference selection, uploads, labels and metrics, through real HTTP."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from faceswap.config import Settings
from faceswap.http.app import create_app
from faceswap.pipeline.labels import DIGITAL_SOURCE_TYPE, read_label
from faceswap.testing.synthetic import BACKGROUND_BGR, draw_faces, place_faces
from tests.conftest import derive, encode_png
from tests.servers import app_in_thread, wait_ready

TARGET_BOXES = [(60, 150, 220, 350), (360, 120, 520, 320), (660, 170, 820, 370)]
TARGET_IDENTITIES = [101, 202, 303]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def portrait(identity: int) -> bytes:
    canvas = np.full((480, 640, 3), BACKGROUND_BGR, np.uint8)
    return encode_png(place_faces(canvas, [(240, 120, 400, 320)], [identity]))


@pytest.fixture(scope="module")
def target() -> np.ndarray:
    return place_faces(np.full((500, 900, 3), BACKGROUND_BGR, np.uint8), TARGET_BOXES, TARGET_IDENTITIES)


@pytest.fixture(scope="module")
def base_url(settings: Settings) -> Iterator[str]:
    with app_in_thread(create_app(derive(settings, metrics_public=True))) as url:
        wait_ready(url)
        yield url


def swap(base_url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{base_url}/swap", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def changed_boxes(before: np.ndarray, after: np.ndarray) -> list[bool]:
    changed = np.abs(before.astype(int) - after.astype(int)).max(axis=2) > 0
    return [
        bool(changed[y1 + 40 : y2 - 40, x1 + 30 : x2 - 30].mean() > 0.9) for x1, y1, x2, y2 in TARGET_BOXES
    ]


def outside_boxes_unchanged(before: np.ndarray, after: np.ndarray, margin: float = 0.12) -> bool:
    changed = np.abs(before.astype(int) - after.astype(int)).max(axis=2) > 0
    for x1, y1, x2, y2 in TARGET_BOXES:
        mx, my = int((x2 - x1) * margin), int((y2 - y1) * margin)
        changed[max(0, y1 - my) : y2 + my, max(0, x1 - mx) : x2 + mx] = False
    return not changed.any()


def test_faces_lists_the_drawn_faces_in_order(base_url: str, target: np.ndarray) -> None:
    response = httpx.post(
        f"{base_url}/faces", json={"image": b64(encode_png(target)), "preview": True}, timeout=30
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["width"], body["height"]) == (900, 500)
    assert [face["index"] for face in body["faces"]] == [1, 2, 3]
    for face, box in zip(body["faces"], TARGET_BOXES, strict=True):
        assert np.allclose(face["bbox"], box, atol=4), (face["bbox"], box)
        assert len(face["kps"]) == 5 and 0 < face["score"] <= 1
    preview = decode(base64.b64decode(body["preview_base64"]))
    assert max(preview.shape[:2]) == 512


def test_faces_coordinates_are_in_the_downscaled_image(base_url: str) -> None:
    large = encode_png(draw_faces(2048, 1024, 2)[0])
    body = httpx.post(f"{base_url}/faces", json={"image": b64(large)}, timeout=30).json()
    assert (body["width"], body["height"]) == (1024, 512)
    assert all(face["bbox"][2] <= 1024 for face in body["faces"])


def test_faces_through_the_runpod_envelope(base_url: str, target: np.ndarray) -> None:
    body = {"input": {"action": "faces", "image": b64(encode_png(target))}}
    response = httpx.post(f"{base_url}/runsync", json=body, timeout=30)
    assert response.json()["output"]["faces"][2]["index"] == 3


def test_target_index_all_changes_every_face_and_nothing_else(base_url: str, target: np.ndarray) -> None:
    body = swap(
        base_url,
        {"source_image": b64(portrait(7)), "target_image": b64(encode_png(target)), "target_index": "all"},
    )
    output = decode(base64.b64decode(body["image_base64"]))
    assert changed_boxes(target, output) == [True, True, True]
    assert outside_boxes_unchanged(target, output)
    assert [item["target_index"] for item in body["swapped"]] == [1, 2, 3]


def test_several_pairs_in_one_pass(base_url: str, target: np.ndarray) -> None:
    source = encode_png(draw_faces(900, 500, 2, seed=30)[0])
    body = swap(
        base_url,
        {
            "source_image": b64(source),
            "target_image": b64(encode_png(target)),
            "swaps": [{"source_index": 2, "target_index": 3}, {"source_index": 1, "target_index": 1}],
        },
    )
    output = decode(base64.b64decode(body["image_base64"]))
    assert changed_boxes(target, output) == [True, False, True]
    assert [(s["source_index"], s["target_index"]) for s in body["swapped"]] == [(2, 3), (1, 1)]


def test_a_pair_out_of_range_names_the_count(base_url: str, target: np.ndarray) -> None:
    response = httpx.post(
        f"{base_url}/swap",
        json={
            "source_image": b64(portrait(7)),
            "target_image": b64(encode_png(target)),
            "swaps": [{"source_index": 1, "target_index": 4}],
        },
        timeout=30,
    )
    assert response.status_code == 422
    assert "the target image has 3 faces" in response.json()["message"]


def test_reference_selects_the_matching_face(base_url: str, target: np.ndarray) -> None:
    body = swap(
        base_url,
        {
            "source_image": b64(portrait(7)),
            "target_image": b64(encode_png(target)),
            "target_reference_image": b64(portrait(202)),
        },
    )
    assert body["swapped"][0]["target_index"] == 2
    assert body["swapped"][0]["similarity"] > 0.9
    output = decode(base64.b64decode(body["image_base64"]))
    assert changed_boxes(target, output) == [False, True, False]


def test_reference_below_the_threshold_is_no_face(base_url: str, target: np.ndarray) -> None:
    response = httpx.post(
        f"{base_url}/swap",
        json={
            "source_image": b64(portrait(7)),
            "target_image": b64(encode_png(target)),
            "target_reference_image": b64(portrait(999)),
            "min_similarity": 0.99,
        },
        timeout=30,
    )
    assert response.status_code == 422
    assert response.json()["error_code"] == "NO_FACE"
    assert "threshold 0.99" in response.json()["message"]


def test_multipart_upload_returns_the_same_pixels_as_swap(base_url: str, target: np.ndarray) -> None:
    source, target_png = portrait(7), encode_png(target)
    files = {"source": ("a.png", source, "image/png"), "target": ("b.png", target_png, "image/png")}
    raw = httpx.post(
        f"{base_url}/swap/upload",
        files=files,
        data={"target_index": "2"},
        headers={"Accept": "image/*"},
        timeout=60,
    )
    assert raw.status_code == 200, raw.text
    assert raw.headers["content-type"] == "image/png"
    assert raw.headers["x-request-id"]
    as_json = swap(
        base_url, {"source_image": b64(source), "target_image": b64(target_png), "target_index": 2}
    )
    assert np.array_equal(decode(raw.content), decode(base64.b64decode(as_json["image_base64"])))
    json_reply = httpx.post(f"{base_url}/swap/upload", files=files, data={"target_index": "all"}, timeout=60)
    assert json_reply.json()["target_faces"] == 3 and len(json_reply.json()["swapped"]) == 3


def test_multipart_upload_errors_use_the_contract(base_url: str) -> None:
    files = {"source": ("a.png", b"not an image", "image/png"), "target": ("b.png", portrait(1), "image/png")}
    response = httpx.post(f"{base_url}/swap/upload", files=files, timeout=30)
    assert (response.status_code, response.json()["error_code"]) == (400, "INVALID_IMAGE")
    bad_index = httpx.post(f"{base_url}/swap/upload", files=files, data={"target_index": "first"}, timeout=30)
    assert (bad_index.status_code, bad_index.json()["error_code"]) == (422, "INVALID_INPUT")


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_outputs_are_labelled_as_ai_altered(base_url: str, fmt: str) -> None:
    body = swap(
        base_url, {"source_image": b64(portrait(7)), "target_image": b64(portrait(8)), "output_format": fmt}
    )
    assert read_label(base64.b64decode(body["image_base64"])) == DIGITAL_SOURCE_TYPE


def test_labels_can_be_switched_off(settings: Settings) -> None:
    with app_in_thread(create_app(derive(settings, label_outputs=False))) as url:
        wait_ready(url)
        body = swap(url, {"source_image": b64(portrait(7)), "target_image": b64(portrait(8))})
        assert read_label(base64.b64decode(body["image_base64"])) is None


def _metric(text: str, name: str, labels: str) -> float:
    match = re.search(rf"^{re.escape(name)}{{{re.escape(labels)}}} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_metrics_move_as_requests_are_made(base_url: str) -> None:
    before = httpx.get(f"{base_url}/metrics").text
    swap(base_url, {"source_image": b64(portrait(7)), "target_image": b64(portrait(8))})
    httpx.post(f"{base_url}/swap", json={"source_image": b64(portrait(7))}, timeout=30)
    after = httpx.get(f"{base_url}/metrics").text
    ok = 'code="ok",route="/swap"'
    invalid = 'code="INVALID_INPUT",route="/swap"'
    assert _metric(after, "faceswap_requests_total", ok) == _metric(before, "faceswap_requests_total", ok) + 1
    assert (
        _metric(after, "faceswap_requests_total", invalid)
        == _metric(before, "faceswap_requests_total", invalid) + 1
    )
    assert _metric(after, "faceswap_stage_seconds_count", 'stage="swap"') > 0
    assert _metric(after, "faceswap_model_state", 'state="ready"') == 1.0
    assert 'faceswap_cache_misses{cache="embeddings"}' in after
    assert "faceswap_queue_waiting" in after


def test_metrics_need_the_key_unless_public(settings: Settings) -> None:
    with app_in_thread(create_app(derive(settings, api_key="k3y"))) as url:
        assert httpx.get(f"{url}/metrics").status_code == 401
        assert httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer k3y"}).status_code == 200
