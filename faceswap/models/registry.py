"""The model slots: each file's place under the model dir, what it must look like, its published digest."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "DETECTOR",
    "GUARD_CRC32",
    "GUARD_MODEL_SPECS",
    "MODEL_SPECS",
    "OPTIONAL_MODEL_SPECS",
    "OPTIONAL_SPECS",
    "QUALITY_MODEL_SPECS",
    "RECOGNIZER",
    "SWAPPER",
    "SWAPPER_MODEL_SPECS",
    "SYNTHETIC_NOTICE",
    "SYNTHETIC_PRODUCER",
    "Commercial",
    "ModelRole",
    "ModelSpec",
    "download_command",
    "optional_spec",
]

ModelRole = Literal[
    "detector", "recognizer", "swapper", "converter", "enhancer", "occluder", "parser", "guard"
]
Commercial = Literal["yes", "no", "unclear"]

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
    size: int | None
    """Exact bytes of the official file, where independent public manifests agree on them."""
    sha256: str | None
    name: str = ""
    """For an optional model: its name in `download --with` and in requests."""
    licence: str = ""
    commercial: Commercial = "unclear"
    """Whether the weights' licence allows commercial use, as far as it is published."""
    crc32: str | None = None
    """FaceFusion's published CRC32 (its `.hash` file), the check when no SHA-256 is agreed."""
    approx_size: int | None = None
    """Bytes as public listings round them, when the exact size is not agreed."""
    release: str = "models-3.0.0"
    """FaceFusion's release tag of an optional model's file."""
    crop: int | None = None
    """A swapper's own crop side (its output's height and width)."""

    @property
    def verification(self) -> Literal["sha256", "crc32", "structure"]:
        """How a fetched file is checked beyond its ONNX structure."""
        return "sha256" if self.sha256 else "crc32" if self.crc32 else "structure"


_INSIGHTFACE = "InsightFace: non-commercial research use only"

# Size and SHA-256 of the official files (the insightface v0.7 buffalo_l pack and inswapper_128.onnx),
# as published and cross-checked in several independent projects' download manifests.
DETECTOR = ModelSpec(
    "detector",
    "buffalo_l/det_10g.onnx",
    "face detector",
    "1 input Nx3xHxW and 6, 9, 10 or 15 outputs",
    16_923_827,
    "5838f7fe053675b1c7a08b633df49e7af5495cee0493c7dcf6697200b85b5b91",
    licence=_INSIGHTFACE,
    commercial="no",
)
RECOGNIZER = ModelSpec(
    "recognizer",
    "buffalo_l/w600k_r50.onnx",
    "face recognizer",
    "1 input Nx3x112x112 and 1 output Nx512",
    174_383_860,
    "4c06341c33c2ca1f86781dab0e829f88ad5b64be9fba56e56bc9ebdefc619e43",
    licence=_INSIGHTFACE,
    commercial="no",
)
SWAPPER = ModelSpec(
    "swapper",
    "inswapper_128.onnx",
    "face swapper",
    "inputs 1x3x128x128 and 1x512, 1 output 1x3x128x128 and a 512x512 emap as its last initializer",
    554_253_681,
    "e4a3f08c753cb72d04e10aa0f7dbe3deebbf39567d4ead6dce08e98aa49e16af",
    name="inswapper_128",
    licence=_INSIGHTFACE,
    commercial="no",
    crop=128,
)
MODEL_SPECS: tuple[ModelSpec, ...] = (DETECTOR, RECOGNIZER, SWAPPER)

