"""The service through FastAPI's TestClient, as the deployment notes test it: no server, no network."""

import base64
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from faceswap.config import Settings
from faceswap.http.app import create_app
from faceswap.models.registry import SYNTHETIC_NOTICE


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        deadline = time.monotonic() + 60
        while test_client.get("/health").status_code != 200:
            assert time.monotonic() < deadline, "models not ready within 60 s"
            time.sleep(0.1)
        yield test_client


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_health_says_ready_and_that_the_models_are_synthetic(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["warning"] == SYNTHETIC_NOTICE


def test_swap_returns_the_image_in_the_target_s_size(
    client: TestClient, one_face_png: bytes, two_faces_png: bytes
) -> None:
    body = {"source_image": b64(one_face_png), "target_image": b64(two_faces_png), "target_index": 2}
    response = client.post("/swap", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["success"] is True and result["format"] == "png"
    assert (result["source_faces"], result["target_faces"]) == (1, 2)
    assert base64.b64decode(result["image_base64"]).startswith(b"\x89PNG\r\n\x1a\n")
    assert response.headers["x-request-id"] == result["request_id"]


def test_runsync_wraps_the_swap_in_runpods_envelope(
    client: TestClient, one_face_png: bytes, two_faces_png: bytes
) -> None:
    envelope = {"input": {"source_image": b64(one_face_png), "target_image": b64(two_faces_png)}}
    response = client.post("/runsync", json=envelope)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == "COMPLETED"
    assert result["output"]["success"] is True
    assert result["output"]["swapped"] == [{"source_index": 1, "target_index": 1, "similarity": None}]


def test_an_index_out_of_range_is_the_contracts_error(
    client: TestClient, one_face_png: bytes, two_faces_png: bytes
) -> None:
    body = {"source_image": b64(one_face_png), "target_image": b64(two_faces_png), "target_index": 3}
    response = client.post("/swap", json=body)
    assert response.status_code == 422
    error = response.json()
    assert error["success"] is False and error["error_code"] == "FACE_INDEX_OUT_OF_RANGE"
    assert "2 faces" in error["message"]
