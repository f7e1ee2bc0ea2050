"""The SSIM engine: local moments in float64, strip by strip, on a few threads.

Every SSIM convention reduces to one computation: filter ``x``, ``y``,
``x*x + y*y`` and ``x*y`` with a window, keep the 'valid' part (where the
window lies inside the array; 'same'-size conventions pad first), and combine
the four moments per pixel. Only ``sigma_x^2 + sigma_y^2`` enters SSIM, so four
filtered planes suffice instead of the usual five.

The image is cut into strips of output rows (each read with a halo of
``radius`` rows), so the working set stays in cache and a 100-megapixel pair
needs a few megabytes of temporaries instead of gigabytes. Strips run on
``cv2.getNumThreads()`` threads (OpenCV and numpy release the GIL); partial
sums are added in strip order, so the result does not depend on the number of
threads. Everything is float64: float32 moments lose the 1e-6 agreement with
the reference (``E[x^2] - mu^2`` cancels catastrophically on bright, flat
regions).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from lookalike.errors import ParameterError
from lookalike.metrics._filters import Filter, gaussian_kernel, separable_filter
from lookalike.metrics._util import describe_shape

T = TypeVar("T")

#: SSIM constants and Wang's window (ssim_index.m, ssim.m, msssim.m, MATLAB ssim).
K1, K2 = 0.01, 0.03
GAUSS_SIZE, GAUSS_SIGMA = 11, 1.5

#: Output rows per strip: the 2 * radius halo rows cost < 10 %; about 1 MB per plane at 1000 columns.
_STRIP_ROWS = 128
#: Below this many output pixels, one thread (thread start-up costs more than it saves).
_PARALLEL_MIN_PIXELS = 1 << 18


@dataclass(frozen=True)
class Moments:
    """How to turn an image pair into SSIM: window, constants and normalisation.

    Attributes
    ----------
    filt : callable
        Same-size float64 filter; only the interior ``radius`` pixels from the
        border is used.
    radius : int
        Half the window size.
    c1, c2 : float
        ``(K1 L)^2`` and ``(K2 L)^2``.
    cov_norm : float
        Factor on (co)variances: 1 for population moments (Wang), ``N/(N-1)``
        for scikit-image's sample covariance.
    box : int
        When ``filt`` is a plain ``box`` x ``box`` mean, its size (else 0): uint8
        pairs then get exact integer window sums instead of float filtering.
    """

    filt: Filter
    radius: int
    c1: float
    c2: float
    cov_norm: float = 1.0
    box: int = 0


@dataclass
class Sums:
    """Sums of the SSIM map and of the contrast-structure map over the valid area."""

    ssim: float
    cs: float
    count: int


def wang_moments(data_range: float) -> Moments:
    """Wang's setting: 11x11 Gaussian (sigma 1.5), K = (0.01, 0.03), population moments."""
    return Moments(
        filt=separable_filter(gaussian_kernel(GAUSS_SIZE, GAUSS_SIGMA)),
        radius=GAUSS_SIZE // 2,
        c1=(K1 * data_range) ** 2,
        c2=(K2 * data_range) ** 2,
    )


def check_convention(convention: str, choices: tuple[str, ...], what: str) -> str:
    """The convention name, or a ParameterError listing the choices."""
    if not isinstance(convention, str) or convention not in choices:
        raise ParameterError(
            f"unknown {what} convention {convention!r}; choose one of: {', '.join(choices)}"
        )
    return convention


def check_window(shape: tuple[int, ...], window: int, what: str, hint: str = "") -> None:
    """Raise a ParameterError when an (H, W) image is smaller than a ``window`` x ``window`` window."""
    if min(shape[0], shape[1]) < window:
        raise ParameterError(
            f"{what}: the {window}x{window} window exceeds the image extent "
            f"({describe_shape(shape[:2])}, width x height); both sides must be at least "
            f"{window} pixels. Use larger images{hint}."
        )


