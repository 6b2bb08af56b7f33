"""`python -m faceswap swap SRC CLIP -o OUT.mp4`: a clip swapped from the command line, with progress."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2

from faceswap.testing.clips import write_clip
from faceswap.testing.synthetic import draw_faces
from tests.test_cli import run_cli

FRAMES = 12


def test_a_clip_is_swapped_with_a_progress_bar(model_dir: Path, tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "source.png"), draw_faces(640, 480, 1, seed=1)[0])
    write_clip(tmp_path / "clip.mp4", "mp4", frames=FRAMES, size=(256, 256))
    out = tmp_path / "out.mp4"
    result = run_cli(
        model_dir, "swap", str(tmp_path / "source.png"), str(tmp_path / "clip.mp4"), "-o", str(out)
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    absent = 3 * FRAMES // 5 - 2 * FRAMES // 5  # the first face leaves for the middle fifth
    assert (summary["frames"], summary["swapped_frames"], summary["width"]) == (FRAMES, FRAMES - absent, 256)
    assert f"{FRAMES}/{FRAMES} frames" in result.stderr
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == FRAMES
        assert container.streams.audio


def test_a_clip_output_must_name_its_container(model_dir: Path, tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "source.png"), draw_faces(640, 480, 1, seed=1)[0])
    write_clip(tmp_path / "clip.webm", "webm", frames=2, size=(256, 256), audio=False)
    result = run_cli(
        model_dir,
        "swap",
        str(tmp_path / "source.png"),
        str(tmp_path / "clip.webm"),
        "-o",
        str(tmp_path / "o.mp4"),
    )
    assert result.returncode != 0
    assert ".webm" in result.stderr
