"""Face restoration after the swap: GFPGAN 1.4, CodeFormer or GPEN-BFR-512, as FaceFusion runs them.

The face is aligned to the FFHQ 512 template, restored, pasted back through a box mask (plus the
occlusion mask when the request asks for it), and the pasted result mixed with the swapped frame by
`blend`. Every model takes ``input`` float32 [1,3,512,512] (RGB in -1..1) and gives the restored face
the same way as its first output; CodeFormer also takes ``weight`` (float64, [1]): its fidelity, 0 for
the strongest restoration, 1 for the closest to its input.
"""

from __future__ import annotations

import cv2
import numpy as np
import onnxruntime as ort

from faceswap.pipeline.align import estimate_similarity
from faceswap.pipeline.arrays import Frame, Matrix, Points
from faceswap.pipeline.blend import Patch

__all__ = ["ENHANCER_SIZE", "FFHQ_TEMPLATE", "align_ffhq", "mix_patch", "restore_crop"]

ENHANCER_SIZE = 512
FFHQ_TEMPLATE: Points = (
    np.array(
        [
            [0.37691676, 0.46864664],
            [0.62285697, 0.46912813],
            [0.50123859, 0.61331904],
            [0.39308822, 0.72541100],
            [0.61150205, 0.72490465],
        ],
        dtype=np.float32,
    )
    * ENHANCER_SIZE
)
"""The five keypoints (eyes, nose, mouth corners) of FaceFusion's ffhq_512 template, in pixels."""


def align_ffhq(frame: Frame, keypoints: Points) -> tuple[Frame, Matrix]:
    """The face warped onto the FFHQ 512 template (edges replicated); the crop and frame→crop matrix."""
    matrix = estimate_similarity(keypoints, FFHQ_TEMPLATE)
    size = (ENHANCER_SIZE, ENHANCER_SIZE)
    crop = cv2.warpAffine(frame, matrix, size, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    return crop, matrix


def restore_crop(session: ort.InferenceSession, crop: Frame, fidelity: float) -> Frame:
    """The model's restoration of a 512 BGR crop; `fidelity` feeds a ``weight`` input when there is one."""
    rgb = crop[:, :, ::-1].astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0)
    feeds: dict[str, np.ndarray] = {
        session.get_inputs()[0].name: np.ascontiguousarray(rgb.transpose(2, 0, 1)[None])
    }
    if any(value.name == "weight" for value in session.get_inputs()):
        feeds["weight"] = np.array([fidelity], dtype=np.float64)
    (restored,) = session.run([session.get_outputs()[0].name], feeds)
    face = (np.clip(np.asarray(restored, dtype=np.float32)[0], -1, 1) + 1) * 0.5
    return np.ascontiguousarray(np.rint(face.transpose(1, 2, 0) * 255.0)[:, :, ::-1]).astype(np.uint8)


def mix_patch(frame: Frame, patch: Patch, blend: float) -> Patch:
    """`patch` mixed with the frame region under it: `blend` of the patch, the rest of the frame."""
    height, width = patch.pixels.shape[:2]
    under = frame[patch.y : patch.y + height, patch.x : patch.x + width]
    mixed = cv2.addWeighted(under, 1.0 - blend, patch.pixels, blend, 0.0)
    return Patch(x=patch.x, y=patch.y, pixels=mixed)
