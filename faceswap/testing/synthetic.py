"""Synthetic stand-ins for buffalo_l and inswapper_128, and images their detector reads exactly.

No real weights can be fetched where the service is built and tested, so the tests run insightface's own
loader and ONNX Runtime over small generated files with the real models' input/output contracts:

- detector (SCRFD contract, 9 outputs): a face is an axis-aligned rectangle of strongly coloured pixels
  (channel spread above a threshold) on a grey background; its box comes from the mask's run lengths
  around each anchor, its five keypoints are fixed fractions of the box (the ArcFace template / 112);
- recognizer (ArcFace contract): the aligned crop pooled to an 8x8 colour thumbnail, laid out as a code
  vector ending in a constant, times a fixed projection with orthonormal rows;
- swapper (inswapper contract): decodes the source's thumbnail back from the latent through ``emap``
  and paints it over the face area of the target crop, so a test can see whose face landed where.

``write_models`` also writes the optional models' stand-ins (faceswap.testing.optional) and the other
swappers' and their converters' (faceswap.testing.swappers).

The images hold square faces, each a 4x4 grid of saturated colours picked by an identity, in a row on
grey. Square faces put their keypoints exactly on the template, so the aligned crop is the face and the
swapper repaints exactly the target's face.

Command line: ``python -m faceswap.testing.synthetic models DIR`` and
``python -m faceswap.testing.synthetic image OUT --faces N [--size WxH] [--seed S]``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnx
from onnx import TensorProto

from faceswap.models.registry import SYNTHETIC_PRODUCER
from faceswap.pipeline.align import ARCFACE_TEMPLATE
from faceswap.testing.graph import Graph, float_info
from faceswap.testing.optional import write_optional_models
from faceswap.testing.swappers import write_swapper_models

__all__ = [
    "ARCFACE_TEMPLATE",
    "BACKGROUND_BGR",
    "KEYPOINT_FRACTIONS",
    "SWAP_REGION",
    "Box",
    "ModelPaths",
    "draw_faces",
    "face_pattern",
    "layout_faces",
    "main",
    "place_faces",
    "thumbnail_grid",
    "write_image",
    "write_models",
]

logger = logging.getLogger(__name__)

Box = tuple[int, int, int, int]

KEYPOINT_FRACTIONS = ARCFACE_TEMPLATE / np.float32(112.0)
BACKGROUND_BGR = (128, 128, 128)
# insightface aligns the swapper's 128 crop to the 112 template shifted 8 px right, so the 112 crop the
# recognizer saw (a drawn face, exactly) is this part of it: x1, y1, x2, y2, x2/y2 exclusive.
SWAP_REGION = (8, 0, 120, 112)

MODEL_SEED = 20240611
PRODUCER = SYNTHETIC_PRODUCER
EMBEDDING_SIZE = 512
THUMBNAIL_SIDE = 8
THUMBNAIL_POOL = 14  # 112 / 8
THUMBNAIL_VALUES = 3 * THUMBNAIL_SIDE * THUMBNAIL_SIDE
# The recognizer's code vector: the thumbnail minus its channel means, the means weighted down (so the
# face's pattern, not its overall colour, decides similarity), and a constant 1.
MEAN_WEIGHT = 0.25
CODE_SIZE = THUMBNAIL_VALUES + 3 + 1
MASK_THRESHOLD = 72 / 128  # channel spread, in the detector's (pixel - 127.5) / 128 units
MIN_RUN = 16  # detector pixels a face must span in both axes
EDGE_MARGIN = 3  # detector pixels from a face's edge within which anchors never fire
CENTRAL_MARGIN = 0.2  # nor within this fraction of the face's width or height
RUN_DOUBLINGS = 10  # run lengths are exact up to 2**10 detector pixels
STRIDES = (8, 16, 32)

GRID = 4
DETECTOR_SIDE = 640
MIN_FACE_AT_DETECTOR = 40
MAX_FACE_AT_DETECTOR = 360
MIN_FACE_PIXELS = 24
IMAGE_QUALITY = 95
IMAGE_EXTENSIONS = {
    ".jpeg": [cv2.IMWRITE_JPEG_QUALITY, IMAGE_QUALITY],
    ".jpg": [cv2.IMWRITE_JPEG_QUALITY, IMAGE_QUALITY],
    ".png": [],
    ".webp": [cv2.IMWRITE_WEBP_QUALITY, IMAGE_QUALITY],
}


@dataclass(frozen=True)
class ModelPaths:
    """Where write_models put the three files."""

    detector: Path
    recognizer: Path
    swapper: Path


def _reverse(g: Graph, data: str, axis: int) -> str:
    return g.slice(data, axis, -1, -(2**63), -1)


def _shift_forward(g: Graph, data: str, axis: int, by: int) -> str:
    """Shift a rank-4 tensor towards higher indices along axis, filling with zeros."""
    pads = [0] * 8
    pads[axis] = by
    padded = g.op("Pad", data, g.const(pads), g.const(0.0))
    return g.slice(padded, axis, 0, -by)


def _runs(g: Graph, mask: str, axis: int) -> tuple[str, str]:
    """Per pixel, the mask's run length ending there and starting there (1x1xHxW each), by doubling."""
    runs = g.op("Concat", mask, _reverse(g, mask, axis), axis=1)
    for k in range(RUN_DOUBLINGS):
        full = g.op("Cast", g.op("Equal", runs, g.const(float(2**k))), to=TensorProto.FLOAT)
        runs = g.op("Add", runs, g.op("Mul", full, _shift_forward(g, runs, axis, 2**k)))
    return g.slice(runs, 1, 0, 1), _reverse(g, g.slice(runs, 1, 1, 2), axis)


