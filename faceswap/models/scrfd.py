"""The face detector (SCRFD, det_10g) over an ONNX Runtime session: insightface 2.1's SCRFD, as the service
uses it (one session for every input size), without importing insightface.

insightface's package imports onnx, scipy and its add-ons on the way to its SCRFD class (about 1 s of a
start's CPU time), and the class parses the model file again with onnx to read its input size. The
decoding below is the same arithmetic on the same arrays in the same order, so the boxes, scores and
keypoints are the same numbers (tests/test_models.py compares the two on the synthetic pack).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

__all__ = ["Scrfd"]

NMS_THRESHOLD = 0.4
_MAX_CACHED_CENTERS = 100

# Outputs per model variant: (strides, anchors per location, keypoints given).
_LAYOUTS: dict[int, tuple[tuple[int, ...], int, bool]] = {
    6: ((8, 16, 32), 2, False),
    9: ((8, 16, 32), 2, True),
    10: ((8, 16, 32, 64, 128), 1, False),
    15: ((8, 16, 32, 64, 128), 1, True),
}

_INPUT_MEAN = 127.5
_INPUT_STD = 128.0


def _fixed_input_size(shape: list[Any]) -> tuple[int, int] | None:
    """(width, height) when an NCHW input shape fixes both, else None."""
    if len(shape) < 4:
        return None
    height, width = shape[2:4]
    if not all(isinstance(value, int) and value > 0 for value in (height, width)):
        return None
    return int(width), int(height)


def _distance_to_box(points: np.ndarray, distance: np.ndarray) -> np.ndarray:
    return np.stack(
        [
            points[:, 0] - distance[:, 0],
            points[:, 1] - distance[:, 1],
            points[:, 0] + distance[:, 2],
            points[:, 1] + distance[:, 3],
        ],
        axis=-1,
    )


def _distance_to_keypoints(points: np.ndarray, distance: np.ndarray) -> np.ndarray:
    coordinates = []
    for index in range(0, distance.shape[1], 2):
        coordinates.append(points[:, index % 2] + distance[:, index])
        coordinates.append(points[:, index % 2 + 1] + distance[:, index + 1])
    return np.stack(coordinates, axis=-1)


class Scrfd:
    """SCRFD's detect() over `session`: boxes (x1, y1, x2, y2, score) and five keypoints per face."""

    def __init__(self, session: Any, input_size: tuple[int, int], det_thresh: float) -> None:
        self.session = session
        self.taskname = "detection"
        model_input = session.get_inputs()[0]
        outputs = session.get_outputs()
        if len(outputs) not in _LAYOUTS:
            raise ValueError(f"an SCRFD model has 6, 9, 10 or 15 outputs, not {len(outputs)}")
        self.input_name: str = model_input.name
        self.output_names: list[str] = [output.name for output in outputs]
        self.batched = len(outputs[0].shape) == 3
        self.strides, self.anchors, self.use_kps = _LAYOUTS[len(outputs)]
        self.static_input_size = _fixed_input_size(list(model_input.shape))
        self.input_size = self.static_input_size or input_size
        self.det_thresh = det_thresh
        self.nms_thresh = NMS_THRESHOLD
        self._centers: dict[tuple[int, int, int], np.ndarray] = {}

    def detect(
        self,
        img: np.ndarray,
        input_size: tuple[int, int] | None = None,
        max_num: int = 0,
        metric: str = "default",
        det_thresh: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Faces in the BGR image `img`, found at `input_size` (w, h; a model's fixed size wins): an Nx5
        float32 array of boxes and scores, best first, and Nx5x2 keypoints (None for a model without)."""
        threshold = self.det_thresh if det_thresh is None else float(det_thresh)
        size = self.static_input_size or (tuple(input_size) if input_size is not None else self.input_size)
        candidates, keypoints = self._candidates(img, (int(size[0]), int(size[1])), threshold)
        if candidates.shape[0] == 0:
            return candidates, keypoints
        order = np.argsort(-candidates[:, 4], kind="stable")
        candidates = candidates[order, :]
        if keypoints is not None:
            keypoints = keypoints[order, :, :]
        keep = self.nms(candidates)
        boxes = candidates[keep, :]
        if keypoints is not None:
            keypoints = keypoints[keep, :, :]
        if max_num > 0 and boxes.shape[0] > max_num:
            chosen = self._largest(boxes, img.shape, max_num, metric)
            boxes = boxes[chosen, :]
            if keypoints is not None:
                keypoints = keypoints[chosen, :]
        return boxes, keypoints

    @staticmethod
    def _largest(boxes: np.ndarray, shape: tuple[int, ...], count: int, metric: str) -> np.ndarray:
        """The `count` largest boxes ('max'), or the largest nearest the centre ('default')."""
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        center = shape[0] // 2, shape[1] // 2
        offsets = np.vstack(
            [
                (boxes[:, 0] + boxes[:, 2]) / 2 - center[1],
                (boxes[:, 1] + boxes[:, 3]) / 2 - center[0],
            ]
        )
        values = area if metric == "max" else area - np.sum(np.power(offsets, 2.0), 0) * 2.0
        return np.argsort(values)[::-1][0:count]

    def _candidates(
        self, img: np.ndarray, input_size: tuple[int, int], threshold: float
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Every box over `threshold`, the image letterboxed (top left) into `input_size`, best first."""
        image_ratio = float(img.shape[0]) / img.shape[1]
        model_ratio = float(input_size[1]) / input_size[0]
        if image_ratio > model_ratio:
            new_height = input_size[1]
            new_width = int(new_height / image_ratio)
        else:
            new_width = input_size[0]
            new_height = int(new_width * image_ratio)
        scale = float(new_height) / img.shape[0]
        letterboxed = np.zeros((input_size[1], input_size[0], 3), dtype=np.uint8)
        letterboxed[:new_height, :new_width, :] = cv2.resize(img, (new_width, new_height))
        scores_list, boxes_list, keypoints_list = self.forward(letterboxed, threshold)
        if sum(scores.size for scores in scores_list) == 0:
            empty_keypoints = np.empty((0, 5, 2), dtype=np.float32) if self.use_kps else None
            return np.empty((0, 5), dtype=np.float32), empty_keypoints
        order = np.argsort(-np.vstack(scores_list).ravel(), kind="stable")
        boxes = np.vstack(boxes_list) / scale
        candidates = np.hstack((boxes, np.vstack(scores_list))).astype(np.float32, copy=False)[order, :]
        keypoints = (np.vstack(keypoints_list) / scale)[order, :, :] if self.use_kps else None
        return candidates, keypoints

    def forward(
        self, img: np.ndarray, threshold: float
    ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """Per stride: the scores, boxes and keypoints (input pixels) of the anchors over `threshold`."""
        input_size = tuple(img.shape[0:2][::-1])
        blob = cv2.dnn.blobFromImage(
            img, 1.0 / _INPUT_STD, input_size, (_INPUT_MEAN, _INPUT_MEAN, _INPUT_MEAN), swapRB=True
        )
        blob = np.ascontiguousarray(blob, dtype=np.float32)
        outputs = self.session.run(self.output_names, {self.input_name: blob})
        height, width = blob.shape[2], blob.shape[3]
        count = len(self.strides)
        scores_list, boxes_list, keypoints_list = [], [], []
        for index, stride in enumerate(self.strides):
            scores, box_distances = outputs[index], outputs[index + count]
            keypoint_distances = outputs[index + count * 2] if self.use_kps else None
            if self.batched:
                scores, box_distances = scores[0], box_distances[0]
                keypoint_distances = keypoint_distances[0] if keypoint_distances is not None else None
            centers = self._anchor_centers(height // stride, width // stride, stride)
            kept = np.where(scores >= threshold)[0]
            scores_list.append(scores[kept])
            boxes_list.append(_distance_to_box(centers, box_distances * stride)[kept])
            if keypoint_distances is not None:
                keypoints = _distance_to_keypoints(centers, keypoint_distances * stride)
                keypoints_list.append(keypoints.reshape((keypoints.shape[0], -1, 2))[kept])
        return scores_list, boxes_list, keypoints_list

    def _anchor_centers(self, height: int, width: int, stride: int) -> np.ndarray:
        key = (height, width, stride)
        centers = self._centers.get(key)
        if centers is None:
            centers = np.stack(np.mgrid[:height, :width][::-1], axis=-1).astype(np.float32)
            centers = (centers * stride).reshape((-1, 2))
            if self.anchors > 1:
                centers = np.stack([centers] * self.anchors, axis=1).reshape((-1, 2))
            if len(self._centers) < _MAX_CACHED_CENTERS:
                self._centers[key] = centers
        return centers

    def nms(self, dets: np.ndarray) -> list[int]:
        """Indices of the boxes kept by greedy non-maximum suppression at `nms_thresh`, best first."""
        x1, y1, x2, y2, scores = dets[:, 0], dets[:, 1], dets[:, 2], dets[:, 3], dets[:, 4]
        areas = (x2 - x1 + 1) * (y2 - y1 + 1)
        order = np.argsort(-scores, kind="stable")
        keep = []
        while order.size > 0:
            best = order[0]
            keep.append(best)
            width = np.maximum(
                0.0, np.minimum(x2[best], x2[order[1:]]) - np.maximum(x1[best], x1[order[1:]]) + 1
            )
            height = np.maximum(
                0.0, np.minimum(y2[best], y2[order[1:]]) - np.maximum(y1[best], y1[order[1:]]) + 1
            )
            inter = width * height
            overlap = inter / (areas[best] + areas[order[1:]] - inter)
            order = order[np.where(overlap <= self.nms_thresh)[0] + 1]
        return keep