def thread_count(n_pixels: int) -> int:
    """Threads for an image of ``n_pixels``: OpenCV's setting, capped by the usable CPUs."""
    if n_pixels < _PARALLEL_MIN_PIXELS:
        return 1
    import cv2

    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cv2.getNumThreads(), cpus))


def run_strips(n_rows: int, work: Callable[[int, int], T], *, n_pixels: int) -> list[T]:
    """Call ``work(start, stop)`` for consecutive strips of ``n_rows`` rows; results in order."""
    bounds = [(start, min(start + _STRIP_ROWS, n_rows)) for start in range(0, n_rows, _STRIP_ROWS)]
    threads = min(thread_count(n_pixels), len(bounds))
    if threads <= 1:
        return [work(start, stop) for start, stop in bounds]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="lookalike-ssim") as pool:
        return list(pool.map(lambda b: work(*b), bounds))


def _strip_moments(
    x: np.ndarray, y: np.ndarray, start: int, stop: int, m: Moments
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Moments for output rows ``start:stop``: mu_x, mu_y, E[x^2+y^2], E[xy] and a scratch array.

    The four moment arrays are row slices of full-width arrays: rows are
    already the valid ones, the first and last ``radius`` columns are not
    (callers crop them).
    """
    r = m.radius
    rows = slice(r, r + stop - start)
    if m.box and x.dtype == np.uint8 and y.dtype == np.uint8:
        return _strip_box_uint8(x[start : stop + 2 * r], y[start : stop + 2 * r], m.box, rows)
    xs = np.array(x[start : stop + 2 * r], dtype=np.float64)
    ys = np.array(y[start : stop + 2 * r], dtype=np.float64)
    mu_x = m.filt(xs)
    mu_y = m.filt(ys)
    scratch = np.multiply(xs, ys)
    e_xy = m.filt(scratch)
    np.multiply(xs, xs, out=xs)
    np.multiply(ys, ys, out=ys)
    xs += ys
    e_sq = m.filt(xs)
    return mu_x[rows], mu_y[rows], e_sq[rows], e_xy[rows], scratch


def _strip_box_uint8(
    xs: np.ndarray, ys: np.ndarray, size: int, rows: slice
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Box-window moments of uint8 strips from exact int32 window sums (then one division)."""
    import cv2

    def window_sum(plane: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(
            plane, cv2.CV_32S, (size, size), normalize=False, borderType=cv2.BORDER_REPLICATE
        )[rows]

    n = float(size * size)
    mu_x = np.divide(window_sum(xs), n)
    mu_y = np.divide(window_sum(ys), n)
    sum_sq = window_sum(cv2.multiply(xs, xs, dtype=cv2.CV_16U))
    sum_sq += window_sum(cv2.multiply(ys, ys, dtype=cv2.CV_16U))
    e_sq = np.divide(sum_sq, n)
    e_xy = np.divide(window_sum(cv2.multiply(xs, ys, dtype=cv2.CV_16U)), n)
    return mu_x, mu_y, e_sq, e_xy, np.empty_like(mu_x)


def _ssim_terms(
    mu_x: np.ndarray, mu_y: np.ndarray, e_sq: np.ndarray, e_xy: np.ndarray,
    scratch: np.ndarray, m: Moments,
) -> tuple[np.ndarray, np.ndarray]:
    """(luminance term, contrast-structure term), computed in place over the moment arrays.

    luminance = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1)
    cs        = (2 cov + C2) / (var_x + var_y + C2)
    """
    mu_xy = np.multiply(mu_x, mu_y, out=scratch[: mu_x.shape[0]])
    mu_x *= mu_x
    mu_y *= mu_y
    mu_x += mu_y  # mu_x^2 + mu_y^2
    e_xy -= mu_xy  # covariance (population)
    e_sq -= mu_x  # var_x + var_y (population)
    if m.cov_norm != 1.0:
        e_xy *= m.cov_norm
        e_sq *= m.cov_norm
    e_xy *= 2.0
    e_xy += m.c2
    e_sq += m.c2
    e_xy /= e_sq  # cs
    mu_xy *= 2.0
    mu_xy += m.c1
    mu_x += m.c1
    mu_xy /= mu_x  # luminance
    return mu_xy, e_xy


def ssim_sums(
    x: np.ndarray,
    y: np.ndarray,
    moments: Moments,
    *,
    ssim_map: np.ndarray | None = None,
    cs_map: np.ndarray | None = None,
) -> Sums:
    """Sum of the 'valid' SSIM map (and of the cs map) of two 2-D arrays.

    ``x`` and ``y`` have the same shape, both sides at least ``2 radius + 1``.
    When ``ssim_map`` / ``cs_map`` (float64, ``(H - 2r, W - 2r)``) are given
    they are filled in.
    """
    r = moments.radius
    out_rows = x.shape[0] - 2 * r
    out_cols = x.shape[1] - 2 * r

    cols = slice(r, x.shape[1] - r)

    def work(start: int, stop: int) -> tuple[float, float]:
        mu_x, mu_y, e_sq, e_xy, scratch = _strip_moments(x, y, start, stop, moments)
        lum, cs = _ssim_terms(mu_x, mu_y, e_sq, e_xy, scratch, moments)
        lum = lum[:, cols]
        cs = cs[:, cols]
        cs_sum = float(cs.sum())
        if cs_map is not None:
            cs_map[start:stop] = cs
        lum *= cs  # SSIM = luminance * cs
        if ssim_map is not None:
            ssim_map[start:stop] = lum
        return float(lum.sum()), cs_sum

    parts = run_strips(out_rows, work, n_pixels=out_rows * out_cols)
    return Sums(
        ssim=float(sum(p[0] for p in parts)),
        cs=float(sum(p[1] for p in parts)),
        count=out_rows * out_cols,
    )


def volume_ssim_sums(
    x: np.ndarray,
    y: np.ndarray,
    moments: Moments,
    depth_weights: np.ndarray,
    *,
    ssim_map: np.ndarray | None = None,
) -> Sums:
    """SSIM over a 3-D volume (H, W, D) whose window is separable in depth.

    The window is ``moments.filt`` in the plane and ``depth_weights`` (a D x D
    matrix: filtered slice ``c`` = sum over ``j`` of ``depth_weights[c, j]``
    times slice ``j``) across slices; this is how a 3-D Gaussian with
    replicate padding acts on a thin stack such as an RGB image.
    """
    r = moments.radius
    depth = x.shape[2]
    out_rows = x.shape[0] - 2 * r
    out_cols = x.shape[1] - 2 * r

    def mix(planes: Sequence[np.ndarray]) -> list[np.ndarray]:
        mixed = []
        for c in range(depth):
            acc = planes[0] * depth_weights[c, 0]
            for j in range(1, depth):
                acc += planes[j] * depth_weights[c, j]
            mixed.append(acc)
        return mixed

    cols = slice(r, x.shape[1] - r)

    def work(start: int, stop: int) -> float:
        per_slice = [
            _strip_moments(x[:, :, c], y[:, :, c], start, stop, moments) for c in range(depth)
        ]
        mu_x = mix([p[0] for p in per_slice])
        mu_y = mix([p[1] for p in per_slice])
        e_sq = mix([p[2] for p in per_slice])
        e_xy = mix([p[3] for p in per_slice])
        total = 0.0
        for c in range(depth):
            lum, cs = _ssim_terms(mu_x[c], mu_y[c], e_sq[c], e_xy[c], per_slice[c][4], moments)
            lum = lum[:, cols]
            lum *= cs[:, cols]
            if ssim_map is not None:
                ssim_map[start:stop, :, c] = lum
            total += float(lum.sum())
        return total

    parts = run_strips(out_rows, work, n_pixels=out_rows * out_cols * depth)
    return Sums(ssim=float(sum(parts)), cs=float("nan"), count=out_rows * out_cols * depth)
