"""The command line: `python -m faceswap swap SOURCE TARGET -o OUT`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2

from faceswap.testing.synthetic import draw_faces
from tests.servers import ROOT


def run_cli(model_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FACESWAP_MODEL_DIR": str(model_dir), "FACESWAP_PROVIDERS": "cpu"}
    return subprocess.run(
        [sys.executable, "-m", "faceswap", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_swap_writes_the_output_and_a_summary(model_dir: Path, tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "source.png"), draw_faces(640, 480, 1, seed=1)[0])
    cv2.imwrite(str(tmp_path / "target.jpg"), draw_faces(900, 500, 3, seed=2)[0])
    result = run_cli(
        model_dir,
        "swap",
        str(tmp_path / "source.png"),
        str(tmp_path / "target.jpg"),
        "-o",
        str(tmp_path / "out.webp"),
        "--target-index",
        "3",
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["width"], summary["height"], summary["target_faces"]) == (900, 500, 3)
    assert cv2.imread(str(tmp_path / "out.webp")).shape == (500, 900, 3)


def test_errors_are_one_line_with_the_code(model_dir: Path, tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "one.png"), draw_faces(640, 480, 1)[0])
    result = run_cli(
        model_dir,
        "swap",
        str(tmp_path / "one.png"),
        str(tmp_path / "one.png"),
        "-o",
        str(tmp_path / "out.png"),
        "--target-index",
        "2",
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: FACE_INDEX_OUT_OF_RANGE: target_index 2 is out of range: the target image has 1 face."
    )
    assert not (tmp_path / "out.png").exists()


def test_missing_input_file_is_reported(model_dir: Path, tmp_path: Path) -> None:
    result = run_cli(
        model_dir,
        "swap",
        str(tmp_path / "nope.png"),
        str(tmp_path / "nope.png"),
        "-o",
        str(tmp_path / "out.png"),
    )
    assert result.returncode == 1
    assert "cannot read or write" in result.stderr and "Traceback" not in result.stderr


def test_missing_models_name_the_download_command(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "one.png"), draw_faces(640, 480, 1)[0])
    result = run_cli(
        tmp_path / "empty",
        "swap",
        str(tmp_path / "one.png"),
        str(tmp_path / "one.png"),
        "-o",
        str(tmp_path / "out.png"),
    )
    assert result.returncode == 1
    assert "NOT_READY" in result.stderr and "python -m faceswap.models download" in result.stderr


def test_swap_takes_the_swapper_its_weight_several_photos_and_reports_similarity(
    model_dir: Path, tmp_path: Path
) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), draw_faces(640, 480, 1, seed=1)[0])
    cv2.imwrite(str(tmp_path / "b.png"), draw_faces(640, 480, 1, seed=4)[0])
    cv2.imwrite(str(tmp_path / "target.png"), draw_faces(900, 500, 1, seed=2)[0])
    common = [
        "swap",
        str(tmp_path / "a.png"),
        str(tmp_path / "target.png"),
        "--source",
        str(tmp_path / "b.png"),
    ]
    options = ["--swapper", "simswap_unofficial_512", "--swapper-weight", "0.8", "--pixel-boost", "1024"]
    result = run_cli(model_dir, *common, "-o", str(tmp_path / "out.png"), *options, "--report-similarity")
    assert result.returncode == 0, result.stderr
    (after,) = json.loads(result.stdout)["similarity_after"]
    assert -1.0 <= after <= 1.0
    plain = run_cli(model_dir, *common, "-o", str(tmp_path / "plain.png"))
    assert plain.returncode == 0 and "similarity_after" not in json.loads(plain.stdout)
    assert (tmp_path / "out.png").read_bytes() != (tmp_path / "plain.png").read_bytes()
    refused = run_cli(
        model_dir, *common, "-o", str(tmp_path / "x.png"), "--swapper", "ghost_1_256", "--pixel-boost", "128"
    )
    assert (
        refused.returncode == 1
        and "pixel_boost for ghost_1_256 must be one of 256, 512, 768, 1024" in refused.stderr
    )
