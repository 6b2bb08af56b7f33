"""The face recognizer (ArcFace, w600k_r50) over an ONNX Runtime session: insightface 2.1's ArcFaceONNX's
get_feat, without importing insightface (see faceswap.models.scrfd) or parsing the whole file with onnx
to read its first nodes' names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from faceswap.models.check import first_node_names

__all__ = ["ArcFace", "input_normalisation"]

_FIRST_NODES = 8


def input_normalisation(model_file: Path) -> tuple[float, float]:
    """(mean, std) the model expects its pixels scaled by, guessed as insightface guesses it: a model
    converted from MXNet subtracts and multiplies in its own first nodes (0, 1); any other, (127.5, 127.5)."""
    names = first_node_names(model_file, _FIRST_NODES)
    subtracts = any(name.startswith(("Sub", "_minus")) for name in names)
    multiplies = any(name.startswith(("Mul", "_mul")) for name in names)
    return (0.0, 1.0) if subtracts and multiplies else (127.5, 127.5)


class ArcFace:
    """ArcFace's get_feat() over `session`; `model_file` is the original file, read for its normalisation."""

    def __init__(self, model_file: Path, session: Any) -> None:
        self.model_file = str(model_file)
        self.session = session
        self.taskname = "recognition"
        self.input_mean, self.input_std = input_normalisation(model_file)
        model_input = session.get_inputs()[0]
        outputs = session.get_outputs()
        if len(outputs) != 1:
            raise ValueError(f"an ArcFace model has one output, not {len(outputs)}")
        self.input_name: str = model_input.name
        self.input_shape = model_input.shape
        self.input_size: tuple[int, int] = tuple(model_input.shape[2:4][::-1])
        self.output_names: list[str] = [outputs[0].name]
        self.output_shape = outputs[0].shape

    def get_feat(self, imgs: np.ndarray | list[np.ndarray]) -> np.ndarray:
        """The raw embeddings (N x 512) of aligned BGR crops."""
        crops = imgs if isinstance(imgs, list) else [imgs]
        mean = self.input_mean
        blob = cv2.dnn.blobFromImages(
            crops, 1.0 / self.input_std, self.input_size, (mean, mean, mean), swapRB=True
        )
        blob = np.ascontiguousarray(blob, dtype=np.float32)
        return self.session.run(self.output_names, {self.input_name: blob})[0]