def _extent(g: Graph, before: str, after: str) -> tuple[str, str]:
    """The face's extent through an anchor along one axis, and whether the anchor may fire on it.

    It may when the extent is at least MIN_RUN and the anchor lies in its central part, away from the
    edges that resizing and lossy encoding fray.
    """
    extent = g.op("Sub", g.op("Add", before, after), g.const(1.0))
    margin = g.op("Max", g.op("Mul", extent, g.const(CENTRAL_MARGIN)), g.const(float(EDGE_MARGIN)))
    central = g.op("GreaterOrEqual", g.op("Min", before, after), margin)
    return extent, g.op("And", g.op("GreaterOrEqual", extent, g.const(float(MIN_RUN))), central)


def _keypoint_matrix() -> np.ndarray:
    """4x10 matrix taking (left-1, top-1, right, bottom) to keypoint offsets from the anchor."""
    matrix = np.zeros((4, 10), dtype=np.float32)
    for i, (fx, fy) in enumerate(KEYPOINT_FRACTIONS):
        matrix[0, 2 * i], matrix[2, 2 * i] = fx - 1, fx
        matrix[1, 2 * i + 1], matrix[3, 2 * i + 1] = fy - 1, fy
    return matrix


def _detector_model() -> onnx.ModelProto:
    """SCRFD-shaped detector that boxes every rectangle of strongly coloured pixels."""
    g = Graph(PRODUCER)
    spread = g.op("Sub", g.op("ReduceMax", "input.1", axes=[1]), g.op("ReduceMin", "input.1", axes=[1]))
    mask = g.op("Cast", g.op("Greater", spread, g.const(MASK_THRESHOLD)), to=TensorProto.FLOAT)
    step = STRIDES[0]
    left, right = _runs(g, g.slice(mask, 2, 0, 2**62, step), axis=3)
    up, down = _runs(g, g.slice(mask, 3, 0, 2**62, step), axis=2)
    left, right = (g.slice(t, 3, 0, 2**62, step) for t in (left, right))
    up, down = (g.slice(t, 2, 0, 2**62, step) for t in (up, down))
    width, along_x = _extent(g, left, right)
    height, along_y = _extent(g, up, down)
    one = g.const(1.0)
    # Larger faces score higher, so a finer detection size wins NMS over a coarser one.
    size = g.op("Min", g.op("Div", g.op("Min", width, height), g.const(256.0)), one)
    score = g.op(
        "Mul",
        g.op("Cast", g.op("And", along_x, along_y), to=TensorProto.FLOAT),
        g.op("Add", g.op("Mul", size, g.const(0.1)), g.const(0.8)),
    )
    distances = g.op("Concat", g.op("Sub", left, one), g.op("Sub", up, one), right, down, axis=1)
    features = g.op("Concat", score, distances, axis=1)
    keypoints = g.const(_keypoint_matrix())
    for stride in STRIDES:
        sampled = features
        if stride != step:
            sampled = g.slice(g.slice(features, 2, 0, 2**62, stride // step), 3, 0, 2**62, stride // step)
        rows = g.op("Reshape", g.op("Transpose", sampled, perm=[0, 2, 3, 1]), g.const([-1, 1, 5]))
        anchors = g.op("Reshape", g.op("Concat", rows, rows, axis=1), g.const([-1, 5]))
        dist = g.slice(anchors, 1, 1, 5)
        scale = g.const(float(stride))
        g.op("Identity", g.slice(anchors, 1, 0, 1), output=f"score_{stride}")
        g.op("Div", dist, scale, output=f"bbox_{stride}")
        g.op("Div", g.op("MatMul", dist, keypoints), scale, output=f"kps_{stride}")
    declared = [  # rank 2, in SCRFD's order: insightface rewrites these shapes per detection size
        float_info(f"{kind}_{stride}", [f"anchors_{stride}", values])
        for kind, values in (("score", 1), ("bbox", 4), ("kps", 10))
        for stride in STRIDES
    ]
    return g.model("synthetic_scrfd", [float_info("input.1", [1, 3, "height", "width"])], declared)


def _orthonormal_rows(rng: np.random.Generator, rows: int) -> np.ndarray:
    """rows x 512 matrix with orthonormal rows: a Hadamard matrix's rows, shuffled, with random column signs.

    Dense and exactly orthonormal, and built without LAPACK, so it is quick and the same on every machine.
    """
    hadamard = np.ones((1, 1))
    while hadamard.shape[0] < EMBEDDING_SIZE:
        hadamard = np.block([[hadamard, hadamard], [hadamard, -hadamard]])
    signs = rng.choice([-1.0, 1.0], EMBEDDING_SIZE)
    return (hadamard[rng.permutation(EMBEDDING_SIZE)[:rows]] * signs / np.sqrt(EMBEDDING_SIZE)).astype(
        np.float32
    )


def _recognizer_model(projection: np.ndarray) -> onnx.ModelProto:
    """ArcFace-shaped recognizer: the aligned crop's code vector (see CODE_SIZE), projected."""
    g = Graph(PRODUCER)
    pooled = g.op("AveragePool", "input.1", kernel_shape=[THUMBNAIL_POOL] * 2, strides=[THUMBNAIL_POOL] * 2)
    means = g.op("ReduceMean", pooled, axes=[2, 3])
    centred = g.op("Flatten", g.op("Sub", pooled, means), axis=1)
    weighted = g.op("Mul", g.op("Flatten", means, axis=1), g.const(MEAN_WEIGHT))
    code = g.op("Pad", g.op("Concat", centred, weighted, axis=1), g.const([0, 0, 0, 1]), g.const(1.0))
    g.op("MatMul", code, g.const(projection), output="embedding")
    inputs = [float_info("input.1", ["N", 3, 112, 112])]
    return g.model("synthetic_arcface", inputs, [float_info("embedding", ["N", EMBEDDING_SIZE])])


def thumbnail_grid(g: Graph, code: str) -> str:
    """The 1x3x8x8 RGB thumbnail (0..1) a code vector (any positive multiple of one) stands for.

    The code's last value is 1 before normalisation: dividing by it undoes any scaling exactly.
    """
    scaled = g.op("Div", g.slice(code, 1, 0, CODE_SIZE - 1), g.slice(code, 1, CODE_SIZE - 1, CODE_SIZE))
    centred = g.op("Reshape", g.slice(scaled, 1, 0, THUMBNAIL_VALUES), g.const([1, 3, -1]))
    means = g.op("Div", g.slice(scaled, 1, THUMBNAIL_VALUES, THUMBNAIL_VALUES + 3), g.const(MEAN_WEIGHT))
    thumbnail = g.op("Add", centred, g.op("Reshape", means, g.const([1, 3, 1])))
    colours = g.op("Add", g.op("Mul", thumbnail, g.const(0.5)), g.const(0.5))
    return g.op("Reshape", colours, g.const([1, 3, THUMBNAIL_SIDE, THUMBNAIL_SIDE]))


def _swapper_model(projection: np.ndarray, emap: np.ndarray) -> onnx.ModelProto:
    """inswapper-shaped swapper: paints the source's decoded thumbnail over SWAP_REGION of the target."""
    g = Graph(PRODUCER)
    x1, y1, x2, y2 = SWAP_REGION
    emap_name = "emap"
    normed = g.op("Gemm", "source", emap_name, transB=1)  # latent @ emap.T: the source's normed embedding
    grid = thumbnail_grid(g, g.op("MatMul", normed, g.const(np.ascontiguousarray(projection.T))))
    scales = g.const([1.0, 1.0, (y2 - y1) / THUMBNAIL_SIDE, (x2 - x1) / THUMBNAIL_SIDE])
    face = g.op(
        "Resize",
        grid,
        "",
        scales,
        mode="nearest",
        coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
    )
    painted = g.op("Pad", face, g.const([0, 0, y1, x1, 0, 0, 128 - y2, 128 - x2]), g.const(0.0))
    region = np.zeros((1, 1, 128, 128), dtype=bool)
    region[..., y1:y2, x1:x2] = True
    g.op("Where", g.const(region), painted, "target", output="output")
    g.const(emap, name=emap_name)  # INSwapper reads emap as the last initializer
    inputs = [float_info("target", [1, 3, 128, 128]), float_info("source", [1, EMBEDDING_SIZE])]
    return g.model("synthetic_inswapper", inputs, [float_info("output", [1, 3, 128, 128])])


def write_models(directory: Path) -> ModelPaths:
    """Write buffalo_l/det_10g.onnx, buffalo_l/w600k_r50.onnx and inswapper_128.onnx under directory,
    and the optional models' stand-ins (faceswap.testing.optional)."""
    paths = ModelPaths(
        detector=directory / "buffalo_l" / "det_10g.onnx",
        recognizer=directory / "buffalo_l" / "w600k_r50.onnx",
        swapper=directory / "inswapper_128.onnx",
    )
    rng = np.random.default_rng(MODEL_SEED)
    projection, emap = _orthonormal_rows(rng, CODE_SIZE), _orthonormal_rows(rng, EMBEDDING_SIZE)
    paths.detector.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(_detector_model(), paths.detector)
    onnx.save_model(_recognizer_model(projection), paths.recognizer)
    onnx.save_model(_swapper_model(projection, emap), paths.swapper)
    write_optional_models(directory)
    write_swapper_models(directory, projection, thumbnail_grid)
    return paths


def _cell_colours(identity: int) -> np.ndarray:
    """GRIDxGRIDx3 BGR uint8 colours of one identity.

    Hues follow a gradient whose neighbouring cells differ by well under 90 degrees, so any blend of
    adjacent cells (resizing, JPEG chroma subsampling) stays far from grey and inside the detector's mask.
    """
    rng = np.random.default_rng(identity)
    centre = (identity * 137.508) % 360  # golden angle: consecutive identities get distant hues
    angle = rng.uniform(0, 2 * np.pi)
    steps = np.arange(GRID) - (GRID - 1) / 2
    gradient = 25 * (np.cos(angle) * steps[None, :] + np.sin(angle) * steps[:, None])
    hue = (centre + gradient + rng.uniform(-6, 6, (GRID, GRID))) % 360
    value = rng.uniform(0.5, 1.0, (GRID, GRID))
    hsv = np.stack([hue, np.ones_like(hue), value], axis=-1).astype(np.float32)
    return np.round(cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR) * 255).astype(np.uint8)


def face_pattern(identity: int, width: int, height: int) -> np.ndarray:
    """A width x height BGR face: a 4x4 grid of saturated colours (channel spread >= 127) for identity."""
    if width < GRID or height < GRID:
        raise ValueError(f"a face needs at least {GRID}x{GRID} pixels")
    colours = _cell_colours(identity)
    rows = np.minimum(np.arange(height) * GRID // height, GRID - 1)
    cols = np.minimum(np.arange(width) * GRID // width, GRID - 1)
    return colours[rows[:, None], cols[None, :]]


def place_faces(canvas: np.ndarray, boxes: Sequence[Box], identities: Sequence[int]) -> np.ndarray:
    """A copy of canvas with face_pattern(identity) drawn into each box (x1, y1, x2, y2; x2/y2 exclusive)."""
    if len(boxes) != len(identities):
        raise ValueError("give one identity per box")
    image = canvas.copy()
    for (x1, y1, x2, y2), identity in zip(boxes, identities, strict=True):
        image[y1:y2, x1:x2] = face_pattern(identity, x2 - x1, y2 - y1)
    return image


def layout_faces(width: int, height: int, count: int) -> list[Box]:
    """Boxes of count equal square faces in a row, left to right, sized for a 640 detector input.

    Faces are square so that their keypoints are the ArcFace template exactly: the aligned crop is the
    face and nothing else. Raises ValueError when they cannot be MIN_FACE_AT_DETECTOR pixels there.
    """
    if width < 1 or height < 1 or count < 0:
        raise ValueError("the size must be positive and the face count not negative")
    if count == 0:
        return []
    detector_scale = DETECTOR_SIDE / max(width, height)
    side = min(
        int(width / (1.25 * count + 0.25)),  # gaps of at least a quarter face between and around faces
        int(0.75 * height),
        int(MAX_FACE_AT_DETECTOR / detector_scale),
    )
    if side * detector_scale < MIN_FACE_AT_DETECTOR or side < MIN_FACE_PIXELS:
        faces = "face" if count == 1 else "faces"
        raise ValueError(
            f"{count} {faces} cannot fit in a {width}x{height} image: use a larger size or fewer faces"
        )
    gap = (width - count * side) // (count + 1)
    left = (width - count * side - (count - 1) * gap) // 2
    top = (height - side) // 2
    return [(x, top, x + side, top + side) for x in range(left, left + count * (side + gap), side + gap)]


def draw_faces(width: int, height: int, count: int, seed: int = 0) -> tuple[np.ndarray, list[Box]]:
    """A grey BGR image with count faces in a row, and their boxes left to right.

    Face i has identity seed * 1000 + i, so the seed varies the colours and never the layout.
    """
    boxes = layout_faces(width, height, count)
    canvas = np.full((height, width, 3), BACKGROUND_BGR, dtype=np.uint8)
    return place_faces(canvas, boxes, [seed * 1000 + i for i in range(count)]), boxes


def write_image(path: Path, image: np.ndarray) -> None:
    """Write a BGR image as PNG, JPEG (quality 95) or WebP (quality 95), chosen by the file extension."""
    params = IMAGE_EXTENSIONS.get(path.suffix.lower())
    if params is None:
        raise ValueError(f"use one of the extensions {', '.join(sorted(IMAGE_EXTENSIONS))}")
    ok, encoded = cv2.imencode(path.suffix.lower(), image, params)
    if not ok:
        raise ValueError(f"the image could not be encoded as {path.suffix}")
    path.write_bytes(encoded.tobytes())


def _size(text: str) -> tuple[int, int]:
    """Parse WxH."""
    width, _, height = text.lower().partition("x")
    if not (width.isdigit() and height.isdigit()) or not (
        32 <= int(width) <= 10_000 and 32 <= int(height) <= 10_000
    ):
        raise argparse.ArgumentTypeError(
            f"size {text!r} must be WxH with each side from 32 to 10000, e.g. 640x480"
        )
    return int(width), int(height)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m faceswap.testing.synthetic", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    models = commands.add_parser("models", help="write the synthetic model pack")
    models.add_argument("directory", type=Path, help="model folder (FACESWAP_MODEL_DIR)")
    image = commands.add_parser("image", help="write an image with N synthetic faces")
    image.add_argument("out", type=Path, help="output file: .png, .jpg, .jpeg or .webp")
    image.add_argument("--faces", type=int, required=True, help="number of faces (0 or more)")
    image.add_argument("--size", type=_size, default=(640, 480), help="WxH, default 640x480")
    image.add_argument("--seed", type=int, default=0, help="varies the colours, never the count")
    return parser


def _image_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.faces < 0 or args.seed < 0:
        parser.error("--faces and --seed must not be negative")
    if args.out.suffix.lower() not in IMAGE_EXTENSIONS:
        parser.error(f"the output file must end in one of {', '.join(sorted(IMAGE_EXTENSIONS))}")
    try:
        image, _ = draw_faces(*args.size, args.faces, args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_image(args.out, image)
    logger.info("wrote %s with %d faces", args.out, args.faces)


def _models_command(args: argparse.Namespace) -> None:
    paths = write_models(args.directory)
    logger.info("wrote %s, %s and %s", paths.detector, paths.recognizer, paths.swapper)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry; bad arguments exit with status 2."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.command == "models":
            _models_command(args)
        else:
            _image_command(parser, args)
    except OSError as exc:
        parser.error(f"cannot write the output: {exc.strerror}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
