"""FSIM and FSIMc, exactly as Zhang's ``FeatureSIM.m``."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from lookalike.color import rgb2yiq
from lookalike.errors import ImageSizeError
from lookalike.metrics._gmsd import average_downsample, gradient_magnitude
from lookalike.metrics._phasecong import phase_congruency
from lookalike.metrics._registry import register
from lookalike.metrics._util import check_pair, describe_shape, infer_data_range

T1 = 0.85
T2 = 160.0
T3 = 200.0
T4 = 200.0
LAMBDA = 0.03
#: Smallest side FSIM accepts: the finest log-Gabor filter has a 6-pixel wavelength.
FSIM_MIN_SIDE = 8
# Scharr kernel of FeatureSIM.m: [3 0 -3; 10 0 -10; 3 0 -3] / 16.
_SCHARR_SIDE = 3 / 16
_SCHARR_CENTRE = 10 / 16
#: Below this many input values the two images are done one after the other.
_THREAD_MIN_PIXELS = 512 * 512


def _matlab_round(x: float) -> int:
    """MATLAB ``round``: halves go away from zero."""
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def _real_power(x: np.ndarray, exponent: float) -> np.ndarray:
    """MATLAB's ``real(x .^ p)``: a negative base takes the principal complex power.

    ``(-a)^p = a^p e^{i p pi}``, whose real part is ``a^p cos(p pi)``.
    """
    import cv2

    power = cv2.pow(np.abs(x), exponent).reshape(x.shape)
    return np.where(x < 0, power * math.cos(exponent * math.pi), power)


def downsampling_factor(rows: int, cols: int) -> int:
    """FeatureSIM.m's ``F = max(1, round(min(rows, cols) / 256))``."""
    return max(1, _matlab_round(min(rows, cols) / 256))


class _Features(NamedTuple):
    """What FeatureSIM.m computes from one image after downsampling."""

    pc: np.ndarray
    gradient: np.ndarray
    i: np.ndarray | None
    q: np.ndarray | None


def _features(
    image: np.ndarray, factor: int, scale: float, colour: bool, chromatic: bool
) -> _Features:
    """Downsample, convert to YIQ (colour) and take PC and gradient of Y, in 0-255 units.

    ``chromatic`` keeps the I and Q channels (FSIMc); else they are None.
    """
    # Box averaging and YIQ are both linear: averaging the RGB values first
    # gives FeatureSIM.m's numbers (to rounding) at 1/F^2 of the cost.
    small = average_downsample(image, factor)
    if scale != 1.0:
        small *= scale
    i = q = None
    if colour:
        yiq = rgb2yiq(small)
        luma = yiq[..., 0]
        if chromatic:
            i, q = yiq[..., 1], yiq[..., 2]
    else:
        luma = small
    pc = phase_congruency(luma)
    gradient = gradient_magnitude(luma, _SCHARR_SIDE, _SCHARR_CENTRE)
    return _Features(pc, gradient, i, q)


def _both(
    func: Callable[..., _Features], image0: np.ndarray, image1: np.ndarray, *args: object
) -> tuple[_Features, _Features]:
    """``func`` on both images; the second in a thread when that can pay off.

    The FFTs (OpenCV) and large numpy operations release the GIL, so two
    cores compute the two images at once. A plain thread per call (not a
    pool) keeps this safe across ``fork``.
    """
    if image0.size < _THREAD_MIN_PIXELS or (os.cpu_count() or 1) < 2:
        return func(image0, *args), func(image1, *args)
    result: list[_Features] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            result.append(func(image1, *args))
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=work, name="lookalike-fsim", daemon=True)
    thread.start()
    try:
        first = func(image0, *args)
    finally:
        thread.join()
    if errors:
        raise errors[0]
    return first, result[0]


