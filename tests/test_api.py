"""End to end through real HTTP: a real uvicorn and a real image host, both on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from faceswap.config import Settings
from faceswap.http.app import create_app
from faceswap.lifecycle import ModelLifecycle
from faceswap.models.loader import load_models
from faceswap.testing.synthetic import draw_faces
from tests.conftest import derive, encode_png
from tests.servers import ImageHost, app_in_thread, wait_ready, wait_until

INTERNALS = ("Traceback", "127.0.0.1", "onnxruntime", "site-packages", 'File "', "/tmp", "Errno")


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["error_code"] == code
    assert body["request_id"] == response.headers["x-request-id"]
    assert body["message"].endswith(".")
    for marker in INTERNALS:
        assert marker not in body["message"], body["message"]
    return body


def decode_b64(text: str) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(base64.b64decode(text), np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


@pytest.fixture(scope="module")
def host() -> Iterator[ImageHost]:
    image_host = ImageHost()
    yield image_host
    image_host.close()


def serve(app_settings: Settings, **kwargs: Any) -> Any:
    """A context manager running create_app(app_settings) under uvicorn, ready."""
    return app_in_thread(create_app(app_settings, **kwargs))


@pytest.fixture(scope="module")
def base_url(settings: Settings) -> Iterator[str]:
    with serve(settings) as url:
        wait_ready(url)
        yield url


@pytest.fixture(scope="module")
def images(host: ImageHost) -> dict[str, str]:
    return {
        "one": host.serve("/one.png", encode_png(draw_faces(640, 480, 1, seed=1)[0])),
        "two_large": host.serve("/two.png", encode_png(draw_faces(2000, 1000, 2, seed=2)[0])),
        "none": host.serve("/none.png", encode_png(draw_faces(640, 480, 0)[0])),
        "text": host.serve("/text.png", b"<html>not an image</html>", content_type="image/png"),
    }


def test_runsync_with_the_web_clients_exact_body(base_url: str, images: dict[str, str]) -> None:
    body = {
        "input": {
            "source_url": images["one"],
            "target_url": images["two_large"],
            "source_index": 1,
            "target_index": 2,
        }
    }
    response = httpx.post(
        f"{base_url}/runsync", json=body, headers={"Authorization": "Bearer anything"}, timeout=60
    )
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["status"] == "COMPLETED"
    output = payload["output"]
    assert output["success"] is True
    assert output["message"] == "ok"
    assert (output["width"], output["height"], output["format"]) == (1024, 512, "png")
    assert (output["source_faces"], output["target_faces"]) == (1, 2)
    assert set(output["timings_ms"]) >= {"fetch", "decode", "detect", "swap", "encode"}
    assert base64.b64decode(output["image_base64"]).startswith(b"\x89PNG")
    assert decode_b64(output["image_base64"]).shape == (512, 1024, 3)


@pytest.mark.parametrize("prefix", ["", "data:image/png;base64,"])
def test_swap_with_base64_images(
    base_url: str, one_face_png: bytes, two_faces_png: bytes, prefix: str
) -> None:
    body = {
        "source_image": prefix + base64.b64encode(one_face_png).decode(),
        "target_image": prefix + base64.b64encode(two_faces_png).decode(),
        "target_index": 2,
        "output_format": "jpeg",
    }
    response = httpx.post(f"{base_url}/swap", json=body, timeout=60)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["success"] is True and payload["format"] == "jpeg"
    assert payload["request_id"] == response.headers["x-request-id"]
    assert decode_b64(payload["image_base64"]).shape == (600, 800, 3)


def test_incoming_request_id_is_honoured(base_url: str, images: dict[str, str]) -> None:
    response = httpx.post(
        f"{base_url}/swap",
        json={"source_url": images["one"]},
        headers={"X-Request-ID": "client-42"},
        timeout=30,
    )
    assert response.headers["x-request-id"] == "client-42"
    assert response.json()["request_id"] == "client-42"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("neither source", {"target_url": "http://example.com/a.png"}),
        (
            "both source",
            {
                "source_url": "http://example.com/a.png",
                "source_image": "aGVsbG8=",
                "target_url": "http://example.com/b.png",
            },
        ),
        ("bad base64", {"source_image": "not base64!!", "target_url": "http://example.com/b.png"}),
        (
            "index zero",
            {
                "source_url": "http://example.com/a.png",
                "target_url": "http://example.com/b.png",
                "target_index": 0,
            },
        ),
        (
            "index text",
            {
                "source_url": "http://example.com/a.png",
                "target_url": "http://example.com/b.png",
                "source_index": "first",
            },
        ),
        (
            "unknown field",
            {"source_url": "http://example.com/a.png", "target_url": "http://example.com/b.png", "sauce": 1},
        ),
        (
            "bad format",
            {
                "source_url": "http://example.com/a.png",
                "target_url": "http://example.com/b.png",
                "output_format": "gif",
            },
        ),
    ],
)
def test_invalid_input(base_url: str, name: str, body: dict[str, Any]) -> None:
    response = httpx.post(f"{base_url}/swap", json=body, timeout=30)
    message = assert_error(response, 422, "INVALID_INPUT")["message"]
    assert len(message) < 300


def test_malformed_json_is_invalid_input(base_url: str) -> None:
    response = httpx.post(
        f"{base_url}/swap", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert "JSON" in assert_error(response, 422, "INVALID_INPUT")["message"]


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        ("file:///etc/passwd", 400, "URL_NOT_ALLOWED"),
        ("http://user:secret@127.0.0.1/one.png", 400, "URL_NOT_ALLOWED"),
        ("ftp://127.0.0.1/one.png", 400, "URL_NOT_ALLOWED"),
    ],
)
def test_refused_urls(base_url: str, images: dict[str, str], url: str, status: int, code: str) -> None:
    response = httpx.post(
        f"{base_url}/swap", json={"source_url": url, "target_url": images["one"]}, timeout=30
    )
    assert_error(response, status, code)


def test_missing_image_is_fetch_failed(base_url: str, host: ImageHost, images: dict[str, str]) -> None:
    response = httpx.post(
        f"{base_url}/swap", json={"source_url": images["one"], "target_url": host.url("/gone")}, timeout=30
    )
    assert "target" in assert_error(response, 502, "FETCH_FAILED")["message"]


def test_non_image_is_invalid_image(base_url: str, images: dict[str, str]) -> None:
    response = httpx.post(
        f"{base_url}/swap", json={"source_url": images["text"], "target_url": images["one"]}, timeout=30
    )
    assert_error(response, 400, "INVALID_IMAGE")


def test_no_face_says_which_image(base_url: str, images: dict[str, str]) -> None:
    response = httpx.post(
        f"{base_url}/swap", json={"source_url": images["one"], "target_url": images["none"]}, timeout=30
    )
    assert "target" in assert_error(response, 422, "NO_FACE")["message"]


def test_index_out_of_range_gives_the_count(base_url: str, images: dict[str, str]) -> None:
    body = {"source_url": images["one"], "target_url": images["two_large"], "target_index": 3}
    response = httpx.post(f"{base_url}/swap", json=body, timeout=30)
    message = assert_error(response, 422, "FACE_INDEX_OUT_OF_RANGE")["message"]
    assert "target_index 3 is out of range: the target image has 2 faces" in message


def test_runsync_request_failures_answer_200_with_the_message(base_url: str, images: dict[str, str]) -> None:
    body = {"input": {"source_url": images["one"], "target_url": images["none"]}}
    response = httpx.post(f"{base_url}/runsync", json=body, timeout=30)
    assert response.status_code == 200
    payload = response.json()
    assert payload["status"] == "COMPLETED"
    assert payload["output"]["success"] is False
    assert payload["output"]["error_code"] == "NO_FACE"
    assert "face" in payload["output"]["message"]


def test_runsync_invalid_input_is_in_the_envelope(base_url: str) -> None:
    response = httpx.post(f"{base_url}/runsync", json={"input": {"source_index": 1}}, timeout=30)
    assert response.status_code == 200
    assert response.json()["output"]["error_code"] == "INVALID_INPUT"


def test_runsync_body_too_large_keeps_413(settings: Settings) -> None:
    small = derive(settings, max_body_bytes=4096)
    with serve(small) as url:
        response = httpx.post(f"{url}/runsync", json={"input": {"source_image": "A" * 10_000}}, timeout=30)
        assert response.status_code == 413
        payload = response.json()
        assert payload["status"] == "FAILED"
        assert payload["output"]["error_code"] == "IMAGE_TOO_LARGE"
        chunked = httpx.post(
            f"{url}/swap",
            content=iter([b"{" + b" " * 3000, b" " * 3000 + b"}"]),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        assert_error(chunked, 413, "IMAGE_TOO_LARGE")


def test_download_over_the_byte_limit_is_image_too_large(
    settings: Settings, host: ImageHost, images: dict[str, str]
) -> None:
    small = derive(settings, max_download_bytes=2048)
    with serve(small) as url:
        wait_ready(url)
        response = httpx.post(
            f"{url}/swap", json={"source_url": images["one"], "target_url": images["one"]}, timeout=30
        )
        assert_error(response, 413, "IMAGE_TOO_LARGE")


def test_image_over_the_pixel_limit_is_image_too_large(settings: Settings, images: dict[str, str]) -> None:
    small = derive(settings, max_pixels=100_000)
    with serve(small) as url:
        wait_ready(url)
        response = httpx.post(
            f"{url}/runsync",
            json={"input": {"source_url": images["two_large"], "target_url": images["one"]}},
            timeout=30,
        )
        assert response.status_code == 413
        assert response.json()["output"]["error_code"] == "IMAGE_TOO_LARGE"


def test_slow_image_host_is_fetch_timeout(settings: Settings, host: ImageHost, one_face_png: bytes) -> None:
    slow_url = host.serve("/slow.png", one_face_png, delay=3.0)
    quick = derive(settings, fetch_timeout=0.5)
    with serve(quick) as url:
        wait_ready(url)
        response = httpx.post(
            f"{url}/swap", json={"source_url": slow_url, "target_url": slow_url}, timeout=30
        )
        assert_error(response, 504, "FETCH_TIMEOUT")


def test_api_key_is_required_when_set(settings: Settings, one_face_png: bytes) -> None:
    keyed = derive(settings, api_key="s3cret-key")
    body = {"source_image": _b64(one_face_png), "target_image": _b64(one_face_png)}
    with serve(keyed) as url:
        wait_ready(url)
        missing = httpx.post(f"{url}/swap", json=body, timeout=30)
        assert_error(missing, 401, "UNAUTHORIZED")
        assert missing.headers["www-authenticate"].startswith("Bearer")
        wrong = httpx.post(f"{url}/runsync", json={"input": body}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert wrong.json()["status"] == "FAILED"
        assert (
            httpx.post(
                f"{url}/swap", json=body, headers={"Authorization": "Bearer s3cret-key"}, timeout=60
            ).status_code
            == 200
        )
        assert (
            httpx.post(f"{url}/swap", json=body, headers={"X-API-Key": "s3cret-key"}, timeout=60).status_code
            == 200
        )
        assert httpx.get(f"{url}/health").status_code == 200
        assert httpx.get(f"{url}/ping").status_code == 200


def test_health_and_ping_move_from_loading_to_ready(settings: Settings, one_face_png: bytes) -> None:
    release = threading.Event()

    def gated_loader(app_settings: Settings) -> Any:
        release.wait(30)
        return load_models(app_settings)

    lifecycle = ModelLifecycle(settings, loader=gated_loader)
    body = {"input": {"source_image": _b64(one_face_png), "target_image": _b64(one_face_png)}}
    with serve(settings, lifecycle=lifecycle) as url:
        health = httpx.get(f"{url}/health")
        assert (health.status_code, health.json()["status"]) == (503, "loading")
        assert httpx.get(f"{url}/ping").status_code == 204
        loading = httpx.post(f"{url}/runsync", json=body, timeout=30)
        assert loading.status_code == 503
        assert loading.json()["output"]["error_code"] == "NOT_READY"
        assert int(loading.headers["retry-after"]) > 0
        release.set()
        wait_ready(url)
        assert httpx.get(f"{url}/ping").status_code == 200
        assert httpx.post(f"{url}/runsync", json=body, timeout=60).json()["output"]["success"] is True


def test_a_broken_model_pack_leaves_the_server_up_and_says_why(
    settings: Settings, tmp_path: Path, one_face_png: bytes
) -> None:
    from faceswap.testing.synthetic import write_models

    write_models(tmp_path)
    swapper = tmp_path / "inswapper_128.onnx"
    swapper.write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 554253681\n"
    )
    broken = derive(settings, model_dir=tmp_path, model_load_retries=0)
    with serve(broken) as url:
        wait_until(lambda: httpx.get(f"{url}/health").json()["status"] == "failed", 30)
        health = httpx.get(f"{url}/health")
        assert health.status_code == 503
        reason = health.json()["reason"]
        assert "inswapper_128.onnx" in reason and "LFS" in reason
        assert "download" in reason or "git lfs pull" in reason
        assert httpx.get(f"{url}/ping").status_code == 503
        response = httpx.post(
            f"{url}/swap",
            json={"source_image": _b64(one_face_png), "target_image": _b64(one_face_png)},
            timeout=30,
        )
        message = assert_error(response, 503, "NOT_READY")["message"]
        assert "inswapper_128.onnx" in message and "$FACESWAP_MODEL_DIR" in message


def test_out_of_memory_and_internal_errors(settings: Settings, one_face_png: bytes) -> None:
    body = {"source_image": _b64(one_face_png), "target_image": _b64(one_face_png)}
    faulty = derive(settings, failpoints="swap_oom:2,crash:1")
    with serve(faulty) as url:
        wait_ready(url)
        assert_error(httpx.post(f"{url}/swap", json=body, timeout=60), 500, "INTERNAL")
        response = httpx.post(f"{url}/swap", json=body, timeout=60)
        assert "out of memory" in assert_error(response, 503, "OUT_OF_MEMORY")["message"]
        assert httpx.post(f"{url}/swap", json=body, timeout=60).status_code == 200


def test_slow_processing_hits_the_request_deadline(settings: Settings, one_face_png: bytes) -> None:
    body = {"source_image": _b64(one_face_png), "target_image": _b64(one_face_png)}
    slow = derive(settings, failpoints="slow_swap:1.5", request_timeout=0.5)
    with serve(slow) as url:
        wait_ready(url)
        assert_error(httpx.post(f"{url}/swap", json=body, timeout=60), 504, "TIMEOUT")


def test_ten_simultaneous_requests_get_successes_or_busy(settings: Settings, one_face_png: bytes) -> None:
    body = {"source_image": _b64(one_face_png), "target_image": _b64(one_face_png)}
    limited = derive(settings, max_concurrency=1, max_queue=2, failpoints="slow_swap:0.3")

    async def burst(url: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            return await asyncio.gather(*(client.post(f"{url}/swap", json=body) for _ in range(10)))

    with serve(limited) as url:
        wait_ready(url)
        responses = asyncio.run(burst(url))
        statuses = sorted(response.status_code for response in responses)
        assert set(statuses) <= {200, 503}
        assert 1 <= statuses.count(200) <= 3 + 2
        for response in responses:
            if response.status_code == 503:
                assert_error(response, 503, "BUSY")
                assert int(response.headers["retry-after"]) > 0
        assert httpx.get(f"{url}/health").status_code == 200
        assert httpx.post(f"{url}/swap", json=body, timeout=60).status_code == 200


def test_busy_is_answered_before_any_download(
    settings: Settings, host: ImageHost, one_face_png: bytes
) -> None:
    slow_url = host.serve("/slow-busy.png", one_face_png, delay=1.5)
    tight = derive(settings, max_concurrency=1, max_queue=0)
    body = {"source_url": slow_url, "target_url": slow_url}
    with serve(tight) as url:
        wait_ready(url)
        hits_before = host.hits.count("/slow-busy.png")
        first = threading.Thread(target=lambda: httpx.post(f"{url}/swap", json=body, timeout=60))
        first.start()
        wait_until(lambda: host.hits.count("/slow-busy.png") > hits_before, 10)
        busy = httpx.post(f"{url}/swap", json=body, timeout=60)
        assert_error(busy, 503, "BUSY")
        first.join()
        assert host.hits.count("/slow-busy.png") == hits_before + 2


def test_the_key_is_checked_before_the_body_is_read(settings: Settings) -> None:
    with serve(derive(settings, api_key="s3cret-key")) as url:
        for path in ("/swap", "/runsync"):
            response = httpx.post(
                f"{url}{path}", content=b'{"input": {', headers={"Content-Type": "application/json"}
            )
            assert response.status_code == 401, path
        assert httpx.get(f"{url}/openapi.json").status_code == 401
        assert httpx.get(f"{url}/openapi.json", headers={"X-API-Key": "s3cret-key"}).status_code == 200


def test_a_non_ascii_digit_index_is_invalid_input_not_a_crash(base_url: str, one_face_png: bytes) -> None:
    files = {"source": ("a.png", one_face_png, "image/png"), "target": ("b.png", one_face_png, "image/png")}
    response = httpx.post(f"{base_url}/swap/upload", files=files, data={"target_index": "²"}, timeout=30)
    assert_error(response, 422, "INVALID_INPUT")


def test_runsync_without_input_names_the_field(base_url: str) -> None:
    response = httpx.post(f"{base_url}/runsync", json={}, timeout=30)
    assert "input" in response.json()["output"]["message"]
