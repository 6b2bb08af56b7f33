"""The source identity: the recognizer's embedding of an aligned face, and the swapper's latent from it."""

from __future__ import annotations

from typing import Any

import numpy as np

from faceswap.pipeline.align import align_face
from faceswap.pipeline.arrays import Frame
from faceswap.pipeline.detect import Face

__all__ = ["RECOGNITION_CROP", "embed_face", "embed_face_raw", "identity_latent", "normalise_embedding"]

RECOGNITION_CROP = 112


def embed_face_raw(recognizer: Any, frame: Frame, face: Face) -> np.ndarray:
    """The recognizer's own output for `face` (float32, 512; FaceFusion's `embedding`)."""
    crop, _ = align_face(frame, face.keypoints, RECOGNITION_CROP)
    return np.asarray(recognizer.get_feat(crop), dtype=np.float32).ravel()


def embed_face(recognizer: Any, frame: Frame, face: Face) -> np.ndarray:
    """The L2-normalised identity embedding of `face` (float32, 512)."""
    return normalise_embedding(embed_face_raw(recognizer, frame, face))


def normalise_embedding(embedding: np.ndarray) -> np.ndarray:
    """`embedding / ||embedding||`, as insightface's `normed_embedding` computes it."""
    norm = float(np.linalg.norm(embedding))
    return embedding / norm if norm > 0 else embedding


def identity_latent(embedding: np.ndarray, emap: np.ndarray) -> np.ndarray:
    """The swapper's `source` input: the embedding through `emap`, normalised (1x512 float32)."""
    latent = embedding.reshape(1, -1) @ emap
    latent /= np.linalg.norm(latent)
    return latent.astype(np.float32)
