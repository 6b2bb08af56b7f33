"""Synthetic stand-ins for the swappers beside inswapper_128 and for their CrossFace converters.

Each has the real file's input/output contract (faceswap.pipeline.swappers, swapper-notes.md) and does
something a test can see, measure and locate:

- converter (``swappers/crossface_<family>.onnx``): input ``input`` float32 [1,512], output ``output``
  [1,512]: the L2-normalised input times a signed permutation (orthonormal, one per family) times
  CONVERTER_GAIN, so its raw output is not a unit vector (as CrossFace normalises its input first);
- swapper (``swappers/<name>.onnx``): inputs ``target`` float32 [1,3,S,S] in the model's normalisation and
  ``source`` ([1,512], or uniface's [1,3,256,256] image); output 0 ``output`` [1,3,S,S] in the model's
  output range (HyperSwap also ``mask`` [1,1,256,256], first in its input list as in the real file).
  It recovers the crop as 0..1 RGB from its own normalisation, and paints the source's identity over
  FACE_REGIONS[name]: where its template puts the synthetic face's box in a crop of its side. The
  identity is decoded from the source vector by the inverse of its recipe (the recognizer's projection,
  through the family's converter), so a wrong vector, template, side or normalisation shows in the
  pasted face. UniFace's stand-in copies the same region of its source image instead.

The swapper stand-ins are tiny; they prove plumbing, never quality or speed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx

from faceswap.models.registry import SYNTHETIC_PRODUCER
from faceswap.pipeline.align import ARCFACE_TEMPLATE, TEMPLATES, estimate_similarity
from faceswap.pipeline.swappers import SWAPPERS
from faceswap.pipeline.swappers.base import SwapperModel
from faceswap.testing.graph import Graph, float_info

__all__ = ["CONVERTER_GAIN", "FACE_REGIONS", "converter_matrix", "face_region", "write_swapper_models"]

CONVERTER_GAIN = 3.0
CONVERTER_SEEDS = {"crossface_ghost": 7, "crossface_simswap": 11}
EMBEDDING_SIZE = 512
ThumbnailGrid = Callable[[Graph, str], str]


def face_region(template: str, size: int) -> tuple[int, int, int, int]:
    """Where `template` at `size` puts a synthetic face's box (x1, y1, x2, y2; x2/y2 exclusive)."""
    fractions = ARCFACE_TEMPLATE / np.float32(112.0)
    matrix = estimate_similarity(fractions, TEMPLATES[template] * np.float32(size))
    corners = np.array([[0.0, 0.0, 1.0], [1.0, 1.0, 1.0]]) @ matrix.T
    (x1, y1), (x2, y2) = np.rint(corners).astype(int)
    return int(max(x1, 0)), int(max(y1, 0)), int(min(x2, size)), int(min(y2, size))


FACE_REGIONS: dict[str, tuple[int, int, int, int]] = {
    name: face_region(model.template, model.crop)
    for name, model in SWAPPERS.items()
    if model.family != "inswapper"
}
"""Each stand-in's painted region in its own crop."""


def converter_matrix(name: str) -> np.ndarray:
    """The converter stand-in's orthonormal 512x512 map: a signed permutation."""
    rng = np.random.default_rng(CONVERTER_SEEDS[name])
    matrix = np.zeros((EMBEDDING_SIZE, EMBEDDING_SIZE), dtype=np.float32)
    matrix[np.arange(EMBEDDING_SIZE), rng.permutation(EMBEDDING_SIZE)] = rng.choice(
        [-1.0, 1.0], EMBEDDING_SIZE
    )
    return matrix


def _converter_model(name: str) -> onnx.ModelProto:
    g = Graph(SYNTHETIC_PRODUCER)
    unit = g.op("LpNormalization", "input", axis=1, p=2)
    mapped = g.op("MatMul", unit, g.const(converter_matrix(name) * np.float32(CONVERTER_GAIN)))
    g.op("Identity", mapped, output="output")
    return g.model(
        f"synthetic_{name}",
        [float_info("input", [1, EMBEDDING_SIZE])],
        [float_info("output", [1, EMBEDDING_SIZE])],
    )


def _decoder(model: SwapperModel, projection: np.ndarray) -> np.ndarray:
    """512 x code matrix taking the model's source vector back to (a multiple of) the recognizer's code."""
    back = projection.T
    if model.converter is not None:
        back = converter_matrix(model.converter).T @ back
    return np.ascontiguousarray(back, dtype=np.float32)


def _painted(g: Graph, model: SwapperModel, projection: np.ndarray, grid_of: ThumbnailGrid) -> str:
    """The source's face, 0..1 RGB, over the face region (zeros elsewhere), 1x3xSxS."""
    x1, y1, x2, y2 = FACE_REGIONS[model.name]
    size = model.crop
    if model.source == "image":
        return "source"
    grid = grid_of(g, g.op("MatMul", "source", g.const(_decoder(model, projection))))
    side = grid_side = 8
    face = g.op(
        "Resize",
        grid,
        "",
        g.const([1.0, 1.0, (y2 - y1) / grid_side, (x2 - x1) / side]),
        mode="nearest",
        coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
    )
    return g.op("Pad", face, g.const([0, 0, y1, x1, 0, 0, size - y2, size - x2]), g.const(0.0))


def _swapper_model(model: SwapperModel, projection: np.ndarray, grid_of: ThumbnailGrid) -> onnx.ModelProto:
    g = Graph(SYNTHETIC_PRODUCER)
    size = model.crop
    x1, y1, x2, y2 = FACE_REGIONS[model.name]
    mean = g.const(np.asarray(model.mean, dtype=np.float32).reshape(1, 3, 1, 1))
    std = g.const(np.asarray(model.std, dtype=np.float32).reshape(1, 3, 1, 1))
    crop = g.op("Add", g.op("Mul", "target", std), mean)  # back to 0..1 RGB
    region = np.zeros((1, 1, size, size), dtype=bool)
    region[..., y1:y2, x1:x2] = True
    result = g.op("Where", g.const(region), _painted(g, model, projection, grid_of), crop)
    if model.denormalise:
        result = g.op("Div", g.op("Sub", result, mean), std)
    g.op("Identity", result, output="output")
    image = [1, 3, size, size]
    source = float_info("source", image if model.source == "image" else [1, EMBEDDING_SIZE])
    outputs = [float_info("output", image)]
    inputs = [float_info("target", image), source]
    if model.family == "hyperswap":
        g.op("Cast", g.const(region), to=onnx.TensorProto.FLOAT, output="mask")
        outputs.append(float_info("mask", [1, 1, size, size]))
        inputs.reverse()
    return g.model(f"synthetic_{model.name}", inputs, outputs)


def write_swapper_models(directory: Path, projection: np.ndarray, grid_of: ThumbnailGrid) -> list[Path]:
    """Write every swapper's and converter's stand-in under directory/swappers; their paths.

    `projection` is the synthetic recognizer's (code → embedding), `grid_of` its thumbnail decoder.
    """
    folder = directory / "swappers"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in CONVERTER_SEEDS:
        onnx.save_model(_converter_model(name), folder / f"{name}.onnx")
        written.append(folder / f"{name}.onnx")
    for name, model in SWAPPERS.items():
        if model.family == "inswapper":
            continue
        onnx.save_model(_swapper_model(model, projection, grid_of), folder / f"{name}.onnx")
        written.append(folder / f"{name}.onnx")
    return written
