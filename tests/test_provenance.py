"""Provenance: the watermark survives attacks, manifests sign and validate, every entry point marks."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import c2pa
import cv2
import httpx
import numpy as np
import pytest
from PIL import Image
from skimage import data as samples

from faceswap.cli import main as cli_main
from faceswap.config import Settings
from faceswap.errors import ErrorCode, ModelLoadError, SwapError
from faceswap.http.app import create_app
from faceswap.lifecycle import ModelLifecycle
from faceswap.models.loader import FaceModels
from faceswap.pipeline.engine import Engine
from faceswap.pipeline.labels import DIGITAL_SOURCE_TYPE
from faceswap.pipeline.png import encode_png as write_png
from faceswap.pipeline.video import VideoLimits, swap_video
from faceswap.provenance import report as provenance_report
from faceswap.provenance.credentials import Credentials, Ingredient, build_manifest
from faceswap.provenance.policy import Provenance
from faceswap.provenance.report import check_file
from faceswap.provenance.testcert import SigningCertificate, make_test_certificate
from faceswap.provenance.watermark import _tile as watermark_tile
from faceswap.provenance.watermark import embed_watermark, payload_bits, read_watermark
from faceswap.runpod_worker import QueueWorker
from faceswap.testing.clips import write_clip
from faceswap.testing.synthetic import draw_faces
from scripts import hostile_probe
from tests.conftest import derive, encode_png
from tests.servers import app_in_thread, wait_ready

OUTPUT_ID = "1a2b3c4d"
PHOTOS = ("astronaut", "camera", "coffee", "rocket", "chelsea", "hubble_deep_field", "logo", "moon")


def jpeg(image: np.ndarray, quality: int = 75) -> np.ndarray:
    return cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)


def half(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)


def crop_tenth(image: np.ndarray) -> np.ndarray:
    """10 % of each side taken away, 5 % from each edge, at an offset that is no multiple of a tile."""
    height, width = image.shape[:2]
    return image[height // 20 + 1 : height - height // 20, width // 20 + 3 : width - width // 20]


ATTACKS = {"none": lambda image: image, "jpeg75": jpeg, "half": half, "crop10": crop_tenth}


def photo(name: str) -> np.ndarray:
    image = getattr(samples, name)()
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(image[:, :, :3][:, :, ::-1])


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> SigningCertificate:
    return make_test_certificate(tmp_path_factory.mktemp("cert"))


@pytest.fixture(scope="module")
def signing(settings: Settings, cert: SigningCertificate) -> Settings:
    return derive(settings, watermark=True, c2pa_cert=str(cert.chain), c2pa_key=str(cert.key))


@pytest.fixture(scope="module")
def signing_engine(models: FaceModels, signing: Settings) -> Engine:
    return Engine(models, signing)


@pytest.fixture(scope="module")
def pair() -> tuple[bytes, bytes]:
    return encode_png(draw_faces(640, 480, 1, seed=1)[0]), encode_png(draw_faces(800, 600, 2, seed=2)[0])


def assert_marked(data: bytes, cert: SigningCertificate, output_id: str | None = None) -> None:
    report = check_file(data, [cert.ca.read_text()])
    assert report.c2pa.present and report.c2pa.state == "Trusted", report.c2pa
    assert report.c2pa.ai_generated and report.c2pa.claim_generator.startswith("faceswap")
    assert report.watermark is not None and report.watermark.ours, report.watermark
    if output_id is not None:
        assert report.watermark.output_id == output_id
    assert report.made_by_ai


@pytest.mark.parametrize("name", PHOTOS)
def test_the_watermark_survives_each_attack_on_photographs(name: str) -> None:
    original = photo(name)
    marked = embed_watermark(original, OUTPUT_ID)
    assert cv2.PSNR(original, marked) >= 40.0
    truth = np.array(payload_bits(OUTPUT_ID))
    for attack, apply in ATTACKS.items():
        reading = read_watermark(apply(marked))
        assert reading.present, (attack, reading.score)
        assert reading.output_id == OUTPUT_ID, attack
        assert (np.array(reading.bits) == truth).mean() == 1.0, attack


def test_the_watermark_survives_a_metadata_strip_and_jpeg_resave_of_a_swap_output(
    signing_engine: Engine, pair: tuple[bytes, bytes]
) -> None:
    result = signing_engine.swap(*pair, output_format="jpeg")
    pixels = cv2.imdecode(np.frombuffer(result.image, np.uint8), cv2.IMREAD_COLOR)
    stripped = cv2.imencode(".png", pixels)[1].tobytes()  # pixels only: no XMP, no manifest
    report = check_file(stripped)
    assert not report.c2pa.present and report.label is None
    assert report.watermark is not None and report.watermark.output_id == result.output_id
    for attack in (jpeg, half, crop_tenth):
        assert read_watermark(attack(pixels)).output_id == result.output_id


def test_the_mark_adds_its_rounded_tile_saturated_to_every_channel() -> None:
    frame = np.random.default_rng(3).integers(0, 256, (300, 200, 3), dtype=np.uint8)
    frame[:40], frame[40:80] = 255, 0
    marked = embed_watermark(frame, "0a1b2c3d")
    tile = np.rint(watermark_tile(payload_bits("0a1b2c3d")))
    pattern = np.tile(tile, (300 // 64 + 1, 200 // 64 + 1))[:300, :200, None]
    assert np.array_equal(marked, np.clip(frame.astype(np.float32) + pattern, 0, 255).astype(np.uint8))
    assert np.abs(tile).max() >= 1, "the tile changes pixels"
    in_place = frame.copy()
    assert embed_watermark(in_place, "0a1b2c3d", out=in_place) is in_place
    assert np.array_equal(in_place, marked)


@pytest.mark.parametrize("name", [*PHOTOS, "brick", "grass", "coins"])
def test_an_unmarked_image_never_reads_as_ours(name: str) -> None:
    for attack in (lambda image: image, half):
        reading = read_watermark(attack(photo(name)))
        assert reading.output_id is None


def test_a_manifest_signed_with_the_test_ca_validates_and_one_changed_pixel_breaks_it(
    cert: SigningCertificate,
) -> None:
    credentials = Credentials(cert.chain.read_bytes(), cert.key.read_bytes())
    image = draw_faces(320, 240, 1, seed=3)[0]
    stored = _stored_png(image)
    target = cv2.imencode(".jpg", image)[1].tobytes()
    signed = credentials.sign(
        stored,
        "image/png",
        swapper="inswapper_128",
        parent=Ingredient("image/jpeg", data=target),
        watermark="fa" + OUTPUT_ID,
    )
    anchors = {"verify": {"remote_manifest_fetch": False}, "trust": {"user_anchors": cert.ca.read_text()}}
    with (
        c2pa.Context.from_dict(anchors) as context,
        c2pa.Reader("image/png", io.BytesIO(signed), context=context) as reader,
    ):
        store = json.loads(reader.json())
    assert store["validation_state"] == "Trusted"
    manifest = store["manifests"][store["active_manifest"]]
    actions = next(a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions"))["data"][
        "actions"
    ]
    assert [action["action"] for action in actions] == ["c2pa.opened", "c2pa.edited", "c2pa.watermarked"]
    assert actions[1]["digitalSourceType"] == DIGITAL_SOURCE_TYPE
    assert actions[1]["softwareAgent"]["name"] == "faceswap"
    assert actions[1]["parameters"]["com.faceswap.swapper"] == "inswapper_128"
    assert "thumbnail" not in json.dumps(manifest).lower() or not manifest.get("thumbnail")
    assert check_file(signed).c2pa.state == "Valid"  # intact, but its CA is nobody's trust anchor
    tampered = _change_one_pixel(signed)
    report = check_file(tampered, [cert.ca.read_text()])
    assert report.c2pa.state == "Invalid" and "assertion.dataHash.mismatch" in report.c2pa.failures


def _stored_png(image: np.ndarray) -> bytes:
    return write_png(image, 0)  # stored deflate: one IDAT byte is one channel of one pixel


def _change_one_pixel(png: bytes) -> bytes:
    """The PNG with one byte of its pixel data changed (the IDAT's CRC fixed, so it is a valid PNG)."""
    position = 8
    while True:
        length, kind = struct.unpack_from(">I4s", png, position)
        if kind == b"IDAT":
            break
        position += 12 + length
    body = bytearray(png[position + 8 : position + 8 + length])
    body[len(body) // 2] ^= 0x01
    crc = struct.pack(">I", zlib.crc32(b"IDAT" + bytes(body)))
    return png[: position + 8] + bytes(body) + crc + png[position + 12 + length :]


def test_an_unusable_certificate_fails_at_load_with_the_fix(settings: Settings, tmp_path: Path) -> None:
    other = make_test_certificate(tmp_path / "other")
    mismatched = derive(settings, c2pa_cert=str(other.ca), c2pa_key=str(other.key))  # the CA, not a leaf
    with pytest.raises(ModelLoadError, match="make-test-cert"):
        Provenance.from_settings(mismatched, ("CPUExecutionProvider",))
    missing = derive(settings, c2pa_cert=str(tmp_path / "none.pem"), c2pa_key=str(other.key))
    with pytest.raises(ModelLoadError, match=r"FACESWAP_C2PA_CERT .* cannot be read"):
        Provenance.from_settings(missing, ("CPUExecutionProvider",))
    with pytest.raises(ValueError, match="set both or neither"):
        derive(settings, c2pa_cert=str(other.chain))


def test_the_manifest_without_a_readable_target_starts_with_created() -> None:
    actions = build_manifest("inswapper_128", opened=False, watermark=None)["assertions"][0]["data"][
        "actions"
    ]
    assert [action["action"] for action in actions] == ["c2pa.created", "c2pa.edited"]
    assert actions[0]["digitalSourceType"] == DIGITAL_SOURCE_TYPE


@pytest.mark.parametrize("output_format", ["png", "jpeg", "webp"])
def test_each_photo_format_is_watermarked_signed_and_labelled(
    signing_engine: Engine, pair: tuple[bytes, bytes], cert: SigningCertificate, output_format: str
) -> None:
    result = signing_engine.swap(*pair, output_format=output_format)  # type: ignore[arg-type]
    assert_marked(result.image, cert, result.output_id)
    assert check_file(result.image).label == DIGITAL_SOURCE_TYPE
    assert {"watermark", "sign"} <= set(result.timings_ms)


@pytest.fixture(scope="module")
def signing_url(signing: Settings) -> Iterator[str]:
    with app_in_thread(create_app(derive(signing, max_video_frames=200))) as url:
        wait_ready(url)
        yield url


def test_every_http_entry_point_and_the_worker_mark_their_output(
    signing_url: str,
    signing: Settings,
    models: FaceModels,
    pair: tuple[bytes, bytes],
    cert: SigningCertificate,
    caplog: pytest.LogCaptureFixture,
) -> None:
    health = httpx.get(f"{signing_url}/health").json()
    assert (health["provenance"], health["watermark"], health["content_guard"]) == ("c2pa", True, "off")
    source, target = (base64.b64encode(item).decode() for item in pair)
    body = {"source_image": source, "target_image": target}
    with caplog.at_level(logging.INFO, logger="faceswap.pipeline.engine"):
        answer = httpx.post(f"{signing_url}/swap", json=body, timeout=60).json()
    assert_marked(base64.b64decode(answer["image_base64"]), cert, answer["output_id"])
    assert f"made output {answer['output_id']}" in caplog.text  # the log records the watermark's id
    files = {"source": ("s.png", pair[0], "image/png"), "target": ("t.png", pair[1], "image/png")}
    upload = httpx.post(f"{signing_url}/swap/upload", files=files, headers={"Accept": "image/*"}, timeout=60)
    assert_marked(upload.content, cert)
    runsync = httpx.post(f"{signing_url}/runsync", json={"input": body}, timeout=60).json()["output"]
    assert_marked(base64.b64decode(runsync["image_base64"]), cert, runsync["output_id"])
    worker = QueueWorker(signing, ModelLifecycle(signing, loader=lambda _: models))
    assert worker.load()
    queued = asyncio.run(worker.handle({"id": "job-1", "input": body}))
    assert_marked(base64.b64decode(queued["image_base64"]), cert, queued["output_id"])
    job = httpx.post(f"{signing_url}/jobs", json=body).json()
    assert_marked(base64.b64decode(_finished(signing_url, job["id"])["result"]["base64"]), cert)


def _finished(url: str, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = httpx.get(f"{url}/jobs/{job_id}").json()
        if status["status"] not in ("queued", "running"):
            assert status["status"] == "succeeded", status
            return status
        time.sleep(0.1)
    raise AssertionError("the job did not finish")


def test_a_clip_job_is_watermarked_in_every_frame_and_signed(
    signing_url: str, pair: tuple[bytes, bytes], cert: SigningCertificate, tmp_path: Path
) -> None:
    path = tmp_path / "in.mp4"
    write_clip(path, "mp4", frames=12, size=(256, 256), faces=1)
    body = {
        "source_image": base64.b64encode(pair[0]).decode(),
        "target_video": base64.b64encode(path.read_bytes()).decode(),
    }
    job = httpx.post(f"{signing_url}/jobs", json=body).json()
    clip = base64.b64decode(_finished(signing_url, job["id"])["result"]["base64"])
    report = check_file(clip, [cert.ca.read_text()])
    assert report.media_type == "video/mp4" and report.c2pa.state == "Trusted", report
    assert report.watermark is not None and report.watermark.ours


def test_post_provenance_reports_an_output_and_a_plain_image(
    signing_url: str, signing_engine: Engine, pair: tuple[bytes, bytes]
) -> None:
    result = signing_engine.swap(*pair, output_format="jpeg")
    answer = httpx.post(f"{signing_url}/provenance", json={"image": base64.b64encode(result.image).decode()})
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["c2pa"]["state"] == "Trusted"  # the service trusts its own chain's root
    assert report["c2pa"]["trust_anchors"] and report["watermark"]["output_id"] == result.output_id
    assert report["label"] == DIGITAL_SOURCE_TYPE and report["made_by_ai"] is True
    plain = httpx.post(f"{signing_url}/provenance", json={"image": base64.b64encode(pair[1]).decode()}).json()
    assert (plain["c2pa"]["present"], plain["watermark"]["ours"], plain["label"], plain["made_by_ai"]) == (
        False,
        False,
        None,
        False,
    )
    bad = httpx.post(f"{signing_url}/provenance", json={})
    assert bad.status_code == 422 and bad.json()["error_code"] == "INVALID_INPUT"


@pytest.mark.parametrize("content", [b"", b"neither an image nor a clip"])
def test_post_provenance_reports_nothing_found_in_bytes_that_are_no_image(
    signing_url: str, content: bytes
) -> None:
    answer = httpx.post(f"{signing_url}/provenance", json={"image": base64.b64encode(content).decode()})
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert (report["c2pa"]["present"], report["watermark"], report["made_by_ai"]) == (False, None, False)


def test_post_provenance_refuses_an_image_over_the_pixel_cap_before_decoding(
    signing_url: str, tmp_path: Path
) -> None:
    png = tmp_path / "huge.png"
    Image.new("L", (12_000, 6_000)).save(png, optimize=False, compress_level=9)
    answer = httpx.post(
        f"{signing_url}/provenance", json={"image": base64.b64encode(png.read_bytes()).decode()}
    )
    assert answer.status_code == 413, answer.text
    assert answer.json()["error_code"] == "IMAGE_TOO_LARGE"


def test_the_cli_signs_and_checks(
    signing: Settings, pair: tuple[bytes, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    made = tmp_path / "cert"
    assert cli_main(["provenance", "make-test-cert", str(made)]) == 0
    lines = capsys.readouterr().out.splitlines()
    exports = dict(line.removeprefix("export ").split("=", 1) for line in lines if line.startswith("export "))
    assert set(exports) == {"FACESWAP_C2PA_CERT", "FACESWAP_C2PA_KEY"}
    monkeypatch.setenv("FACESWAP_MODEL_DIR", str(signing.model_dir))
    monkeypatch.setenv("FACESWAP_PROVIDERS", "cpu")
    for name, value in exports.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "s.png").write_bytes(pair[0])
    (tmp_path / "t.png").write_bytes(pair[1])
    out = tmp_path / "out.jpg"
    assert cli_main(["swap", str(tmp_path / "s.png"), str(tmp_path / "t.png"), "-o", str(out)]) == 0
    output_id = json.loads(capsys.readouterr().out)["output_id"]
    ca = made / "test-ca.pem"
    assert cli_main(["provenance", "check", str(out), "--trust", str(ca), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["c2pa"]["state"] == "Trusted" and report["watermark"]["output_id"] == output_id
    assert cli_main(["provenance", "check", str(out)]) == 0
    text = capsys.readouterr().out
    assert "C2PA manifest: Valid" in text and f"output id {output_id}" in text and "AI: yes" in text


@pytest.mark.parametrize(("kind", "signed"), [("mp4", True), ("webm", False)])
def test_a_clip_is_marked_in_its_frames_and_signed_where_c2pa_supports_the_container(
    signing_engine: Engine,
    pair: tuple[bytes, bytes],
    cert: SigningCertificate,
    tmp_path: Path,
    kind: str,
    signed: bool,
) -> None:
    clip = tmp_path / f"in.{kind}"
    write_clip(clip, kind, frames=8, size=(256, 256), faces=1, audio=False)
    output = tmp_path / f"out.{kind}"
    identity = signing_engine.source_identity(pair[0], 1)
    result = swap_video(signing_engine, identity, clip, output, VideoLimits(60, 100, 1 << 20))
    assert result.signed is signed
    report = check_file(output, [cert.ca.read_text()])
    assert report.media_type == f"video/{kind}"
    assert report.c2pa.present is signed and (report.c2pa.state == "Trusted" or not signed)
    assert report.watermark is not None and report.watermark.output_id == result.output_id


def test_a_clips_frames_are_capped_as_the_clip_pipeline_caps_them(monkeypatch: pytest.MonkeyPatch) -> None:
    converted: list[tuple[int, ...]] = []
    read = provenance_report._report

    def recorded(frame: np.ndarray) -> provenance_report.WatermarkReport:
        converted.append(frame.shape)
        return read(frame)

    monkeypatch.setattr(provenance_report, "_report", recorded)
    with pytest.raises(SwapError) as caught:
        check_file(hostile_probe.huge_frame_clip())  # its header says 7680x4320
    assert caught.value.code is ErrorCode.IMAGE_TOO_LARGE
    assert "FACESWAP_MAX_VIDEO_PIXELS" in caught.value.message
    # a header of 320x240, a frame of 8000x4000: neither the stream probe nor the decoder makes its picture
    assert check_file(hostile_probe.lying_header_clip()).watermark is None
    assert check_file(hostile_probe.many_tracks_clip(40)).watermark is None  # over MAX_STREAMS: not decoded
    assert converted == []
