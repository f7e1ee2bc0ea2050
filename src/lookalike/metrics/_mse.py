"""Mean squared error and PSNR over every channel: exact for integer images, never in uint8."""

from __future__ import annotations

import math

import numpy as np

from lookalike.metrics._registry import register
from lookalike.metrics._util import check_pair, infer_data_range

#: Elements per block: bounded temporaries (a 100-megapixel pair needs a few MB, not GB).
_BLOCK = 1 << 20


def _squared_error_mean(image0: np.ndarray, image1: np.ndarray) -> float:
    """Mean of squared differences over every element, a block of rows at a time.

    Integer (and bool) images of up to 16 bits are summed exactly in int64, so
    the result is the exact MSE rounded once; other types are summed in float64.
    """
    exact = all(im.dtype.kind in "uib" and im.itemsize <= 2 for im in (image0, image1))
    work_type = np.int64 if exact else np.float64
    rows = max(1, _BLOCK // max(1, image0[0].size))
    total: int | float = 0 if exact else 0.0
    for start in range(0, image0.shape[0], rows):
        diff = np.subtract(image0[start : start + rows], image1[start : start + rows], dtype=work_type).reshape(-1)
        total += int(np.dot(diff, diff)) if exact else float(np.dot(diff, diff))
    return total / image0.size


@register("mse", higher_is_better=False, identity=0.0, bounds=(0.0, math.inf), symmetric=True)
def mse(image0: np.ndarray, image1: np.ndarray) -> float:
    """Mean squared error over all pixels and channels (MATLAB ``immse``).

    Never computed in the input type, so uint8 input never wraps around:
    8- and 16-bit integer images are summed exactly in int64, other input in
    float64, block by block (bounded memory). The value is in squared input
    units (0-255 images give 0..65025).

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
