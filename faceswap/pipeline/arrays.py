"""Names for the arrays that flow between pipeline stages."""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
from numpy.typing import NDArray

__all__ = ["Frame", "Mask", "Matrix", "Points"]

Frame: TypeAlias = NDArray[np.uint8]
"""An image, HxWx3 BGR uint8."""

Mask: TypeAlias = NDArray[np.float32]
"""Blend weights in 0..1, HxW float32."""

Matrix: TypeAlias = NDArray[np.float64]
"""A 2x3 affine transform from frame to crop coordinates."""

Points: TypeAlias = NDArray[np.float32]
"""Nx2 (x, y) coordinates."""
