"""The video pipeline: clips from the synthetic generator swapped frame by frame, audio and timing kept."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest

from faceswap.config import Settings
from faceswap.errors import ErrorCode, SwapError
from faceswap.pipeline.engine import Engine, SourceIdentity
from faceswap.pipeline.quality import Enhancer, Quality
from faceswap.pipeline.video import VideoLimits, probe_video, sniff_container, swap_video
from faceswap.testing.clips import clip_boxes, main, write_clip
from faceswap.testing.synthetic import draw_faces, face_pattern
from scripts import hostile_probe as probe
from tests.conftest import derive, encode_png

FRAMES = 40
SIZE = (256, 256)
LIMITS = VideoLimits(seconds=60, frames=3600, pixels=1920 * 1080)


@pytest.fixture(scope="module")
def source_identity(engine: Engine) -> SourceIdentity:
    source, _ = draw_faces(640, 480, 1, seed=9)
    return engine.source_identity(encode_png(source), 1)


def frames_of(path: Path) -> list[tuple[np.ndarray, float]]:
    with av.open(str(path)) as container:
        return [(f.to_ndarray(format="bgr24"), float(f.time)) for f in container.decode(video=0)]


def audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return []
        return [bytes(p) for p in container.demux(audio=0) if p.size]


def looks_like(pixels: np.ndarray, box: tuple[int, int, int, int], identity: int) -> float:
    """Mean absolute difference between the inner part of `box` and the face of `identity` there."""
    x1, y1, x2, y2 = box
    expected = face_pattern(identity, x2 - x1, y2 - y1).astype(int)
    dy, dx = (y2 - y1) * 3 // 10, (x2 - x1) * 3 // 10
    got = pixels[y1 + dy : y2 - dy, x1 + dx : x2 - dx].astype(int)
    return float(np.abs(got - expected[dy : y2 - y1 - dy, dx : x2 - x1 - dx]).mean())


@pytest.mark.parametrize("kind", ["mp4", "webm", "gif"])
def test_the_chosen_face_is_swapped_wherever_it_appears(
    engine: Engine, source_identity: np.ndarray, tmp_path: Path, kind: str
) -> None:
    clip, out = tmp_path / f"in.{kind}", tmp_path / f"out.{kind}"
    write_clip(clip, kind, frames=FRAMES, size=SIZE)
    seen: list[tuple[int, int]] = []
    result = swap_video(
        engine, source_identity, clip, out, LIMITS, target_index=1, progress=lambda d, t: seen.append((d, t))
    )
    before, after = frames_of(clip), frames_of(out)
    assert result.frames == len(after) == len(before) == FRAMES
    assert [t for _, t in after] == pytest.approx([t for _, t in before], abs=1e-3)
    assert seen[-1] == (FRAMES, FRAMES)
    source_face = 9 * 1000
    absent = 0
    for number, (pixels, _) in enumerate(after):
        chosen, other = clip_boxes(*SIZE, 2, number, FRAMES)
        assert other is not None
        assert looks_like(pixels, other, 1) < 30, f"frame {number}: the other face changed"
        if chosen is None:
            absent += 1
            continue
        assert looks_like(pixels, chosen, source_face) < 30, f"frame {number}: the face was not swapped"
    assert absent > 0
    assert result.swapped_frames == FRAMES - absent
    assert audio_packets(out) == audio_packets(clip)
    if kind != "gif":
        assert audio_packets(out), "the clip's audio went missing"


def test_all_swaps_every_face_in_every_frame(
    engine: Engine, source_identity: np.ndarray, tmp_path: Path
) -> None:
    clip, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    write_clip(clip, "mp4", frames=16, size=SIZE, audio=False)
    swap_video(engine, source_identity, clip, out, LIMITS, target_index="all")
    for number, (pixels, _) in enumerate(frames_of(out)):
        for box in clip_boxes(*SIZE, 2, number, 16):
            if box is not None:
                assert looks_like(pixels, box, 9000) < 30


def test_frames_without_faces_pass_through(
    engine: Engine, source_identity: np.ndarray, tmp_path: Path
) -> None:
    clip, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    write_clip(clip, "mp4", frames=8, size=SIZE, faces=0, audio=False)
    result = swap_video(engine, source_identity, clip, out, LIMITS)
    assert (result.frames, result.swapped_frames) == (8, 0)
    for (a, _), (b, _) in zip(frames_of(clip), frames_of(out), strict=True):
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 3


def test_containers_are_recognised_by_content() -> None:
    assert sniff_container(b"\x00\x00\x00\x20ftypisom" + bytes(52)) == "mp4"
    assert sniff_container(b"\x00\x00\x00\x14ftypqt  " + bytes(52)) == "mov"
    assert sniff_container(b"\x1a\x45\xdf\xa3" + b"\x00" * 10 + b"webm" + bytes(46)) == "webm"
    assert sniff_container(b"GIF89a" + bytes(58)) == "gif"
    assert sniff_container(b"\x89PNG\r\n\x1a\n" + bytes(56)) is None


@pytest.mark.parametrize(
    ("limits", "words"),
    [
        (VideoLimits(seconds=1, frames=3600, pixels=10**7), "seconds"),
        (VideoLimits(seconds=60, frames=10, pixels=10**7), "frames"),
        (VideoLimits(seconds=60, frames=3600, pixels=100 * 100), "pixels"),
    ],
)
def test_caps_are_checked_from_the_header(tmp_path: Path, limits: VideoLimits, words: str) -> None:
    clip = tmp_path / "in.mp4"
    write_clip(clip, "mp4", frames=32, size=SIZE, audio=False)
    with pytest.raises(SwapError) as caught:
        probe_video(clip, limits)
    assert caught.value.code is ErrorCode.IMAGE_TOO_LARGE
    assert words in caught.value.message


@pytest.mark.parametrize("data", [b"not a video at all" * 8, b"\x00\x00\x00\x20ftypisom" + bytes(200)])
def test_bad_containers_are_invalid_image(tmp_path: Path, data: bytes) -> None:
    clip = tmp_path / "in.mp4"
    clip.write_bytes(data)
    with pytest.raises(SwapError) as caught:
        probe_video(clip, LIMITS)
    assert caught.value.code is ErrorCode.INVALID_IMAGE


def test_a_checkpoint_stops_the_clip(engine: Engine, source_identity: np.ndarray, tmp_path: Path) -> None:
    clip, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    write_clip(clip, "mp4", frames=16, size=SIZE, audio=False)
    calls = []

    def checkpoint() -> None:
        calls.append(1)
        if len(calls) > 3:
            raise SwapError(ErrorCode.TIMEOUT, "stopped")

    with pytest.raises(SwapError, match="stopped"):
        swap_video(engine, source_identity, clip, out, LIMITS, checkpoint=checkpoint)
    assert len(calls) == 4


def test_the_output_container_follows_the_input(tmp_path: Path) -> None:
    for kind in ("mp4", "webm", "gif"):
        clip = tmp_path / f"in.{kind}"
        write_clip(clip, kind, frames=4, size=SIZE, audio=False)
        assert probe_video(clip, LIMITS).kind == kind


def test_the_clip_command_writes_a_clip(tmp_path: Path) -> None:
    out = tmp_path / "clip.webm"
    assert main([str(out), "--frames", "5", "--size", "256x192", "--faces", "1"]) == 0
    info = probe_video(out, LIMITS)
    assert (info.kind, info.width, info.height, info.has_audio) == ("webm", 256, 192, True)
    assert len(frames_of(out)) == 5


@pytest.mark.parametrize("kind", ["mp4", "webm"])
def test_odd_sized_clips_keep_their_size(
    engine: Engine, source_identity: np.ndarray, tmp_path: Path, kind: str
) -> None:
    clip, out = tmp_path / f"in.{kind}", tmp_path / f"out.{kind}"
    write_clip(clip, kind, frames=4, size=(255, 257), audio=False)
    result = swap_video(engine, source_identity, clip, out, LIMITS)
    assert (result.width, result.height, result.frames) == (255, 257, 4)
    assert frames_of(out)[0][0].shape == (257, 255, 3)


def test_quality_options_apply_to_every_swapped_frame(
    engine: Engine, source_identity: np.ndarray, tmp_path: Path
) -> None:
    clip = tmp_path / "in.mp4"
    write_clip(clip, "mp4", frames=12, size=SIZE, audio=False)
    plain, enhanced = tmp_path / "plain.mp4", tmp_path / "enhanced.mp4"
    swap_video(engine, source_identity, clip, plain, LIMITS, target_index=1)
    quality = Quality(face_enhancer=Enhancer("gpen_bfr_512", blend=1.0))
    swap_video(engine, source_identity, clip, enhanced, LIMITS, target_index=1, quality=quality)
    changed = 0
    for number, ((a, _), (b, _)) in enumerate(zip(frames_of(plain), frames_of(enhanced), strict=True)):
        chosen, other = clip_boxes(*SIZE, 2, number, 12)
        assert other is not None and looks_like(b, other, 1) < 30, f"frame {number}: the other face changed"
        if chosen is not None:
            x1, y1, x2, y2 = chosen
            changed += np.abs(a[y1:y2, x1:x2].astype(int) - b[y1:y2, x1:x2].astype(int)).mean() > 1
    assert changed >= 6, "the enhancer did not run on the swapped frames"


def test_a_missing_optional_model_fails_before_any_frame(
    models, settings: Settings, source_identity: np.ndarray, tmp_path: Path
) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    engine = Engine(models, derive(settings, model_dir=bare))
    clip = tmp_path / "in.mp4"
    write_clip(clip, "mp4", frames=4, size=SIZE, audio=False)
    out = tmp_path / "out.mp4"
    quality = Quality(face_enhancer=Enhancer("gfpgan_1.4"))
    with pytest.raises(SwapError) as caught:
        swap_video(engine, source_identity, clip, out, LIMITS, quality=quality)
    assert caught.value.code is ErrorCode.MODEL_NOT_INSTALLED
    assert not out.exists()


def clip_file(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "clip"
    path.write_bytes(data)
    return path


def test_a_file_of_hundreds_of_tracks_is_refused_without_decoding(tmp_path: Path) -> None:
    with pytest.raises(SwapError) as caught:
        probe_video(clip_file(tmp_path, probe.many_tracks_clip(40)), LIMITS)
    assert caught.value.code is ErrorCode.INVALID_IMAGE and "more than 16 streams" in caught.value.message


def test_frames_are_counted_from_packets_and_their_pixels_capped_in_all(tmp_path: Path) -> None:
    gif = clip_file(tmp_path, probe.one_pixel_gif(300, (640, 480)))
    assert probe_video(gif, LIMITS).frames == 300
    with pytest.raises(SwapError) as caught:
        probe_video(
            gif, VideoLimits(seconds=60, frames=3600, pixels=1920 * 1080, total_pixels=640 * 480 * 299)
        )
    assert caught.value.code is ErrorCode.IMAGE_TOO_LARGE and "pixels in all" in caught.value.message


def test_the_total_pixel_cap_comes_from_the_settings(models, settings: Settings, tmp_path: Path) -> None:
    assert VideoLimits.from_settings(settings).total_pixels == settings.max_video_total_pixels
    engine = Engine(models, derive(settings, max_video_total_pixels=640 * 480 * 10))
    gif = clip_file(tmp_path, probe.one_pixel_gif(30, (640, 480)))
    with pytest.raises(SwapError) as caught:
        swap_video(engine, np.zeros(512, np.float32), gif, tmp_path / "out.gif", LIMITS)
    assert caught.value.code is ErrorCode.IMAGE_TOO_LARGE


@pytest.mark.parametrize(
    ("build", "words"),
    [
        (probe.lying_header_clip, "could not be decoded"),
        (probe.backwards_clip, "timestamps"),
        (probe.webm_with_aac, "cannot be carried"),
        (probe.patched_sample_count, "not a readable"),
    ],
    ids=["frame larger than its header", "backwards timestamps", "AAC in WebM", "patched sample count"],
)
def test_a_crafted_clip_is_invalid_image(
    engine: Engine, source_identity: np.ndarray, tmp_path: Path, build: Callable[[], bytes], words: str
) -> None:
    with pytest.raises(SwapError) as caught:
        swap_video(engine, source_identity, clip_file(tmp_path, build()), tmp_path / "out", LIMITS)
    assert caught.value.code is ErrorCode.INVALID_IMAGE and words in caught.value.message
