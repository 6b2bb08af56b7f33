import numpy as np
import pytest

from faceswap.pipeline.align import align_face, estimate_similarity, template_for


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


@pytest.mark.parametrize("size", [112, 128, 224, 256])
def test_similarity_recovers_a_known_transform(size: int) -> None:
    angle, scale, shift = 0.3, 2.5, np.array([40.0, -12.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    template = template_for(size).astype(np.float64)
    keypoints = (template - shift) @ np.linalg.inv(rotation).T
    matrix = estimate_similarity(keypoints.astype(np.float32), template_for(size))
    np.testing.assert_allclose(_apply(matrix, keypoints), template, atol=1e-3)


def test_template_for_128_is_shifted_like_insightface() -> None:
    np.testing.assert_allclose(
        template_for(128)[:, 0] - template_for(112)[:, 0] * (128 / 128), 8.0, atol=1e-4
    )
    np.testing.assert_allclose(template_for(224), template_for(112) * 2, atol=1e-4)


def test_similarity_never_reflects() -> None:
    template = template_for(112)
    mirrored = template.copy()
    mirrored[:, 0] = 112 - mirrored[:, 0]
    matrix = estimate_similarity(mirrored, template)
    assert np.linalg.det(matrix[:, :2]) > 0


def test_align_face_crops_the_face_and_leaves_the_frame_alone() -> None:
    frame = np.zeros((200, 300, 3), dtype=np.uint8)
    frame[50:150, 100:200] = (0, 0, 255)
    keypoints = template_for(112) * (100 / 112) + np.array([100, 50], dtype=np.float32)
    before = frame.copy()
    crop, matrix = align_face(frame, keypoints, 112)
    assert crop.shape == (112, 112, 3)
    assert (crop[56, 56] == (0, 0, 255)).all()
    np.testing.assert_array_equal(frame, before)
    np.testing.assert_allclose(_apply(matrix, keypoints), template_for(112), atol=1e-3)
