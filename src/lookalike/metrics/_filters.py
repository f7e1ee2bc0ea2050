"""Windows and resampling written the way the MATLAB reference code does them.

Private helpers shared by SSIM and MS-SSIM. OpenCV is imported inside the
functions that need it, so ``import lookalike`` stays light.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

#: A 2-D filter ``filt(image, out)`` writing a float64 array of the image's shape into ``out``.
Filter = Callable[[np.ndarray, np.ndarray], np.ndarray]


def gaussian_kernel(size: int, sigma: float) -> np.ndarray:
    """1-D Gaussian window as MATLAB's ``fspecial('gaussian', size, sigma)`` builds it.

    ``exp(-x^2 / (2 sigma^2))`` for ``x = -(size-1)/2 .. (size-1)/2``, values
    below ``eps * max`` set to zero, normalised to sum 1. The outer product of
    this vector with itself is ``fspecial``'s 2-D window (and MATLAB's
    ``imgaussfilt`` kernel of the same size).
    """
    half = (size - 1) / 2.0
    x = np.arange(size, dtype=np.float64) - half
    kernel = np.exp(-(x * x) / (2.0 * sigma * sigma))
    kernel[kernel < np.finfo(np.float64).eps * kernel.max()] = 0.0
    return kernel / kernel.sum()


def separable_filter(kernel: np.ndarray) -> Filter:
    """Correlate with ``kernel`` along both axes (float64, OpenCV).

    Output has the input's shape; only the interior more than ``len(kernel)//2``
    pixels from the border is meaningful (callers crop it: 'valid' filtering).
    """
    column = np.ascontiguousarray(kernel, dtype=np.float64).reshape(-1, 1)

    def apply(image: np.ndarray, out: np.ndarray) -> np.ndarray:
        import cv2

        return cv2.sepFilter2D(image, cv2.CV_64F, column, column, dst=out, borderType=cv2.BORDER_REPLICATE)

    return apply


def box_filter(size: int) -> Filter:
    """Mean over a ``size`` x ``size`` window (float64, OpenCV); interior only is meaningful."""

    def apply(image: np.ndarray, out: np.ndarray) -> np.ndarray:
        import cv2

        return cv2.boxFilter(
            image,
            cv2.CV_64F,
            (size, size),
            dst=out,
            normalize=True,
            borderType=cv2.BORDER_REPLICATE,
        )

    return apply


def matlab_round(value: float) -> int:
    """MATLAB's ``round``: halves go away from zero (Python's ``round`` goes to even)."""
    return math.floor(abs(value) + 0.5) * (1 if value >= 0 else -1)


def _symmetric_index(index: np.ndarray, length: int) -> np.ndarray:
    """Map indices outside ``0..length-1`` as MATLAB's 'symmetric' padding does (edge repeated)."""
    period = 2 * length
    index = np.mod(index, period)
    return np.where(index < length, index, period - 1 - index)


def box_downsample(image: np.ndarray, factor: int) -> np.ndarray:
    """``imfilter(img, ones(f)/f^2, 'symmetric', 'same')`` then ``img(1:f:end, 1:f:end)``.

    MATLAB centres an f-tap kernel on tap ``floor((f+1)/2)``, so output sample
    ``i`` averages input ``f*i - o .. f*i - o + f - 1`` with ``o = floor((f-1)/2)``
    (f = 2: plain 2x2 block means). Beyond the border the image is mirrored
    with its edge repeated ('symmetric'). Returns float64 of size
    ``ceil(H/f) x ceil(W/f)``. This is the downsampling of Wang's ``ssim.m``
    (2009) and ``msssim.m``.
    """
    image = np.asarray(image, dtype=np.float64)
    if factor == 1:
        return image
    offset = (factor - 1) // 2
    out = image
    for axis in (0, 1):
        length = out.shape[axis]
        n_out = -(-length // factor)
        index = np.arange(n_out * factor) - offset
        if index[0] < 0 or index[-1] >= length:  # else the phases tile the axis exactly
            out = np.take(out, _symmetric_index(index, length), axis=axis)
        # Sum the f phases with strided slices (much faster than reshape + sum over a short axis).
        if axis == 0:
            total = out[0::factor] + out[1::factor]
            for k in range(2, factor):
                total += out[k::factor]
        else:
            total = out[:, 0::factor] + out[:, 1::factor]
            for k in range(2, factor):
                total += out[:, k::factor]
        out = total
    out *= 1.0 / (factor * factor)
    return out
