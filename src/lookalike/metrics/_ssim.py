"""SSIM (Wang et al. 2004) under four named conventions, each reproducing its reference exactly."""

from __future__ import annotations

import numpy as np

from lookalike.metrics._filters import (
    box_downsample,
    box_filter,
    gaussian_kernel,
    matlab_round,
)
from lookalike.metrics._registry import register
from lookalike.metrics._ssim_core import (
    GAUSS_SIGMA,
    GAUSS_SIZE,
    K1,
    K2,
    Moments,
    check_convention,
    check_window,
    ssim_sums,
    volume_ssim_sums,
    wang_moments,
)
from lookalike.metrics._util import check_pair, infer_data_range, to_gray

#: Names accepted by ``ssim(..., convention=...)``; the first is the default.
SSIM_CONVENTIONS: tuple[str, ...] = ("wang", "wang2009", "skimage", "matlab")

SKIMAGE_WIN = 7


def _drop_alpha(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3 and image.shape[2] == 1:
        return image[..., 0]
    if image.ndim == 3 and image.shape[2] == 4:
        return image[..., :3]
    return image


def _ssim_wang(
    x: np.ndarray, y: np.ndarray, data_range: float, full: bool, downsample: bool
) -> tuple[float, np.ndarray | None]:
    x = to_gray(x)
    y = to_gray(y)
    name = "wang2009" if downsample else "wang"
    hint = ", or convention='matlab' (padded, any size)"
    check_window(x.shape, GAUSS_SIZE, f"SSIM ({name})", hint)
    if downsample:
        factor = max(1, matlab_round(min(x.shape) / 256))
        if factor > 1:
            x = box_downsample(x, factor)
            y = box_downsample(y, factor)
            check_window(x.shape, GAUSS_SIZE, f"SSIM ({name}) after {factor}x downsampling", hint)
    moments = wang_moments(data_range)
    r = moments.radius
    ssim_map = np.empty((x.shape[0] - 2 * r, x.shape[1] - 2 * r)) if full else None
    sums = ssim_sums(x, y, moments, ssim_map=ssim_map)
    return sums.ssim / sums.count, ssim_map


def _ssim_skimage(x: np.ndarray, y: np.ndarray, data_range: float, full: bool) -> tuple[float, np.ndarray | None]:
    check_window(x.shape, SKIMAGE_WIN, "SSIM (skimage)", ", or convention='matlab' (padded, any size)")
    n = SKIMAGE_WIN * SKIMAGE_WIN
    moments = Moments(
        filt=box_filter(SKIMAGE_WIN),
        radius=SKIMAGE_WIN // 2,
        c1=(K1 * data_range) ** 2,
        c2=(K2 * data_range) ** 2,
        cov_norm=n / (n - 1),
        box=SKIMAGE_WIN,
    )
    r = moments.radius
    channels = [(x, y)] if x.ndim == 2 else [(x[..., c], y[..., c]) for c in range(x.shape[2])]
    values = []
    maps = []
    for xc, yc in channels:
        if full:
            # scikit-image's map is 'same' size, with scipy's 'reflect' (edge-repeating) border;
            # its mean is taken over the interior only, which is exactly the 'valid' map.
            pad = ((r, r), (r, r))
            xc = np.pad(xc, pad, mode="symmetric")
            yc = np.pad(yc, pad, mode="symmetric")
            channel_map = np.empty((xc.shape[0] - 2 * r, xc.shape[1] - 2 * r))
            ssim_sums(xc, yc, moments, ssim_map=channel_map)
            values.append(float(channel_map[r:-r, r:-r].mean(dtype=np.float64)))
            maps.append(channel_map)
        else:
            sums = ssim_sums(xc, yc, moments)
            values.append(sums.ssim / sums.count)
    value = float(np.mean(values)) if len(values) > 1 else values[0]
    if not full:
        return value, None
    return value, maps[0] if x.ndim == 2 else np.stack(maps, axis=-1)


def _depth_weights(kernel: np.ndarray, depth: int) -> np.ndarray:
    """D x D matrix of a 1-D kernel applied across ``depth`` slices with replicate padding."""
    r = len(kernel) // 2
    weights = np.zeros((depth, depth))
    for c in range(depth):
        for k, w in enumerate(kernel):
            weights[c, min(max(c + k - r, 0), depth - 1)] += w
    return weights


def _ssim_matlab(x: np.ndarray, y: np.ndarray, data_range: float, full: bool) -> tuple[float, np.ndarray | None]:
    kernel = gaussian_kernel(GAUSS_SIZE, GAUSS_SIGMA)
    moments = wang_moments(data_range)
    r = moments.radius
    pad = ((r, r), (r, r)) if x.ndim == 2 else ((r, r), (r, r), (0, 0))
    # 'same' size with replicate padding == 'valid' on the edge-padded arrays.
    xp = np.pad(x, pad, mode="edge")
    yp = np.pad(y, pad, mode="edge")
    ssim_map = np.empty(x.shape) if full else None
    if x.ndim == 2:
        sums = ssim_sums(xp, yp, moments, ssim_map=ssim_map)
    else:
        sums = volume_ssim_sums(xp, yp, moments, _depth_weights(kernel, x.shape[2]), ssim_map=ssim_map)
    return sums.ssim / sums.count, ssim_map


@register("ssim", higher_is_better=True, identity=1.0, bounds=(-1.0, 1.0), symmetric=True)
def ssim(
    image0: np.ndarray,
    image1: np.ndarray,
    *,
    convention: str = "wang",
    data_range: float | None = None,
    full: bool = False,
) -> float | tuple[float, np.ndarray]:
    """Structural similarity (SSIM) of two images, as a named reference computes it.

    SSIM compares local means, variances and covariance in a sliding window
    (Wang et al. 2004). Published numbers differ by the window, the border
    handling, the colour rule and downsampling; each ``convention`` reproduces
    one reference exactly:

    ``"wang"`` (default)
        Wang's ``ssim_index.m``: 11x11 Gaussian window (sigma 1.5,
        normalised), K = (0.01, 0.03), L = ``data_range``, 'valid' filtering
        (the map is ``(H - 10, W - 10)``), population (co)variances, no
        downsampling. Equals ``skimage.metrics.structural_similarity(...,
        gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``.
    ``"wang2009"``
        Wang's 2009 ``ssim.m``: first downsample by ``f = max(1, round(min(H,
        W) / 256))`` (MATLAB rounding, halves away from zero) with a
        symmetric-padded f x f mean filter and ``img(1:f:end, 1:f:end)``, then as
        ``"wang"``; the map is ``(ceil(H/f) - 10, ceil(W/f) - 10)``.
    ``"skimage"``
        scikit-image's ``structural_similarity`` defaults: 7x7 uniform window,
        sample covariance (``N / (N - 1)``), mean over the map without its
        3-pixel border. The map is ``(H, W)`` (``(H, W, C)`` for colour), with
        scipy's 'reflect' border as scikit-image returns it.
    ``"matlab"``
        MATLAB's built-in ``ssim``: 11x11 Gaussian (sigma 1.5), replicate
        padding, 'same'-size map ``(H, W)`` averaged whole. Works on images of
        any size.

    Colour: for ``"wang"`` and ``"wang2009"`` an RGB image is first reduced
    to luma with MATLAB's ``rgb2gray`` (rounded back to the integer type), as
    the reference results for colour images were made. ``"skimage"`` averages
    the per-channel SSIM (scikit-image's ``channel_axis=-1``). ``"matlab"``
    treats an (H, W, 3) array as a 3-D volume, as MATLAB's ``ssim`` does (3-D
    Gaussian, replicate padding across the three slices; map (H, W, 3)). An
    alpha channel is ignored in every convention.

    Parameters
    ----------
    image0, image1 : ndarray
        (H, W) grey or (H, W, 3) colour arrays of the same shape.
    convention : {"wang", "wang2009", "skimage", "matlab"}, keyword-only
        Which reference to reproduce (see above).
    data_range : float, optional, keyword-only
        Dynamic range L of the pixel values. Inferred from integer dtypes
        (uint8: 255, uint16: 65535); required for float input.
    full : bool, keyword-only
        Also return the SSIM map (shape as described for each convention).

    Returns
    -------
    float or (float, ndarray)
        Mean SSIM in [-1, 1] (1 for identical images), and the float64 map
        when ``full`` is true.

    Raises
    ------
    ImageSizeError
        The images differ in size.
    ParameterError
        Unknown convention, an image smaller than the window, or float input
        without ``data_range``.

    Notes
    -----
    Computed in float64 for every input type (scikit-image computes float32
    input in float32). Moments are computed strip by strip on
    ``cv2.getNumThreads()`` threads; ``cv2.setNumThreads(1)`` makes it
    single-threaded. The value does not depend on the thread count.

    References
    ----------
    Z. Wang, A. C. Bovik, H. R. Sheikh and E. P. Simoncelli, "Image quality
    assessment: from error visibility to structural similarity", IEEE Trans.
    Image Processing 13(4):600-612, 2004. :doi:`10.1109/TIP.2003.819861`

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a = rng.integers(0, 256, (64, 64), dtype=np.uint8)
    >>> ssim(a, a)
    1.0
    >>> value, ssim_map = ssim(a, 255 - a, full=True)
    >>> ssim_map.shape
    (54, 54)
    """
    convention = check_convention(convention, SSIM_CONVENTIONS, "SSIM")
    image0, image1 = check_pair(image0, image1)
    peak = infer_data_range(image0, image1, data_range)
    x = _drop_alpha(image0)
    y = _drop_alpha(image1)
    if convention == "wang":
        value, ssim_map = _ssim_wang(x, y, peak, full, downsample=False)
    elif convention == "wang2009":
        value, ssim_map = _ssim_wang(x, y, peak, full, downsample=True)
    elif convention == "skimage":
        value, ssim_map = _ssim_skimage(x, y, peak, full)
    else:
        value, ssim_map = _ssim_matlab(x, y, peak, full)
    if full and ssim_map is not None:
        return value, ssim_map
    return value
