"""The model slots: each file's place under the model dir, what it must look like, its published digest."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = [
    "DETECTOR",
    "MODEL_SPECS",
    "RECOGNIZER",
    "SWAPPER",
    "SYNTHETIC_NOTICE",
    "SYNTHETIC_PRODUCER",
    "ModelRole",
    "ModelSpec",
    "download_command",
]

ModelRole = Literal["detector", "recognizer", "swapper"]

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
    sha256: str


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


def download_command(model_dir: Path) -> str:
    """The command that fetches the model files into `model_dir`."""
    return f"python -m faceswap.models download --dir {shlex.quote(str(model_dir))}"
