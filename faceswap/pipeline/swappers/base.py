"""What every swapper shares: its facts, the identity it is given, one forward pass, identity strength.

A swapper model is data (crop side, template, normalisation, output handling, the converter it needs);
a family adds the recipe of its `source` input (faceswap.pipeline.swappers.<family>). The forward pass
is FaceFusion's (`prepare_crop_frame`, `forward_swap_face`, `normalize_crop_frame`): the crop as RGB
0..1, `(x - mean) / std`, NCHW float32 as `target`; the source vector or image as `source`; output 0,
de-normalised (`x * std + mean`) only for the families whose output is in the input's range, then
clipped to 0..1 and rounded to BGR uint8.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import onnxruntime as ort

from faceswap.constants import CUDA_PROVIDER
from faceswap.pipeline.arrays import Frame
from faceswap.pipeline.boost import boost_sizes

__all__ = [
    "DEFAULT_WEIGHT",
    "Family",
    "Identity",
    "LoadedSwapper",
    "SourceKind",
    "SwapperModel",
    "balance",
    "convert",
    "normalised",
    "run_swapper",
    "weight_shift",
]

DEFAULT_WEIGHT = 0.5
WEIGHT_SPAN = 0.35
SourceKind = Literal["latent", "embedding", "converted", "image"]


@dataclass(frozen=True)
class SwapperModel:
    """One swapper file's contract: its crop, template, normalisation, source kind and output handling."""

    name: str
    family: str
    crop: int
    template: str
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    denormalise: bool = False
    source: SourceKind = "embedding"
    converter: str | None = None

    @property
    def boost_sizes(self) -> tuple[int, ...]:
        """The pixel boost sides it takes: multiples of its own crop, up to 1024."""
        return boost_sizes(self.crop)

    @property
    def takes_identity(self) -> bool:
        """Whether its source is an identity vector (so identity strength applies)."""
        return self.source != "image"


@dataclass(frozen=True)
class Identity:
    """The source identity as the recipes read it (FaceFusion's `embedding` and `embedding_norm`).

    `normed` is the L2-normalised embedding (with several photos: the mean of theirs, not re-normalised),
    `raw` the recognizer's output (the mean of theirs), `portrait` the first photo's face aligned for the
    swappers that take an image (None unless asked for).
    """

    normed: np.ndarray
    raw: np.ndarray
    portrait: Frame | None = None


@dataclass(frozen=True)
class LoadedSwapper:
    """A swapper's session with what its recipe needs: inswapper's emap, the converter's session."""

    model: SwapperModel
    session: ort.InferenceSession
    input_names: list[str]
    emap: np.ndarray | None = None
    converter: ort.InferenceSession | None = None


@dataclass(frozen=True)
class Family:
    """A swapper family's recipes: its `source` input, and the target vector identity strength mixes in."""

    name: str
    models: tuple[SwapperModel, ...]
    source_input: Callable[[Identity, LoadedSwapper], np.ndarray]
    target_vector: Callable[[np.ndarray], np.ndarray] | None


def normalised(vector: np.ndarray) -> np.ndarray:
    """`vector / ||vector||` in float32 (unchanged when it is zero)."""
    vector = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / np.float32(norm) if norm > 0 else vector


def convert(converter: ort.InferenceSession, raw: np.ndarray) -> np.ndarray:
    """A CrossFace converter's output for an ArcFace embedding, raveled (`convert_source_embedding`)."""
    name = converter.get_inputs()[0].name
    (output,) = converter.run(None, {name: np.asarray(raw, dtype=np.float32).reshape(1, -1)})[:1]
    return np.asarray(output, dtype=np.float32).ravel()


def weight_shift(weight: float) -> np.float32:
    """FaceFusion's `numpy.interp(weight, [0, 1], [0.35, -0.35])`: 0 at the default weight 0.5."""
    return np.float32(np.interp(weight, [0.0, 1.0], [WEIGHT_SPAN, -WEIGHT_SPAN]))


def balance(source: np.ndarray, target: np.ndarray, weight: float) -> np.ndarray:
    """Identity strength: `source·(1 - w') + target·w'`; weight 0 pulls 35 % towards the target face's own
    vector, 1 pushes 35 % away from it, 0.5 returns `source` itself."""
    if weight == DEFAULT_WEIGHT:
        return source
    shift = weight_shift(weight)
    mixed = source.reshape(1, -1) * (np.float32(1.0) - shift) + target.reshape(1, -1) * shift
    return mixed.astype(np.float32)


def _target_blob(model: SwapperModel, crop: Frame) -> np.ndarray:
    rgb = crop[:, :, ::-1].astype(np.float32) / np.float32(255.0)
    mean, std = np.asarray(model.mean, dtype=np.float32), np.asarray(model.std, dtype=np.float32)
    return np.ascontiguousarray(((rgb - mean) / std).transpose(2, 0, 1)[None], dtype=np.float32)


def _output_frame(model: SwapperModel, prediction: np.ndarray) -> Frame:
    image = np.asarray(prediction[0], dtype=np.float32).transpose(1, 2, 0)
    if model.denormalise:
        image = image * np.asarray(model.std, dtype=np.float32) + np.asarray(model.mean, dtype=np.float32)
    rgb = np.clip(image, 0.0, 1.0) * np.float32(255.0)
    return np.ascontiguousarray(np.rint(rgb)[:, :, ::-1]).astype(np.uint8)


def run_swapper(
    loaded: LoadedSwapper, crop: Frame, source: np.ndarray, run_options: ort.RunOptions | None = None
) -> Frame:
    """One forward pass on a crop of the model's side: `target` and `source` bound by name, output 0 read."""
    session = loaded.session
    binding = session.io_binding()
    binding.bind_cpu_input("target", _target_blob(loaded.model, crop))
    binding.bind_cpu_input("source", np.ascontiguousarray(source, dtype=np.float32))
    device = "cuda" if session.get_providers()[0] == CUDA_PROVIDER else "cpu"
    binding.bind_output(session.get_outputs()[0].name, device)
    for extra in session.get_outputs()[1:]:
        binding.bind_output(extra.name, device)
    session.run_with_iobinding(binding, run_options)
    prediction = binding.copy_outputs_to_cpu()[0]
    return _output_frame(loaded.model, prediction)
