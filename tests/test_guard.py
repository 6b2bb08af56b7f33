"""The content guard: its settings, the vote, the clip rule, and a refusal on every entry point."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest

from faceswap.cli import main as cli_main
from faceswap.config import Settings
from faceswap.errors import ErrorCode, ModelFileError, SwapError
from faceswap.http.app import create_app
from faceswap.lifecycle import ModelLifecycle
from faceswap.models.loader import load_models
from faceswap.pipeline.engine import Engine
from faceswap.provenance import guard as guard_module
from faceswap.provenance.guard import ClipSampler, ContentGuard
from faceswap.runpod_worker import QueueWorker
from faceswap.testing.guard import paint_patch, write_guard_models
from faceswap.testing.synthetic import draw_faces, write_models
from tests.conftest import derive, encode_png
from tests.servers import app_in_thread, wait_ready

CPU = ("CPUExecutionProvider",)
PATCH = (20, 20, 140, 140)


@pytest.fixture(scope="module")
def guarded_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic pack plus the guard's stand-ins."""
    directory = tmp_path_factory.mktemp("guarded")
    write_models(directory)
    write_guard_models(directory)
    return directory


@pytest.fixture(scope="module")
def guarded(settings: Settings, guarded_dir: Path) -> Settings:
    return derive(settings, model_dir=guarded_dir, max_video_frames=200)


@pytest.fixture(scope="module")
def images() -> dict[str, bytes]:
    target = draw_faces(800, 600, 1, seed=2)[0]
    return {
        "source": encode_png(draw_faces(640, 480, 1, seed=1)[0]),
        "clean": encode_png(target),
        "painted": encode_png(paint_patch(target, PATCH)),
    }


def test_off_never_loads_a_model_and_auto_follows_the_files(
    guarded_dir: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: object) -> None:
        raise AssertionError("a guard model was loaded")

    with monkeypatch.context() as patch:
        patch.setattr(guard_module, "_session", refuse)
        assert ContentGuard.load("off", guarded_dir, CPU) is None
        assert ContentGuard.load("auto", model_dir, CPU) is None  # no guard/ folder: nothing to load
    guard = ContentGuard.load("auto", guarded_dir, CPU)
    assert guard is not None and guard.names == ("nsfw_1", "nsfw_2", "nsfw_3")


def test_on_with_a_model_missing_names_the_files_and_the_command(model_dir: Path) -> None:
    with pytest.raises(ModelFileError) as caught:
        ContentGuard.load("on", model_dir, CPU)
    assert "guard/nsfw_1.onnx, guard/nsfw_2.onnx, guard/nsfw_3.onnx are not in the model folder" in (
        caught.value.reason
    )
    assert "python -m faceswap.models download --with nsfw_1,nsfw_2,nsfw_3" in caught.value.reason


def test_on_with_a_model_missing_fails_health_with_the_reason(settings: Settings) -> None:
    with app_in_thread(create_app(derive(settings, content_guard="on"))) as url:
        deadline = time.monotonic() + 30
        while (health := httpx.get(f"{url}/health")).json()["status"] == "loading":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert health.status_code == 503 and health.json()["status"] == "failed"
    assert "download --with nsfw_1,nsfw_2,nsfw_3" in health.json()["reason"]


def test_a_frame_is_flagged_by_a_majority_of_the_models(tmp_path: Path) -> None:
    painted = paint_patch(draw_faces(640, 480, 1, seed=1)[0], PATCH)
    write_guard_models(tmp_path / "one", flagging=["nsfw_1"])
    write_guard_models(tmp_path / "two", flagging=["nsfw_1", "nsfw_3"])
    one = ContentGuard.load("on", tmp_path / "one", CPU)
    two = ContentGuard.load("on", tmp_path / "two", CPU)
    assert one is not None and two is not None
    assert not one.flagged(painted) and two.flagged(painted)
    (tmp_path / "two" / "guard" / "nsfw_2.onnx").unlink()  # two installed: both must agree
    both = ContentGuard.load("auto", tmp_path / "two", CPU)
    assert both is not None and both.names == ("nsfw_1", "nsfw_3") and both.flagged(painted)


