"""Synthetic stand-ins for the optional models, with the real files' input/output contracts.

Each does something deterministic that a test can see and locate, in the crop's coordinates (a 16x16
grid over the aligned crop, whatever its size):

- occluder (``masks/xseg_1.onnx``, XSeg): input ``input`` float32 NHWC [1,256,256,3] (BGR, 0..1), output
  ``output`` [1,256,256,1]; 1 (visible face) everywhere but OCCLUDED_CELLS, where it says 0: a hand
  over the lower left of the face;
- enhancers (``enhancers/gfpgan_1.4.onnx``, ``codeformer.onnx``, ``gpen_bfr_512.onnx``): input ``input``
  float32 [1,3,512,512] (RGB in -1..1), output ``output`` the same shape: an unsharp mask, the input plus
  SHARPEN[model] times its difference from a 5x5 box blur. CodeFormer's also takes ``weight`` (float64,
  [1], its fidelity) and sharpens by SHARPEN * (1 - weight): at fidelity 1 it returns its input;
- face parser (``masks/bisenet_resnet_34.onnx``, BiSeNet): input ``input`` float32 NCHW [N,3,512,512]
  (RGB, ImageNet-normalised), output ``output`` [N,19,512,512] logits whose argmax is PARSER_LABELS.
  The real file has two more (auxiliary) outputs after it; the service reads only the first.

The input enters each graph through a zero-weighted term, so ONNX Runtime runs it as the real model's
input without changing the answer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from faceswap.models.registry import SYNTHETIC_PRODUCER
from faceswap.testing.graph import Graph, float_info

__all__ = ["GRID", "OCCLUDED_CELLS", "PARSER_LABELS", "SHARPEN", "write_optional_models"]

PRODUCER = SYNTHETIC_PRODUCER
GRID = 16
OCCLUDED_CELLS = (4, 8, 8, 12)
"""Grid cells (x1, y1, x2, y2; x2/y2 exclusive) the occluder marks as covered."""
SHARPEN = {"gfpgan_1.4": 1.5, "codeformer": 1.5, "gpen_bfr_512": 1.0}
"""How strongly each enhancer stand-in sharpens."""
BLUR_SIDE = 5
CLASSES = 19
LOGIT = 10.0


def _parser_labels() -> np.ndarray:
    labels = np.zeros((GRID, GRID), dtype=np.int64)
    labels[0:3, :] = 17  # hair
    labels[3:15, 1:15] = 1  # skin
    labels[5, 3:7], labels[5, 9:13] = 2, 3  # brows
    labels[6:8, 3:7], labels[6:8, 9:13] = 4, 5  # eyes
    labels[8:11, 6:10] = 10  # nose
    labels[11, 5:11], labels[12, 5:11], labels[13, 5:11] = 12, 11, 13  # upper lip, mouth, lower lip
    return labels


PARSER_LABELS = _parser_labels()
"""The parser's label per grid cell: hair on top, then skin with brows, eyes, nose, lips and mouth."""


def _with_input_term(g: Graph, value: str, input_name: str, axes: list[int]) -> str:
    """`value` plus zero times the input's maximum: the input is read, the answer unchanged."""
    peak = g.op("ReduceMax", input_name, axes=axes, keepdims=1)
    return g.op("Add", value, g.op("Mul", peak, g.const(0.0)))


def _grid_resized(g: Graph, grid: np.ndarray, scales: list[float]) -> str:
    return g.op(
        "Resize",
        g.const(grid.astype(np.float32)),
        "",
        g.const(scales),
        mode="nearest",
        coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
    )


def _occluder_model() -> onnx.ModelProto:
    g = Graph(PRODUCER)
    cells = np.ones((1, GRID, GRID, 1), dtype=np.float32)
    x1, y1, x2, y2 = OCCLUDED_CELLS
    cells[0, y1:y2, x1:x2, 0] = 0.0
    scale = 256 / GRID
    resized = _grid_resized(g, cells, [1.0, scale, scale, 1.0])
    g.op("Identity", _with_input_term(g, resized, "input", [1, 2, 3]), output="output")
    inputs = [float_info("input", [1, 256, 256, 3])]
    return g.model("synthetic_xseg", inputs, [float_info("output", [1, 256, 256, 1])])


def _parser_model() -> onnx.ModelProto:
    g = Graph(PRODUCER)
    logits = (np.arange(CLASSES)[:, None, None] == PARSER_LABELS[None]).astype(np.float32)[None] * LOGIT
    scale = 512 / GRID
    resized = _grid_resized(g, logits, [1.0, 1.0, scale, scale])
    g.op("Identity", _with_input_term(g, resized, "input", [1, 2, 3]), output="output")
    inputs = [float_info("input", ["N", 3, 512, 512])]
    return g.model("synthetic_bisenet", inputs, [float_info("output", ["N", CLASSES, 512, 512])])


def _enhancer_model(name: str) -> onnx.ModelProto:
    g = Graph(PRODUCER)
    blurred = g.op(
        "AveragePool",
        "input",
        kernel_shape=[BLUR_SIDE, BLUR_SIDE],
        pads=[BLUR_SIDE // 2] * 4,
        count_include_pad=0,
    )
    detail = g.op("Sub", "input", blurred)
    strength = g.const(SHARPEN[name])
    inputs = [float_info("input", [1, 3, 512, 512])]
    if name == "codeformer":
        fidelity = g.op("Cast", "weight", to=TensorProto.FLOAT)
        strength = g.op("Mul", strength, g.op("Sub", g.const(1.0), fidelity))
        inputs.append(helper.make_tensor_value_info("weight", TensorProto.DOUBLE, [1]))
    g.op("Add", "input", g.op("Mul", detail, strength), output="output")
    return g.model(f"synthetic_{name}", inputs, [float_info("output", [1, 3, 512, 512])])


def write_optional_models(directory: Path) -> list[Path]:
    """Write the optional models' stand-ins under directory (enhancers/..., masks/...); their paths."""
    written = []
    models = [(f"enhancers/{name}.onnx", _enhancer_model(name)) for name in SHARPEN]
    models += [("masks/xseg_1.onnx", _occluder_model()), ("masks/bisenet_resnet_34.onnx", _parser_model())]
    for relative, model in models:
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        onnx.save_model(model, path)
        written.append(path)
    return written
