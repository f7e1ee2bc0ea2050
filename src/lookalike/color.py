"""Colour conversions written once, the way the reference implementations do them.

Arrays are (H, W, 3), RGB, channels last.
"""

from __future__ import annotations

import numpy as np

__all__ = ["rgb2gray", "rgb2yiq"]

# First row of inv([1 0.956 0.621; 1 -0.272 -0.647; 1 -1.106 1.703]): MATLAB's rgb2gray weights.
_MATLAB_GRAY = np.array([0.298936021293776, 0.587043074451121, 0.114020904255103])

# The NTSC YIQ matrix used by Zhang's FeatureSIM.m (and GMSD/others from PolyU).
_YIQ = np.array(
    [
        [0.299, 0.587, 0.114],
        [0.596, -0.274, -0.322],
        [0.211, -0.523, 0.312],
    ]
)


def rgb2gray(image: np.ndarray) -> np.ndarray:
    """Luma as MATLAB's ``rgb2gray`` computes it.

    Integer input gives the same integer type, rounded half away from zero as
    MATLAB does when it casts to an integer class; float input gives float64.

    Examples
    --------
    >>> import numpy as np
    >>> rgb2gray(np.array([[[255, 0, 0]]], dtype=np.uint8))
    array([[76]], dtype=uint8)
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"rgb2gray expects an (H, W, 3) array, got shape {image.shape}")
    # Planar weighted sums: twice as fast as ``image @ weights`` on (H, W, 3) and the same values.
    w = _MATLAB_GRAY
    y = image[..., 0] * w[0]
    y += image[..., 1] * w[1]
    y += image[..., 2] * w[2]
    if image.dtype.kind in "ui":
        info = np.iinfo(image.dtype)
        y += 0.5
        np.floor(y, out=y)
        np.clip(y, info.min, info.max, out=y)
        return y.astype(image.dtype)
    return y


def rgb2yiq(image: np.ndarray) -> np.ndarray:
    """NTSC YIQ as float64 (H, W, 3), in the input's units (no rescaling).

    Examples
    --------
    >>> import numpy as np
    >>> yiq = rgb2yiq(np.full((1, 1, 3), 100.0))  # a grey pixel has no chroma
    >>> [round(float(v), 6) + 0.0 for v in yiq[0, 0]]
    [100.0, 0.0, 0.0]
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"rgb2yiq expects an (H, W, 3) array, got shape {image.shape}")
    return image.astype(np.float64) @ _YIQ.T
