"""Multi-scale SSIM (Wang, Simoncelli and Bovik 2003) as Wang's official ``msssim.m`` computes it."""

from __future__ import annotations

import numpy as np

from lookalike.errors import ParameterError
from lookalike.metrics._filters import box_downsample
from lookalike.metrics._registry import register
from lookalike.metrics._ssim_core import (
    GAUSS_SIZE,
    check_convention,
    check_window,
    native_kernel,
    ssim_sums,
    wang_moments,
)
from lookalike.metrics._util import check_pair, describe_shape, infer_data_range, to_gray

#: Names accepted by ``ms_ssim(..., convention=...)``.
MS_SSIM_CONVENTIONS: tuple[str, ...] = ("wang",)

#: Per-scale exponents of msssim.m (finest first).
MS_SSIM_WEIGHTS: tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

#: Smallest side msssim.m accepts: min(H, W) / 2^(levels-1) >= window size.
MS_SSIM_MIN_SIDE = GAUSS_SIZE * 2 ** (len(MS_SSIM_WEIGHTS) - 1)


@register("ms_ssim", higher_is_better=True, identity=1.0, bounds=(0.0, 1.0), symmetric=True)
def ms_ssim(
    image0: np.ndarray,
    image1: np.ndarray,
    *,
    data_range: float | None = None,
    convention: str = "wang",
) -> float:
    """Multi-scale structural similarity (MS-SSIM) as Wang's ``msssim.m`` computes it.

    Five scales with exponents ``[0.0448 0.2856 0.3001 0.2363 0.1333]``. At
    each scale, ``ssim_index_new`` with an 11x11 Gaussian window (sigma 1.5),
    'valid' filtering and K = (0.01, 0.03) gives the mean contrast-structure
    term ``mcs`` (and the mean SSIM at the coarsest scale); between scales
    both images go through ``imfilter(img, ones(2)/4, 'symmetric', 'same')``
    and ``img(1:2:end, 1:2:end)``. The result is
    ``prod(mcs(1:4) .^ w(1:4)) * mssim(5) ^ w(5)``.

    RGB input is first reduced to luma with MATLAB's ``rgb2gray`` (rounded to
    the integer type), as the official results for colour images were made;
    an alpha channel is ignored.

    Negative means: for anti-correlated images a scale's mean ``cs`` (or the
    final mean SSIM) can be negative, and MATLAB's ``.^`` then returns a
    complex number. Such a term is clipped at 0 here (as pytorch-msssim and
    piq do with ``relu``), so the result is 0 for those pairs and always lies
    in [0, 1].

    Parameters
    ----------
    image0, image1 : ndarray
        (H, W) grey or (H, W, 3) colour arrays of the same shape, both sides at
        least 176 pixels (msssim.m's limit: ``min(H, W) / 16 >= 11``).
    data_range : float, optional, keyword-only
        Dynamic range L (msssim.m fixes L = 255). Inferred from integer
        dtypes; required for float input.
    convention : {"wang"}, keyword-only
        Only Wang's ``msssim.m`` is implemented.

    Returns
    -------
    float
        MS-SSIM in [0, 1]; 1 for identical images.

    Raises
    ------
    ImageSizeError
        The images differ in size.
    ParameterError
        Unknown convention, an image smaller than 176 pixels on a side, or
        float input without ``data_range``.

    References
    ----------
    Z. Wang, E. P. Simoncelli and A. C. Bovik, "Multiscale structural
    similarity for image quality assessment", 37th Asilomar Conference on
    Signals, Systems and Computers, 2003. :doi:`10.1109/ACSSC.2003.1292216`

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a = rng.integers(0, 256, (192, 192), dtype=np.uint8)
    >>> ms_ssim(a, a)
    1.0
    """
    check_convention(convention, MS_SSIM_CONVENTIONS, "MS-SSIM")
    image0, image1 = check_pair(image0, image1)
    peak = infer_data_range(image0, image1, data_range)
    x: np.ndarray = to_gray(image0)
    y: np.ndarray = to_gray(image1)
    check_window(x.shape, GAUSS_SIZE, "MS-SSIM")
    if min(x.shape) < MS_SSIM_MIN_SIDE:
        raise ParameterError(
            f"MS-SSIM: images of {describe_shape(x.shape)} pixels (width x height) are too small "
            f"for {len(MS_SSIM_WEIGHTS)} scales with an {GAUSS_SIZE}x{GAUSS_SIZE} window; both "
            f"sides must be at least {MS_SSIM_MIN_SIDE} pixels (msssim.m: min(H, W) / 16 >= 11). "
            "Use larger images, or ssim() for small ones."
        )
    moments = wang_moments(peak)
    levels = len(MS_SSIM_WEIGHTS)
    value = 1.0
    for level, weight in enumerate(MS_SSIM_WEIGHTS):
        sums = ssim_sums(x, y, moments, want_cs=level < levels - 1)
        mean = (sums.ssim if level == levels - 1 else sums.cs) / sums.count
        value *= max(mean, 0.0) ** weight
        if level < levels - 1:
            x = _halve(x)
            y = _halve(y)
    return float(value)


def _halve(image: np.ndarray) -> np.ndarray:
    """``box_downsample(image, 2)`` (msssim.m's 2x2 mean and ``1:2:end``), float64, bit for bit.

    uint8 and float64 images in C order go through the compiled kernel (one
    pass, no temporaries); others, or without the kernel, through numpy.
    """
    kernel = native_kernel()
    kind = {np.dtype(np.float64): 0, np.dtype(np.uint8): 1}.get(image.dtype)
    if kernel is None or kind is None or not image.flags.c_contiguous:
        return box_downsample(image, 2)
    height, width = image.shape
    out = np.empty(((height + 1) // 2, (width + 1) // 2))
    kernel.halve(image, kind, height, width, width, out)
    return out