# The quality options' models, as FaceFusion publishes them (facefusion-assets, models-3.0.0 and, for
# xseg_1, models-3.1.0). Sizes and SHA-256 digests agree across several public download manifests.
_ENHANCER_SHAPE = "input 1x3x512x512 (RGB, -1..1) and output 1x3x512x512"
QUALITY_MODEL_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "enhancer",
        "enhancers/gfpgan_1.4.onnx",
        "face enhancer GFPGAN 1.4",
        _ENHANCER_SHAPE,
        340_299_087,
        "accc4757b26bdb89b32b4d3500d4f79c9dff97c1dd7c7104bf9dcb95e3311385",
        "gfpgan_1.4",
        licence="Apache-2.0, its StyleGAN2 and DFDNet parts non-commercial (NVIDIA; CC BY-NC-SA 4.0)",
        commercial="no",
    ),
    ModelSpec(
        "enhancer",
        "enhancers/codeformer.onnx",
        "face enhancer CodeFormer",
        f"{_ENHANCER_SHAPE}, plus a float64 weight input",
        376_951_650,
        "21710e7ab61c82683576c428e9c1b6fe1ed419586b7b39e394c3449c294b550f",
        "codeformer",
        licence="S-Lab License 1.0: non-commercial; commercial use needs the authors' permission",
        commercial="no",
    ),
    ModelSpec(
        "enhancer",
        "enhancers/gpen_bfr_512.onnx",
        "face enhancer GPEN-BFR-512",
        _ENHANCER_SHAPE,
        284_340_240,
        "d5f066b9068a8b74217f9712e28e875a6144629b108a6f7355acbdb3a2832c54",
        "gpen_bfr_512",
        licence="academic and non-commercial use only",
        commercial="no",
    ),
    ModelSpec(
        "occluder",
        "masks/xseg_1.onnx",
        "occlusion mask's occluder (XSeg)",
        "input 1x256x256x3 (NHWC) and output 1x256x256x1",
        70_324_286,
        "c4d1498b8a03b5fe2a3a5d2ef2a0402ab03bd51edaf5b2d8d5fb764702a97dd3",
        "xseg_1",
        licence="GPL-3.0 (DeepFaceLab)",
        commercial="yes",
        release="models-3.1.0",
    ),
    ModelSpec(
        "parser",
        "masks/bisenet_resnet_34.onnx",
        "region mask's face parser (BiSeNet)",
        "input Nx3x512x512 and a first output Nx19x512x512",
        93_632_546,
        "4a0b8c958a3c938913bd06a8365dbb3c8761afba6ecbf0d14b3b1f77eb230c96",
        "bisenet_resnet_34",
        licence="MIT",
        commercial="yes",
    ),
)


def _swapper(
    name: str, label: str, crop: int, source: str, licence: str, commercial: Commercial, **facts: Any
) -> ModelSpec:
    return ModelSpec(
        "swapper",
        f"swappers/{name}.onnx",
        f"face swapper {label}",
        f"inputs target 1x3x{crop}x{crop} and source {source}, output 0 1x3x{crop}x{crop}",
        facts.pop("size", None),
        facts.pop("sha256", None),
        name,
        licence,
        commercial,
        crop=crop,
        **facts,
    )


def _converter(name: str, **facts: Any) -> ModelSpec:
    return ModelSpec(
        "converter",
        f"swappers/{name}.onnx",
        f"identity converter {name}",
        "input 1x512 and output 1x512",
        facts.pop("size", None),
        facts.pop("sha256", None),
        name,
        "OpenRAIL-MS (named by FaceFusion; no text published)",
        "unclear",
        release="models-3.4.0",
        **facts,
    )


_HYPERSWAP = "ResearchRAIL-MS (named by FaceFusion; no text published)"
_HYPERSWAP_BYTES = 402_742_682
_GHOST = "Apache-2.0 (ai-forever/ghost)"
_SIMSWAP = "CC BY-NC 4.0 (neuralchen/SimSwap)"
_UNIFACE = "none published (xc-csc101/UniFace: weights on request only)"
_IDENTITY = "1x512"

