"""Gradient magnitude similarity deviation (GMSD), exactly as Xue's ``GMSD.m``.

Also holds the two MATLAB idioms FSIM shares with it: ``conv2(x, ones(F)/F^2,
'same')`` followed by ``x(1:F:end, 1:F:end)``, and a 3x3 gradient magnitude
with ``conv2(x, k, 'same')`` (zero padding).
"""

from __future__ import annotations

import math

import numpy as np

from lookalike.color import rgb2gray
from lookalike.errors import ImageSizeError
from lookalike.metrics._registry import register
from lookalike.metrics._util import check_pair, describe_shape, infer_data_range

#: GMSD.m's constant for 0-255 images.
GMSD_T = 170.0
#: Smallest side GMSD accepts: 2x2 after the 2x downsampling, so the
#: standard deviation is taken over at least 4 values.
GMSD_MIN_SIDE = 4


def average_downsample(image: np.ndarray, factor: int) -> np.ndarray:
    """MATLAB's ``y = conv2(x, fspecial('average', F), 'same'); y(1:F:end, 1:F:end)``.

    Works on (H, W) or (H, W, C) arrays (each channel alone) and returns float64.
    ``conv2(..., 'same')`` pads with zeros and, for an even kernel, keeps the
    part of the full convolution that starts ``floor(F/2)`` samples in; so
    output sample ``k`` averages input rows ``k F + floor(F/2) - F + 1 ..
    k F + floor(F/2)`` (zeros outside the image). The sums are exact for
    integer input (accumulated in an integer type) before the division by F^2.
    """
    if factor == 1:
        return image.astype(np.float64)
    if image.dtype.kind in "ub" and image.dtype.itemsize == 1 and factor * factor * 255 < 2**16:
        acc: type[np.generic] = np.uint16
    elif image.dtype.kind in "uib":
        acc = np.int64
    else:
        acc = np.float64
    # Window k covers samples k F - lead .. k F - lead + F - 1 (zeros outside).
    lead = factor - 1 - factor // 2
    summed = _block_sum(image, factor, lead, acc=acc)
    # Columns: transpose, sum rows (contiguous slices), transpose back.
    summed = _transpose(_block_sum(_transpose(summed), factor, lead, acc=acc))
    return summed.astype(np.float64) / (factor * factor)


def _transpose(array: np.ndarray) -> np.ndarray:
    """Swap the first two axes into a new C-contiguous array (OpenCV when it can)."""
    if array.dtype in (np.uint16, np.float64) and (array.ndim == 2 or array.shape[2] <= 4):
        import cv2

        out = cv2.transpose(array)
        return out if out.ndim == array.ndim else out[..., None]
    return np.ascontiguousarray(np.swapaxes(array, 0, 1))


def _block_sum(array: np.ndarray, factor: int, lead: int, *, acc: type[np.generic]) -> np.ndarray:
    """Sums of ``factor`` consecutive rows, window k starting at row k F - lead."""
    count = -(-array.shape[0] // factor)
    out = np.zeros((count, *array.shape[1:]), dtype=acc)
    for d in range(factor):
        offset = d - lead
        first = 0 if offset >= 0 else 1  # window 0 starts before the image: skip it
        source = array[offset + first * factor :: factor]
        n = min(count - first, source.shape[0])
        if n > 0:
            np.add(out[first : first + n], source[:n], out=out[first : first + n])
    return out


def gradient_magnitude(image: np.ndarray, side: float, centre: float) -> np.ndarray:
    """``sqrt(conv2(x, dx, 'same')^2 + conv2(x, dx', 'same')^2)`` for a 3x3 kernel.

    ``dx = [side 0 -side; centre 0 -centre; side 0 -side]`` (Prewitt/3:
    side = centre = 1/3; Scharr/16: side = 3/16, centre = 10/16), zero padding
    outside the (H, W) image, as MATLAB's ``conv2``; float64 throughout.
    """
    import cv2

    image = np.ascontiguousarray(image, dtype=np.float64)
    dx = np.array([[side, 0.0, -side], [centre, 0.0, -centre], [side, 0.0, -side]])
    # filter2D correlates (no kernel flip): that only flips the sign of each
    # derivative, which the magnitude ignores.
    ix = cv2.filter2D(image, cv2.CV_64F, dx, borderType=cv2.BORDER_CONSTANT)
    iy = cv2.filter2D(image, cv2.CV_64F, dx.T, borderType=cv2.BORDER_CONSTANT)
    return cv2.magnitude(ix, iy)


def _gmsd_luma(image: np.ndarray) -> np.ndarray:
    """Grey level: MATLAB ``rgb2gray`` (rounded to the integer type) for colour input."""
    if image.ndim == 3:
        return image[..., 0] if image.shape[2] == 1 else rgb2gray(image[..., :3])
    return image


@register("gmsd", higher_is_better=False, identity=0.0, bounds=(0.0, math.inf), symmetric=True)
def gmsd(image0: np.ndarray, image1: np.ndarray, *, data_range: float | None = None) -> float:
    """Gradient magnitude similarity deviation: lower means more similar, 0 for identical images.

    Reproduces Xue's ``GMSD.m``: both images are averaged over 2x2 blocks and
    downsampled by 2 (``conv2(Y, ones(2)/4, 'same')``, then ``(1:2:end, 1:2:end)``),
    the gradient magnitude is taken with Prewitt kernels
    ``[1 0 -1; 1 0 -1; 1 0 -1] / 3`` and its transpose (zero padding), the
    local similarity is ``(2 g0 g1 + T) / (g0^2 + g1^2 + T)`` with ``T = 170``,
    and the score is the sample standard deviation of that map (MATLAB
    ``std2``, N - 1 in the denominator).

    Colour (H, W, 3) input is reduced to grey with MATLAB's ``rgb2gray``
    (rounded to the integer type for integer input), as in the official
    TID2013 GMSD values; it also matches piq's MATLAB value on Y of YIQ within
    1e-4. ``T = 170`` assumes 0-255 values: images with another ``data_range``
    (uint16, float) are rescaled to 0-255 first.

    Parameters
    ----------
    image0, image1 : (H, W) or (H, W, 3) array
        Images of the same shape, at least 4x4 pixels.
    data_range : float, optional
        Difference between the largest and the smallest possible value;
        inferred from integer dtypes, required for float input.

    Returns
    -------
    float
        The GMSD score, >= 0 (the function is symmetric in its arguments).

    References
    ----------
    W. Xue, L. Zhang, X. Mou and A. C. Bovik, "Gradient magnitude similarity
    deviation: a highly efficient perceptual image quality index", IEEE Trans.
    Image Processing 23(2), 684-695, 2014.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1))
    >>> gmsd(a, a)
    0.0
    >>> round(gmsd(a, a // 2), 4)
    0.0209
    """
    image0, image1 = check_pair(image0, image1)
    if min(image0.shape[:2]) < GMSD_MIN_SIDE:
        raise ImageSizeError(
            f"gmsd needs images of at least {GMSD_MIN_SIDE}x{GMSD_MIN_SIDE} pixels, got "
            f"{describe_shape(image0.shape)}; upscale both images or use another metric"
        )
    scale = 255.0 / infer_data_range(image0, image1, data_range)
    maps = []
    for image in (image0, image1):
        luma = average_downsample(_gmsd_luma(image), 2)
        if scale != 1.0:
            luma *= scale
        maps.append(gradient_magnitude(luma, 1 / 3, 1 / 3))
    g0, g1 = maps
    quality = (2 * g0 * g1 + GMSD_T) / (g0 * g0 + g1 * g1 + GMSD_T)
    return float(np.std(quality, ddof=1))
