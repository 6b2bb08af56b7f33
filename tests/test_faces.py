import numpy as np
import pytest

from faceswap.errors import ErrorCode, SwapError
from faceswap.pipeline.detect import Face, detection_size, order_faces, pick_face


def _face(x: float, y: float) -> Face:
    return Face(bbox=(x, y, x + 10, y + 10), keypoints=np.zeros((5, 2), np.float32), score=0.9)


def test_faces_are_ordered_left_to_right_then_top_to_bottom() -> None:
    faces = [_face(50, 0), _face(10, 30), _face(10, 5), _face(30, 0)]
    assert [face.bbox[:2] for face in order_faces(faces)] == [(10, 5), (10, 30), (30, 0), (50, 0)]


def test_pick_face_is_one_based() -> None:
    faces = order_faces([_face(50, 0), _face(10, 0)])
    assert pick_face(faces, 1, "target").bbox[0] == 10
    assert pick_face(faces, 2, "target").bbox[0] == 50


def test_index_above_the_count_names_the_count() -> None:
    with pytest.raises(SwapError) as caught:
        pick_face([_face(0, 0), _face(20, 0)], 3, "target")
    assert caught.value.code is ErrorCode.FACE_INDEX_OUT_OF_RANGE
    assert "target_index 3 is out of range: the target image has 2 faces" in caught.value.message


def test_no_face_says_which_image() -> None:
    with pytest.raises(SwapError) as caught:
        pick_face([], 1, "source")
    assert caught.value.code is ErrorCode.NO_FACE
    assert "source" in caught.value.message


def test_index_below_one_is_invalid_input() -> None:
    with pytest.raises(SwapError) as caught:
        pick_face([_face(0, 0)], 0, "source")
    assert caught.value.code is ErrorCode.INVALID_INPUT


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        (1024, 768, (640, 480)),
        (768, 1024, (480, 640)),
        (4000, 3000, (640, 480)),
        (640, 640, (640, 640)),
        (3000, 500, (640, 128)),
        (100, 80, (640, 512)),
    ],
)
def test_detection_size_keeps_the_aspect_at_the_longest_side(
    width: int, height: int, expected: tuple
) -> None:
    size = detection_size(width, height, 640)
    assert size == expected
    assert size[0] % 32 == 0 and size[1] % 32 == 0