# The swappers beside inswapper_128 and the converters three of them need, as FaceFusion publishes them.
# SHA-256 where at least two independent public download manifests agree on it, else FaceFusion's CRC32
# as quoted publicly, else the structural check only (swapper-notes.md §6; README "Swappers").
SWAPPER_MODEL_SPECS: tuple[ModelSpec, ...] = (
    *(
        _swapper(
            f"hyperswap_1{variant}_256",
            f"HyperSwap 1{variant}",
            256,
            _IDENTITY,
            _HYPERSWAP,
            "unclear",
            size=_HYPERSWAP_BYTES,
            sha256=sha256,
            crc32=crc32,
            release="models-3.3.0",
        )
        for variant, sha256, crc32 in (
            ("a", "c0e98a8a03a238f461ed3d2570e426b49f46745ee400854a60dceeb70c246add", "79e50d4b"),
            ("b", "5124031789c42f71b9558fb71954ef7aedb6da7ed9fac79293e23c61a792a73e", "36312901"),
            ("c", "5528c2d76fe9986c99d829278987ef9f3a630cb606db7628d02b57b330f406a5", "83c5ce36"),
        )
    ),
    _swapper(
        "ghost_1_256", "GHOST 1", 256, _IDENTITY, _GHOST, "yes", crc32="53447f7f", approx_size=514_900_000
    ),
    _swapper("ghost_2_256", "GHOST 2", 256, _IDENTITY, _GHOST, "yes", approx_size=738_700_000),
    _swapper("ghost_3_256", "GHOST 3", 256, _IDENTITY, _GHOST, "yes", approx_size=855_500_000),
    _swapper("simswap_256", "SimSwap 256", 256, _IDENTITY, _SIMSWAP, "no", approx_size=220_400_000),
    _swapper(
        "simswap_unofficial_512",
        "SimSwap 512 (unofficial)",
        512,
        _IDENTITY,
        _SIMSWAP,
        "no",
        approx_size=239_249_034,
    ),
    _swapper("uniface_256", "UniFace", 256, "1x3x256x256", _UNIFACE, "unclear", approx_size=406_964_143),
    _converter("crossface_ghost", crc32="6cabb296", approx_size=22_100_000),
    _converter("crossface_simswap", approx_size=22_083_800),
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
        licence="Apache-2.0 (EraX), a fine-tune of Ultralytics YOLO11 (AGPL-3.0 or a paid licence)",
        commercial="unclear",
    ),
    ModelSpec(
        "guard",
        "guard/nsfw_2.onnx",
        "content guard's nsfw_2 classifier (Marqo, ViT-tiny)",
        "input 1x3x384x384 and output 1x2",
        22_489_928,
        None,
        "nsfw_2",
        licence="Apache-2.0 (Marqo)",
        commercial="yes",
    ),
    ModelSpec(
        "guard",
        "guard/nsfw_3.onnx",
        "content guard's nsfw_3 classifier (Freepik, EVA-02)",
        "input 1x3x448x448 and output 1x4",
        358_188_033,
        None,
        "nsfw_3",
        licence="MIT (Freepik)",
        commercial="yes",
    ),
)
GUARD_CRC32: dict[str, str] = {"nsfw_1": "f602d1c5", "nsfw_2": "c7fa5fe2", "nsfw_3": "633a3b02"}
"""The CRC32 FaceFusion publishes beside each guard model (its `.hash` files)."""

OPTIONAL_MODEL_SPECS: tuple[ModelSpec, ...] = (*QUALITY_MODEL_SPECS, *SWAPPER_MODEL_SPECS)
OPTIONAL_SPECS: dict[str, ModelSpec] = {
    spec.name: spec for spec in (*OPTIONAL_MODEL_SPECS, *GUARD_MODEL_SPECS)
}


def optional_spec(name: str) -> ModelSpec:
    """The optional model called `name` (KeyError when there is none)."""
    return OPTIONAL_SPECS[name]


def download_command(model_dir: Path) -> str:
    """The command that fetches the model files into `model_dir`."""
    return f"python -m faceswap.models download --dir {shlex.quote(str(model_dir))}"
