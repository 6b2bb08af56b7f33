import numpy as np

from faceswap.pipeline.align import estimate_similarity, template_for
from faceswap.pipeline.blend import crop_mask, paste_back, paste_region


def _matrix_for_box(x: float, y: float, side: float) -> np.ndarray:
    keypoints = template_for(112) * (side / 112) + np.array([x, y], dtype=np.float32)
    return estimate_similarity(keypoints, template_for(128))


def test_crop_mask_is_zero_at_the_border_and_one_inside() -> None:
    mask = crop_mask(128)
    assert mask.dtype == np.float32
    assert mask[0].max() == 0 and mask[-1].max() == 0 and mask[:, 0].max() == 0 and mask[:, -1].max() == 0
    assert mask[40:88, 40:88].min() > 0.99


def test_paste_back_touches_only_the_face_region() -> None:
    frame = np.full((600, 900, 3), 90, dtype=np.uint8)
    matrix = _matrix_for_box(500, 200, 120)
    swapped = np.full((128, 128, 3), 250, dtype=np.uint8)
    patch = paste_back(frame, swapped, matrix)
    assert patch is not None
    x0, y0, x1, y1 = paste_region(frame.shape, matrix, 128)
    assert (patch.x, patch.y) == (x0, y0)
    assert patch.pixels.shape == (y1 - y0, x1 - x0, 3)
    assert 470 < x0 < 500 and x1 < 660 and y1 < 360
    center = patch.pixels[patch.pixels.shape[0] // 2, patch.pixels.shape[1] // 2]
    assert (center == 250).all()
    assert (patch.pixels[0, 0] == 90).all()
    assert (frame == 90).all()


def test_paste_back_has_no_seam_at_the_region_border() -> None:
    frame = np.full((300, 300, 3), 10, dtype=np.uint8)
    patch = paste_back(frame, np.full((128, 128, 3), 240, dtype=np.uint8), _matrix_for_box(100, 100, 100))
    assert patch is not None
    border = np.concatenate([patch.pixels[0], patch.pixels[-1], patch.pixels[:, 0], patch.pixels[:, -1]])
    assert np.abs(border.astype(int) - 10).max() <= 1


def test_paste_back_clips_faces_at_the_image_edge() -> None:
    frame = np.zeros((100, 100, 3), dtype=np.uint8)
    patch = paste_back(frame, np.full((128, 128, 3), 200, dtype=np.uint8), _matrix_for_box(-40, -40, 100))
    assert patch is not None
    assert patch.x == 0 and patch.y == 0
    assert patch.pixels.shape[0] <= 100 and patch.pixels.shape[1] <= 100


def test_paste_back_outside_the_image_gives_nothing() -> None:
    frame = np.zeros((100, 100, 3), dtype=np.uint8)
    assert paste_back(frame, np.zeros((128, 128, 3), dtype=np.uint8), _matrix_for_box(500, 500, 50)) is None
