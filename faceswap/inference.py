"""The two model forwards a swap needs beyond detection: embed the source face, swap the target crop."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnxruntime as ort

from faceswap.align import align_face
from faceswap.arrays import Frame
from faceswap.faces import Face

__all__ = ["SWAP_CROP", "embed_face", "identity_latent", "shrink_arena_options", "swap_crop"]

SWAP_CROP = 128
RECOGNITION_CROP = 112


def embed_face(recognizer: Any, frame: Frame, face: Face) -> np.ndarray:
    """The L2-normalised identity embedding of `face` (float32, 512)."""
    crop, _ = align_face(frame, face.keypoints, RECOGNITION_CROP)
    embedding = np.asarray(recognizer.get_feat(crop), dtype=np.float32).ravel()
    norm = float(np.linalg.norm(embedding))
    return embedding / norm if norm > 0 else embedding


def identity_latent(embedding: np.ndarray, emap: np.ndarray) -> np.ndarray:
    """The swapper's `source` input: the embedding through `emap`, normalised (1x512 float32)."""
    latent = embedding.reshape(1, -1) @ emap
    latent /= np.linalg.norm(latent)
    return latent.astype(np.float32)


def shrink_arena_options(providers: tuple[str, ...]) -> ort.RunOptions:
    """Run options that hand the arena's unused memory back to the device after the run."""
    devices = "gpu:0" if "CUDAExecutionProvider" in providers else "cpu:0"
    options = ort.RunOptions()
    options.add_run_config_entry("memory.enable_memory_arena_shrinkage", devices)
    return options


def swap_crop(
    session: ort.InferenceSession,
    input_names: list[str],
    crop: Frame,
    latent: np.ndarray,
    run_options: ort.RunOptions | None = None,
) -> Frame:
    """Run the swapper on a 128x128 BGR crop; returns the swapped crop, BGR uint8.

    Through IO binding, with the output allocated on the session's own device: on CUDA that spares
    ONNX Runtime a synchronising copy per run (3.1 to 2.8 ms per forward on an H200, gpu.md).
    """
    blob = np.ascontiguousarray(crop[:, :, ::-1].transpose(2, 0, 1)[None], dtype=np.float32)
    blob *= 1.0 / 255.0
    binding = session.io_binding()
    binding.bind_cpu_input(input_names[0], blob)
    binding.bind_cpu_input(input_names[1], np.ascontiguousarray(latent, dtype=np.float32))
    device = "cuda" if session.get_providers()[0] == "CUDAExecutionProvider" else "cpu"
    binding.bind_output(session.get_outputs()[0].name, device)
    session.run_with_iobinding(binding, run_options)
    (prediction,) = binding.copy_outputs_to_cpu()
    rgb = np.clip(np.asarray(prediction[0], dtype=np.float32).transpose(1, 2, 0) * 255.0, 0, 255)
    return np.ascontiguousarray(np.rint(rgb)[:, :, ::-1]).astype(np.uint8)