class Refuses:
    """A session that fails the test if it is run."""

    def run(self, *_: object) -> list[np.ndarray]:
        raise AssertionError("the costliest classifier ran though the first two agreed")


def test_the_costliest_model_runs_only_when_the_first_two_disagree(guarded_dir: Path, tmp_path: Path) -> None:
    clean = draw_faces(640, 480, 1, seed=1)[0]
    painted = paint_patch(clean, PATCH)
    loaded = ContentGuard.load("on", guarded_dir, CPU)
    assert loaded is not None
    sessions = dict(zip(loaded.names, (session for _, session in loaded._models), strict=True))
    skipping = ContentGuard({**sessions, "nsfw_3": Refuses()})
    assert not skipping.flagged(clean) and skipping.flagged(painted)  # nsfw_2 and nsfw_1 agree both times
    write_guard_models(tmp_path, flagging=["nsfw_1"])
    split = ContentGuard.load("on", tmp_path, CPU)
    assert split is not None
    deciding = dict(zip(split.names, (session for _, session in split._models), strict=True))
    with pytest.raises(AssertionError, match="costliest"):
        ContentGuard({**deciding, "nsfw_3": Refuses()}).flagged(painted)  # 1 against 1: nsfw_3 decides


def test_a_clip_is_refused_when_over_a_tenth_of_the_sampled_frames_are_flagged(guarded_dir: Path) -> None:
    guard = ContentGuard.load("on", guarded_dir, CPU)
    assert guard is not None
    clean = draw_faces(256, 256, 1, seed=4)[0]
    painted = paint_patch(clean, (10, 10, 60, 60))

    def verdict(flagged_frames: set[int], frames: int = 50, fps: float = 5.0) -> ErrorCode | None:
        sampler = ClipSampler(guard, fps, frames)
        try:
            for number in range(frames):
                sampler.see(number, painted if number in flagged_frames else clean)
            sampler.finish()
        except SwapError as exc:
            return exc.code
        return None

    assert verdict(set()) is None
    assert verdict({0}) is None  # 1 of 10 sampled frames: 10 %, not more
    assert verdict({1, 2, 3, 4, 6, 7, 8, 9}) is None  # never a sampled frame (one a second: 0, 5, 10 ...)
    assert verdict({0, 5}) is ErrorCode.CONTENT_REFUSED  # 2 of 10
    assert verdict({25}, frames=50, fps=25.0) is ErrorCode.CONTENT_REFUSED  # 1 of 2 sampled


@pytest.fixture(scope="module")
def guarded_url(guarded: Settings) -> Iterator[str]:
    with app_in_thread(create_app(guarded)) as url:
        wait_ready(url)
        yield url


