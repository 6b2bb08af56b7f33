"""Face restoration's stages: FFHQ alignment, the model's pre/post-processing, the blend with the swap."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from faceswap.pipeline.align import estimate_similarity
from faceswap.pipeline.blend import Patch
from faceswap.pipeline.enhance import FFHQ_TEMPLATE, align_ffhq, mix_patch, restore_crop


def session(model_dir: Path, name: str) -> ort.InferenceSession:
    return ort.InferenceSession(
        str(model_dir / "enhancers" / f"{name}.onnx"), providers=["CPUExecutionProvider"]
    )


def gradient_energy(image: np.ndarray) -> float:
    pixels = image.astype(np.float64)
    return float((np.diff(pixels, axis=0) ** 2).sum() + (np.diff(pixels, axis=1) ** 2).sum())


def blurred_crop() -> np.ndarray:
    rng = np.random.default_rng(4)
    crop = np.repeat(np.repeat(rng.integers(40, 215, (16, 16, 3), dtype=np.uint8), 32, 0), 32, 1)
    return cv2.GaussianBlur(crop, (0, 0), 3)


def test_the_face_lands_on_the_ffhq_template() -> None:
    frame = np.zeros((900, 900, 3), np.uint8)
    keypoints = FFHQ_TEMPLATE * 0.8 + np.float32([100, 60])
    crop, matrix = align_ffhq(frame, keypoints)
    assert crop.shape == (512, 512, 3)
    mapped = np.c_[keypoints, np.ones(5)] @ matrix.T
    assert np.abs(mapped - FFHQ_TEMPLATE).max() < 1e-3
    assert np.allclose(matrix, estimate_similarity(keypoints, FFHQ_TEMPLATE))


@pytest.mark.parametrize("name", ["gfpgan_1.4", "gpen_bfr_512", "codeformer"])
def test_each_enhancer_sharpens_and_leaves_its_input_alone(model_dir: Path, name: str) -> None:
    crop = blurred_crop()
    before = crop.copy()
    restored = restore_crop(session(model_dir, name), crop, fidelity=0.0)
    assert np.array_equal(crop, before)
    assert restored.shape == crop.shape and restored.dtype == np.uint8
    assert gradient_energy(restored) > 1.1 * gradient_energy(crop)


def test_codeformer_at_fidelity_1_returns_its_input(model_dir: Path) -> None:
    crop = blurred_crop()
    codeformer = session(model_dir, "codeformer")
    assert np.abs(restore_crop(codeformer, crop, 1.0).astype(int) - crop).max() <= 1
    halfway = gradient_energy(restore_crop(codeformer, crop, 0.5))
    assert gradient_energy(crop) < halfway < gradient_energy(restore_crop(codeformer, crop, 0.0))


def test_the_blend_mixes_the_patch_with_the_frame_under_it() -> None:
    frame = np.full((50, 50, 3), 100, np.uint8)
    patch = Patch(x=10, y=20, pixels=np.full((5, 6, 3), 200, np.uint8))
    assert np.array_equal(mix_patch(frame, patch, 0.0).pixels, frame[20:25, 10:16])
    assert np.array_equal(mix_patch(frame, patch, 1.0).pixels, patch.pixels)
    assert np.all(mix_patch(frame, patch, 0.25).pixels == 125)
    assert (mix_patch(frame, patch, 0.5).x, mix_patch(frame, patch, 0.5).y) == (10, 20)
