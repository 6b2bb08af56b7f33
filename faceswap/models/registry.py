"""The model slots: each file's place under the model dir, what it must look like, its published digest."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = [
    "DETECTOR",
    "GUARD_CRC32",
    "GUARD_MODEL_SPECS",
    "MODEL_SPECS",
    "OPTIONAL_MODEL_SPECS",
    "OPTIONAL_SPECS",
    "RECOGNIZER",
    "SWAPPER",
    "SYNTHETIC_NOTICE",
    "SYNTHETIC_PRODUCER",
    "ModelRole",
    "ModelSpec",
    "download_command",
    "optional_spec",
]

ModelRole = Literal["detector", "recognizer", "swapper", "enhancer", "occluder", "parser", "guard"]

SYNTHETIC_PRODUCER = "faceswap.testing.synthetic"
"""The ONNX producer name of the synthetic pack's files, by which a loaded pack is recognised."""
SYNTHETIC_NOTICE = "synthetic test models: swaps prove plumbing only"


@dataclass(frozen=True)
class ModelSpec:
    """One model slot: its file under the model dir and the official file's published size and SHA-256."""

    role: ModelRole
    path: str
    label: str
    shape: str
    size: int
    sha256: str | None
    name: str = ""
    """For an optional model: its name in `download --with` and in requests."""


# Size and SHA-256 of the official files (the insightface v0.7 buffalo_l pack and inswapper_128.onnx),
# as published and cross-checked in several independent projects' download manifests.
DETECTOR = ModelSpec(
    "detector",
    "buffalo_l/det_10g.onnx",
    "face detector",
    "1 input Nx3xHxW and 6, 9, 10 or 15 outputs",
    16_923_827,
    "5838f7fe053675b1c7a08b633df49e7af5495cee0493c7dcf6697200b85b5b91",
)
RECOGNIZER = ModelSpec(
    "recognizer",
    "buffalo_l/w600k_r50.onnx",
    "face recognizer",
    "1 input Nx3x112x112 and 1 output Nx512",
    174_383_860,
    "4c06341c33c2ca1f86781dab0e829f88ad5b64be9fba56e56bc9ebdefc619e43",
)
SWAPPER = ModelSpec(
    "swapper",
    "inswapper_128.onnx",
    "face swapper",
    "inputs 1x3x128x128 and 1x512, 1 output 1x3x128x128 and a 512x512 emap as its last initializer",
    554_253_681,
    "e4a3f08c753cb72d04e10aa0f7dbe3deebbf39567d4ead6dce08e98aa49e16af",
)
MODEL_SPECS: tuple[ModelSpec, ...] = (DETECTOR, RECOGNIZER, SWAPPER)

# The quality options' models, as FaceFusion publishes them (facefusion-assets, models-3.0.0 and, for
# xseg_1, models-3.1.0). Sizes and SHA-256 digests agree across several public download manifests.
_ENHANCER_SHAPE = "input 1x3x512x512 (RGB, -1..1) and output 1x3x512x512"
OPTIONAL_MODEL_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "enhancer",
        "enhancers/gfpgan_1.4.onnx",
        "face enhancer GFPGAN 1.4",
        _ENHANCER_SHAPE,
        340_299_087,
        "accc4757b26bdb89b32b4d3500d4f79c9dff97c1dd7c7104bf9dcb95e3311385",
        "gfpgan_1.4",
    ),
    ModelSpec(
        "enhancer",
        "enhancers/codeformer.onnx",
        "face enhancer CodeFormer",
        f"{_ENHANCER_SHAPE}, plus a float64 weight input",
        376_951_650,
        "21710e7ab61c82683576c428e9c1b6fe1ed419586b7b39e394c3449c294b550f",
        "codeformer",
    ),
    ModelSpec(
        "enhancer",
        "enhancers/gpen_bfr_512.onnx",
        "face enhancer GPEN-BFR-512",
        _ENHANCER_SHAPE,
        284_340_240,
        "d5f066b9068a8b74217f9712e28e875a6144629b108a6f7355acbdb3a2832c54",
        "gpen_bfr_512",
    ),
    ModelSpec(
        "occluder",
        "masks/xseg_1.onnx",
        "occlusion mask's occluder (XSeg)",
        "input 1x256x256x3 (NHWC) and output 1x256x256x1",
        70_324_286,
        "c4d1498b8a03b5fe2a3a5d2ef2a0402ab03bd51edaf5b2d8d5fb764702a97dd3",
        "xseg_1",
    ),
    ModelSpec(
        "parser",
        "masks/bisenet_resnet_34.onnx",
        "region mask's face parser (BiSeNet)",
        "input Nx3x512x512 and a first output Nx19x512x512",
        93_632_546,
        "4a0b8c958a3c938913bd06a8365dbb3c8761afba6ecbf0d14b3b1f77eb230c96",
        "bisenet_resnet_34",
    ),
)


# The content guard's NSFW classifiers, FaceFusion's models-3.3.0 release (guard-notes.md has their
# origins and licences). FaceFusion publishes sizes and CRC32s, no SHA-256: the guard checks the CRC32.
GUARD_MODEL_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "guard",
        "guard/nsfw_1.onnx",
        "content guard's nsfw_1 classifier (EraX, YOLO11m)",
        "input 1x3x640x640 (RGB, 0..1) and output 1x9x8400",
        80_414_194,
        None,
        "nsfw_1",
    ),
    ModelSpec(
        "guard",
        "guard/nsfw_2.onnx",
        "content guard's nsfw_2 classifier (Marqo, ViT-tiny)",
        "input 1x3x384x384 and output 1x2",
        22_489_928,
        None,
        "nsfw_2",
    ),
    ModelSpec(
        "guard",
        "guard/nsfw_3.onnx",
        "content guard's nsfw_3 classifier (Freepik, EVA-02)",
        "input 1x3x448x448 and output 1x4",
        358_188_033,
        None,
        "nsfw_3",
    ),
)
GUARD_CRC32: dict[str, str] = {"nsfw_1": "f602d1c5", "nsfw_2": "c7fa5fe2", "nsfw_3": "633a3b02"}
"""The CRC32 FaceFusion publishes beside each guard model (its `.hash` files)."""

OPTIONAL_SPECS: dict[str, ModelSpec] = {
    spec.name: spec for spec in (*OPTIONAL_MODEL_SPECS, *GUARD_MODEL_SPECS)
}


def optional_spec(name: str) -> ModelSpec:
    """The optional model called `name` (KeyError when there is none)."""
    return OPTIONAL_SPECS[name]


def download_command(model_dir: Path) -> str:
    """The command that fetches the model files into `model_dir`."""
    return f"python -m faceswap.models download --dir {shlex.quote(str(model_dir))}"
