"""Synthetic stand-ins for the content guard's classifiers, with the real files' contracts.

Each flags one known painted patch: pixels of PATCH_BGR (a pink that no synthetic face has: their
colours are fully saturated). Its score is the share of the model's letterboxed square that is patch,
scaled so that over FLAG_SHARE of the square crosses the real model's threshold:

    nsfw_1  guard/nsfw_1.onnx  input [1,3,640,640]  output [1,9,8400]: classes 4..8 = share × 40
    nsfw_2  guard/nsfw_2.onnx  input [1,3,384,384]  output [1,2]: [share × 50, 0]
    nsfw_3  guard/nsfw_3.onnx  input [1,3,448,448]  output [1,4]: [0, 0, share × 2100, 0]

`write_guard_models(directory, flagging=...)` writes the three; one left out of `flagging` never flags,
so a test can check the vote.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import onnx

from faceswap.models.registry import SYNTHETIC_PRODUCER
from faceswap.provenance.guard import GUARD_MODELS, GuardModel
from faceswap.testing.graph import Graph, float_info

__all__ = ["FLAG_SHARE", "PATCH_BGR", "paint_patch", "write_guard_models"]

PATCH_BGR = (255, 128, 255)
FLAG_SHARE = 0.005
"""Share of a model's square the patch must cover to be flagged."""
_TOLERANCE = 0.06
_ANCHORS = 8400


def paint_patch(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """A copy of the BGR image with the patch painted over box (x1, y1, x2, y2)."""
    painted = image.copy()
    x1, y1, x2, y2 = box
    painted[y1:y2, x1:x2] = PATCH_BGR
    return painted


def _patch_share(g: Graph, model: GuardModel) -> str:
    """[1,1,1,1]: the share of the square whose pixels are the patch colour (RGB 1, 0.5, 1 ± tolerance)."""
    std = g.const(np.asarray(model.std, np.float32).reshape(1, 3, 1, 1))
    mean = g.const(np.asarray(model.mean, np.float32).reshape(1, 3, 1, 1))
    rgb = g.op("Add", g.op("Mul", "input", std), mean)
    red, green, blue = (g.slice(rgb, 1, channel, channel + 1) for channel in range(3))
    edge = g.const(1.0 - _TOLERANCE)
    near_red = g.op("Relu", g.op("Sub", red, edge))
    near_blue = g.op("Relu", g.op("Sub", blue, edge))
    off_green = g.op("Abs", g.op("Sub", green, g.const(0.5)))
    near_green = g.op("Relu", g.op("Sub", g.const(_TOLERANCE), off_green))
    inside = g.op("Mul", g.op("Mul", near_red, near_blue), near_green)
    share = g.op("ReduceMean", inside, axes=[2, 3], keepdims=1)
    return g.op("Mul", share, g.const(1.0 / _TOLERANCE**3))


def _model(model: GuardModel, flags: bool) -> onnx.ModelProto:
    g = Graph(SYNTHETIC_PRODUCER)
    gain = model.threshold / FLAG_SHARE if flags else 0.0
    score = g.op("Reshape", g.op("Mul", _patch_share(g, model), g.const(gain)), g.const([1, 1]))
    if model.name == "nsfw_1":
        classes = g.op("Expand", g.op("Reshape", score, g.const([1, 1, 1])), g.const([1, 5, _ANCHORS]))
        boxes = g.const(np.zeros((1, 4, _ANCHORS), np.float32))
        g.op("Concat", boxes, classes, axis=1, output="output")
        shape = [1, 9, _ANCHORS]
    elif model.name == "nsfw_2":
        g.op("Concat", score, g.const(np.zeros((1, 1), np.float32)), axis=1, output="output")
        shape = [1, 2]
    else:
        zeros = g.const(np.zeros((1, 2), np.float32))
        g.op("Concat", zeros, score, g.const(np.zeros((1, 1), np.float32)), axis=1, output="output")
        shape = [1, 4]
    inputs = [float_info("input", [1, 3, model.side, model.side])]
    return g.model(f"synthetic_{model.name}", inputs, [float_info("output", shape)])


def write_guard_models(
    directory: Path, flagging: Iterable[str] = ("nsfw_1", "nsfw_2", "nsfw_3")
) -> list[Path]:
    """Write the guard's stand-ins under directory/guard/; those not in `flagging` never flag."""
    chosen = set(flagging)
    written = []
    for model in GUARD_MODELS:
        path = directory / "guard" / f"{model.name}.onnx"
        path.parent.mkdir(parents=True, exist_ok=True)
        onnx.save_model(_model(model, model.name in chosen), path)
        written.append(path)
    return written