def _refused(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error_code"] == "CONTENT_REFUSED" and "image_base64" not in body
    assert body["message"] == "The content guard refused the target."


def test_the_painted_patch_is_refused_on_every_http_entry_point_and_counted(
    guarded_url: str, images: dict[str, bytes], caplog: pytest.LogCaptureFixture
) -> None:
    health = httpx.get(f"{guarded_url}/health").json()
    assert health["content_guard"] == ["nsfw_1", "nsfw_2", "nsfw_3"]
    source = base64.b64encode(images["source"]).decode()
    painted = base64.b64encode(images["painted"]).decode()
    clean = base64.b64encode(images["clean"]).decode()
    ok = httpx.post(f"{guarded_url}/swap", json={"source_image": source, "target_image": clean}, timeout=60)
    assert ok.status_code == 200 and "guard" in ok.json()["timings_ms"]
    with caplog.at_level(logging.INFO):
        _refused(httpx.post(f"{guarded_url}/swap", json={"source_image": source, "target_image": painted}))
        files = {"source": ("s.png", images["source"], "image/png"), "target": ("t.png", images["painted"])}
        _refused(httpx.post(f"{guarded_url}/swap/upload", files=files, headers={"Accept": "image/*"}))
        runsync = httpx.post(
            f"{guarded_url}/runsync", json={"input": {"source_image": source, "target_image": painted}}
        ).json()
    assert runsync["output"]["error_code"] == "CONTENT_REFUSED" and "image_base64" not in runsync["output"]
    metrics = httpx.get(f"{guarded_url}/metrics").text
    assert "faceswap_content_refused 3.0" in metrics
    assert 'code="CONTENT_REFUSED"' in metrics
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert logged.count("content guard refused a image target") == 3
    assert painted[:64] not in logged and clean[:64] not in logged


def test_the_queue_worker_and_the_cli_refuse_the_patch(
    guarded: Settings, images: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    models = load_models(guarded)
    worker = QueueWorker(guarded, ModelLifecycle(guarded, loader=lambda _: models))
    assert worker.load()
    body = {"source_image": base64.b64encode(images["source"]).decode()}
    output = asyncio.run(
        worker.handle(
            {"id": "j", "input": {**body, "target_image": base64.b64encode(images["painted"]).decode()}}
        )
    )
    assert output["error_code"] == "CONTENT_REFUSED" and "image_base64" not in output
    monkeypatch.setenv("FACESWAP_MODEL_DIR", str(guarded.model_dir))
    monkeypatch.setenv("FACESWAP_PROVIDERS", "cpu")
    (tmp_path / "s.png").write_bytes(images["source"])
    (tmp_path / "t.png").write_bytes(images["painted"])
    out = tmp_path / "out.png"
    assert cli_main(["swap", str(tmp_path / "s.png"), str(tmp_path / "t.png"), "-o", str(out)]) == 1
    assert "CONTENT_REFUSED" in capsys.readouterr().err and not out.exists()


def painted_clip(path: Path, frames: int, painted: set[int], fps: int = 5) -> bytes:
    """An MP4 of one synthetic face; the frames in `painted` carry the patch."""
    clean = draw_faces(256, 256, 1, seed=5)[0]
    with av.open(str(path), "w", format="mp4") as output:
        stream = output.add_stream("libx264", rate=fps, options={"crf": "10", "preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 256, 256, "yuv420p"
        for number in range(frames):
            pixels = paint_patch(clean, (10, 10, 60, 60)) if number in painted else clean
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="bgr24")
            frame.pts, frame.time_base = number, Fraction(1, fps)
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return path.read_bytes()


def _job(url: str, body: dict[str, Any]) -> dict[str, Any]:
    job = httpx.post(f"{url}/jobs", json=body).json()
    deadline = time.monotonic() + 120
    while (status := httpx.get(f"{url}/jobs/{job['id']}").json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return status


def test_jobs_refuse_a_painted_photo_and_a_clip_with_the_patch_in_a_few_frames(
    guarded_url: str, images: dict[str, bytes], tmp_path: Path
) -> None:
    source = base64.b64encode(images["source"]).decode()
    photo = _job(
        guarded_url, {"source_image": source, "target_image": base64.b64encode(images["painted"]).decode()}
    )
    assert photo["status"] == "failed" and photo["error"]["error_code"] == "CONTENT_REFUSED", photo
    assert photo.get("result") is None
    refused = painted_clip(tmp_path / "refused.mp4", 30, painted={10, 15, 20})  # 3 of 6 sampled
    clip = _job(guarded_url, {"source_image": source, "target_video": base64.b64encode(refused).decode()})
    assert clip["status"] == "failed" and clip["error"]["error_code"] == "CONTENT_REFUSED", clip
    passed = painted_clip(tmp_path / "passed.mp4", 30, painted={11, 12})  # never a sampled frame
    done = _job(guarded_url, {"source_image": source, "target_video": base64.b64encode(passed).decode()})
    assert done["status"] == "succeeded", done


def test_a_guarded_engine_passes_clean_targets_unchanged(guarded: Settings, images: dict[str, bytes]) -> None:
    engine = Engine(load_models(guarded), guarded)
    assert engine.provenance.guard is not None
    result = engine.swap(images["source"], images["clean"])
    assert result.image and result.timings_ms["guard"] >= 0
    with pytest.raises(SwapError) as caught:
        engine.swap(images["source"], images["painted"])
    assert caught.value.code is ErrorCode.CONTENT_REFUSED and caught.value.status == 422
