"""Mean squared error and PSNR, over every channel, in float64 (never uint8 arithmetic)."""

from __future__ import annotations

import math

import numpy as np

from lookalike.metrics._registry import register
from lookalike.metrics._util import check_pair, infer_data_range


def _squared_error_mean(image0: np.ndarray, image1: np.ndarray) -> float:
    a = image0.astype(np.float64, copy=False)
    b = image1.astype(np.float64, copy=False)
    diff = a - b
    flat = diff.reshape(-1)
    return float(np.dot(flat, flat) / flat.size)


@register("mse", higher_is_better=False, identity=0.0, bounds=(0.0, math.inf), symmetric=True)
def mse(image0: np.ndarray, image1: np.ndarray) -> float:
    """Mean squared error over all pixels and channels (MATLAB ``immse``).

    Computed in float64, so uint8 input never wraps around. The value is in
    squared input units (0-255 images give 0..65025).

    Examples
    --------
    >>> import numpy as np
    >>> mse(np.zeros((2, 2), np.uint8), np.full((2, 2), 3, np.uint8))
    9.0
    """
    image0, image1 = check_pair(image0, image1)
    return _squared_error_mean(image0, image1)


@register("rmse", higher_is_better=False, identity=0.0, bounds=(0.0, math.inf), symmetric=True)
def rmse(image0: np.ndarray, image1: np.ndarray) -> float:
    """Root mean squared error over all pixels and channels, in input units.

    Examples
    --------
    >>> import numpy as np
    >>> rmse(np.zeros((2, 2), np.uint8), np.full((2, 2), 3, np.uint8))
    3.0
    """
    return math.sqrt(mse(image0, image1))


@register("psnr", higher_is_better=True, identity=math.inf, bounds=(0.0, math.inf), symmetric=True)
def psnr(image0: np.ndarray, image1: np.ndarray, *, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB: ``10 log10(L^2 / MSE)`` over all channels.

    Reproduces MATLAB's ``psnr`` and scikit-image's ``peak_signal_noise_ratio``.
    ``L`` (``data_range``) is inferred from integer dtypes (uint8 -> 255, uint16
    -> 65535) and required for float input. Identical images give ``inf``.

    Examples
    --------
    >>> import numpy as np
    >>> round(psnr(np.zeros((2, 2), np.uint8), np.full((2, 2), 3, np.uint8)), 4)
    38.5884
    """
    image0, image1 = check_pair(image0, image1)
    peak = infer_data_range(image0, image1, data_range)
    err = _squared_error_mean(image0, image1)
    if err == 0.0:
        return math.inf
    return 10.0 * math.log10(peak * peak / err)