def _similarity_maps(
    image0: np.ndarray, image1: np.ndarray, data_range: float | None, chromatic: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The FSIM(c) similarity map and its weight ``PCm`` (both float64)."""
    image0, image1 = check_pair(image0, image1)
    rows, cols = image0.shape[:2]
    if min(rows, cols) < FSIM_MIN_SIDE:
        raise ImageSizeError(
            f"fsim needs images of at least {FSIM_MIN_SIDE}x{FSIM_MIN_SIDE} pixels (its finest "
            f"filter has a 6-pixel wavelength), got {describe_shape(image0.shape)}; "
            "upscale both images or use another metric"
        )
    scale = 255.0 / infer_data_range(image0, image1, data_range)
    factor = downsampling_factor(rows, cols)
    colour = image0.ndim == 3 and image0.shape[2] >= 3
    if image0.ndim == 3:
        image0 = image0[..., :3] if colour else image0[..., 0]
        image1 = image1[..., :3] if colour else image1[..., 0]
    f0, f1 = _both(_features, image0, image1, factor, scale, colour, chromatic)

    pc0, pc1, g0, g1 = f0.pc, f1.pc, f0.gradient, f1.gradient
    similarity = (2 * pc0 * pc1 + T1) / (pc0 * pc0 + pc1 * pc1 + T1)
    similarity *= (2 * g0 * g1 + T2) / (g0 * g0 + g1 * g1 + T2)
    if f0.i is not None and f1.i is not None and f0.q is not None and f1.q is not None:
        i0, i1, q0, q1 = f0.i, f1.i, f0.q, f1.q
        s_iq = (2 * i0 * i1 + T3) / (i0 * i0 + i1 * i1 + T3)
        s_iq *= (2 * q0 * q1 + T4) / (q0 * q0 + q1 * q1 + T4)
        similarity *= _real_power(s_iq, LAMBDA)
    weight = np.maximum(pc0, pc1)
    return similarity, weight


def _pooled(similarity: np.ndarray, weight: np.ndarray) -> float:
    total = float(weight.sum())
    if total > 0:
        return float((similarity * weight).sum() / total)
    # No phase congruency anywhere (flat images): FeatureSIM.m gives 0/0 = NaN;
    # weigh every pixel alike instead, so identical images still give 1.
    return float(similarity.mean())


@register("fsim", higher_is_better=True, identity=1.0, bounds=(0.0, 1.0), symmetric=True)
def fsim(image0: np.ndarray, image1: np.ndarray, *, data_range: float | None = None) -> float:
    """Feature similarity (FSIM) of the luminance: 1 for identical images, higher is more similar.

    Reproduces the ``FSIM`` output of Zhang's ``FeatureSIM.m``: colour (H, W, 3)
    input is reduced to Y of NTSC YIQ; both images are averaged over F x F
    blocks and downsampled by ``F = max(1, round(min(H, W) / 256))`` (zero
    padded ``conv2(..., 'same')`` then ``1:F:end``); phase congruency is
    Kovesi's ``phasecong2`` as embedded in FeatureSIM.m (4 scales, 4
    orientations); the gradient magnitude uses the Scharr kernel
    ``[3 0 -3; 10 0 -10; 3 0 -3] / 16``; and the similarity
    ``S_PC S_G`` (T1 = 0.85, T2 = 160) is averaged with weights
    ``max(PC0, PC1)``. If neither image has any phase congruency (flat
    images), every pixel gets the same weight (FeatureSIM.m would return NaN).

    The constants assume 0-255 values: images with another ``data_range``
    (uint16, float) are rescaled to 0-255 first.

    Parameters
    ----------
    image0, image1 : (H, W) or (H, W, 3) array
        Images of the same shape, at least 8x8 pixels.
    data_range : float, optional
        Difference between the largest and the smallest possible value;
        inferred from integer dtypes, required for float input.

    Returns
    -------
    float
        FSIM in [0, 1] (symmetric in its arguments).

    Notes
    -----
    The log-Gabor filtering runs in single precision (phase congruency maps
    within 1e-5 of double precision; the official values are reproduced to
    their printed digits). The filter bank depends only on the size and is
    cached. Inputs of 512x512 values or more are processed in two threads,
    one per image.

    See Also
    --------
    fsimc : the chromatic version, which also compares the I and Q channels.

    References
    ----------
    L. Zhang, L. Zhang, X. Mou and D. Zhang, "FSIM: a feature similarity index
    for image quality assessment", IEEE Trans. Image Processing 20(8),
    2378-2386, 2011.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a = rng.integers(0, 256, (64, 64), dtype=np.uint8)
    >>> fsim(a, a)
    1.0
    >>> noise = rng.integers(-20, 21, a.shape)
    >>> b = np.clip(a + noise, 0, 255).astype(np.uint8)
    >>> round(fsim(a, b), 4)
    0.9861
    """
    return _pooled(*_similarity_maps(image0, image1, data_range, chromatic=False))


@register("fsimc", higher_is_better=True, identity=1.0, bounds=(0.0, 1.0), symmetric=True)
def fsimc(image0: np.ndarray, image1: np.ndarray, *, data_range: float | None = None) -> float:
    """Chromatic feature similarity (FSIMc): FSIM with the I and Q channels of YIQ.

    Reproduces the ``FSIMc`` output of Zhang's ``FeatureSIM.m`` (which is also
    what the official tables call "FSIM" for colour images): as :func:`fsim`,
    with the local similarity multiplied by ``real((S_I S_Q) ^ 0.03)``, where
    ``S_I`` and ``S_Q`` compare the downsampled I and Q channels (T3 = T4 =
    200) and a negative product takes MATLAB's real part of the complex power
    (``|x| ^ 0.03 cos(0.03 pi)``). For grey (H, W) input there is no colour to
    compare, and fsimc equals :func:`fsim`, as in FeatureSIM.m.

    The constants assume 0-255 values: images with another ``data_range``
    (uint16, float) are rescaled to 0-255 first.

    Parameters
    ----------
    image0, image1 : (H, W) or (H, W, 3) array
        Images of the same shape, at least 8x8 pixels.
    data_range : float, optional
        Difference between the largest and the smallest possible value;
        inferred from integer dtypes, required for float input.

    Returns
    -------
    float
        FSIMc in [0, 1] (symmetric in its arguments).

    References
    ----------
    L. Zhang, L. Zhang, X. Mou and D. Zhang, "FSIM: a feature similarity index
    for image quality assessment", IEEE Trans. Image Processing 20(8),
    2378-2386, 2011.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    >>> fsimc(a, a)
    1.0
    >>> b = a.copy(); b[..., 0] = 255 - b[..., 0]
    >>> bool(fsimc(a, b) < fsim(a, b))
    True
    """
    return _pooled(*_similarity_maps(image0, image1, data_range, chromatic=True))
