"""The SSIM engine: local moments in float64, strip by strip, on a few threads.

Every SSIM convention reduces to one computation: filter ``x``, ``y``,
``x*x + y*y`` and ``x*y`` with a window, keep the 'valid' part (where the
window lies inside the array; 'same'-size conventions pad first), and combine
the four moments per pixel. Only ``sigma_x^2 + sigma_y^2`` enters SSIM, so four
filtered planes suffice instead of the usual five.

The image is cut into strips of output rows (each read with a halo of
``radius`` rows), so the working set stays in cache and a 100-megapixel pair
needs a few megabytes of temporaries instead of gigabytes. Strips run on
``cv2.getNumThreads()`` threads (the kernels release the GIL); partial sums
are added in strip order, so the result does not depend on the number of
threads.

Three ways to compute a strip:

* Native (the default for separable windows: Wang's Gaussian, so the
  ``wang``, ``wang2009`` and ``matlab`` conventions on 2-D images). The C
  kernel ``_ssim_native`` (built by ``setup.py`` when a compiler is present)
  fuses everything for one output row: a ring of the window's input rows
  holds x, y, x^2 + y^2 and xy in float64, a vertical then a horizontal pass
  give the four moments, and the formula of ``_combine`` (same operations,
  same order) gives the SSIM and cs rows and their sums, all in L1/L2. uint8
  and float64 pairs are read in place; other dtypes (uint16, float32) and
  non-C-ordered arrays are converted to float64 strip by strip. On x86-64 an
  AVX2+FMA version and a baseline version are built and chosen at run time.
* Exact integer box (scikit-image's 7x7 window on uint8 pairs): see
  ``_strip_box_uint8``.
* OpenCV + numpy: four float64 ``cv2.sepFilter2D`` (or ``boxFilter``) planes
  then ``_combine``. This is the fallback when the kernel is not built (or
  ``USE_NATIVE`` is False), and the path for any other window; the volume
  path of the ``matlab`` convention on RGB uses it too.

The native and OpenCV paths sum the window in different orders: their maps
agree to ~1e-14 (tested to 1e-12), not bit for bit. Within one path the
result is deterministic. FMA is used by the kernel in the filter passes
only; the formula is evaluated without contraction, so identical images give
exactly 1.

Precision: moments are float64. With float32 moments the mean SSIM drifts by
up to ~1.3e-6 from the reference on real images (measured on LIVE and TID2013;
``E[x^2] - mu^2`` cancels catastrophically on bright, flat regions), which
breaks the 1e-6 agreement promised. For a box window on uint8 images the
window sums are exact int32 and the (co)variance numerators are exact
integers, so that path has no cancellation at all.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from lookalike.errors import ParameterError
from lookalike.metrics._filters import Filter, gaussian_kernel, separable_filter
from lookalike.metrics._util import describe_shape

_ssim_native: Any
try:  # built by setup.py when a C compiler is available; optional
    _ssim_native = importlib.import_module("lookalike.metrics._ssim_native")
except ImportError:  # pragma: no cover - depends on the installation
    _ssim_native = None

T = TypeVar("T")

#: Use the native kernel when it is built (tests set this to False to exercise the OpenCV path).
USE_NATIVE = True

#: SSIM constants and Wang's window (ssim_index.m, ssim.m, msssim.m, MATLAB ssim).
K1, K2 = 0.01, 0.03
GAUSS_SIZE, GAUSS_SIGMA = 11, 1.5

#: Elements per strip plane (1 MB of float64): the strip's temporaries stay in cache.
_STRIP_ELEMENTS = 1 << 17
#: Bounds on the rows of a strip: the 2 * radius halo rows cost < 10 % at 128, < 25 % at 48.
_STRIP_ROWS = (48, 128)
#: Below this many output pixels, one thread (thread start-up costs more than it saves).
_PARALLEL_MIN_PIXELS = 1 << 18
#: The same for the native kernel, whose strips cost less than OpenCV's but start up the same:
#: measured, a 512x512 pair (MS-SSIM's second scale) gains from two threads, 256x256 does not.
_PARALLEL_MIN_PIXELS_NATIVE = 1 << 17


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
    weights : ndarray, optional
        When ``filt`` is ``separable_filter(weights)`` (correlation with the
        1-D float64 ``weights`` along both axes), those weights: the native
        kernel then computes SSIM in one fused pass. ``None`` for other filters.
    """

    filt: Filter
    radius: int
    c1: float
    c2: float
    cov_norm: float = 1.0
    box: int = 0
    weights: np.ndarray | None = None


@dataclass
class Sums:
    """Sums of the SSIM map and of the contrast-structure map over the valid area."""

    ssim: float
    cs: float
    count: int


def wang_moments(data_range: float) -> Moments:
    """Wang's setting: 11x11 Gaussian (sigma 1.5), K = (0.01, 0.03), population moments."""
    kernel = gaussian_kernel(GAUSS_SIZE, GAUSS_SIGMA)
    return Moments(
        filt=separable_filter(kernel),
        radius=GAUSS_SIZE // 2,
        c1=(K1 * data_range) ** 2,
        c2=(K2 * data_range) ** 2,
        weights=kernel,
    )


def native_kernel() -> Any:
    """The compiled kernel module, or None when it is not built or ``USE_NATIVE`` is off."""
    return _ssim_native if USE_NATIVE else None


def check_convention(convention: str, choices: tuple[str, ...], what: str) -> str:
    """The convention name, or a ParameterError listing the choices."""
    if not isinstance(convention, str) or convention not in choices:
        raise ParameterError(f"unknown {what} convention {convention!r}; choose one of: {', '.join(choices)}")
    return convention


def check_window(shape: tuple[int, ...], window: int, what: str, hint: str = "") -> None:
    """Raise a ParameterError when an (H, W) image is smaller than a ``window`` x ``window`` window."""
    if min(shape[0], shape[1]) < window:
        raise ParameterError(
            f"{what}: the {window}x{window} window exceeds the image extent "
            f"({describe_shape(shape[:2])}, width x height); both sides must be at least "
            f"{window} pixels. Use larger images{hint}."
        )


def thread_count(n_pixels: int, min_pixels: int = _PARALLEL_MIN_PIXELS) -> int:
    """Threads for an image of ``n_pixels``: OpenCV's setting, capped by the usable CPUs; 1 below ``min_pixels``."""
    if n_pixels < min_pixels:
        return 1
    import cv2

    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cv2.getNumThreads(), cpus))


def run_strips(
    n_rows: int,
    work: Callable[[int, int], T],
    *,
    n_pixels: int,
    width: int,
    min_parallel: int = _PARALLEL_MIN_PIXELS,
) -> list[T]:
    """Call ``work(start, stop)`` on consecutive strips covering ``n_rows`` rows; results in order."""
    step = max(_STRIP_ROWS[0], min(_STRIP_ROWS[1], _STRIP_ELEMENTS // max(1, width)))
    bounds = [(start, min(start + step, n_rows)) for start in range(0, n_rows, step)]
    threads = min(thread_count(n_pixels, min_parallel), len(bounds))
    if threads <= 1:
        return [work(start, stop) for start, stop in bounds]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="lookalike-ssim") as pool:
        return list(pool.map(lambda b: work(*b), bounds))


class Workspace:
    """Scratch arrays reused by every strip a thread processes during one call.

    Allocating a few MB per strip makes the allocator hand pages back to the
    kernel and fault them in again (on 100-megapixel images that costs more
    system time than the arithmetic); each thread keeps its own arrays instead.
    The last strip of an image is shorter and gets leading row views.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def get(self, name: str, rows: int, cols: int, dtype: type[np.generic]) -> np.ndarray:
        store: dict[str, np.ndarray] = self._local.__dict__
        buf = store.get(name)
        if buf is None or buf.shape[0] < rows or buf.shape[1] != cols or buf.dtype != dtype:
            buf = np.empty((rows, cols), dtype)
            store[name] = buf
        return buf[:rows]


def _strip_moments(
    x: np.ndarray, y: np.ndarray, start: int, stop: int, m: Moments, ws: Workspace, tag: str = ""
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Moments for output rows ``start:stop``: mu_x, mu_y, E[x^2+y^2], E[xy] and a scratch array.

    The four moment arrays are row slices of full-width arrays: their rows are
    the valid ones, their first and last ``radius`` columns are not (callers
    crop them). ``tag`` keeps the buffers of several calls per strip apart.
    """
    r = m.radius
    n_in, width = stop - start + 2 * r, x.shape[1]
    rows = slice(r, r + stop - start)

    def buf(name: str) -> np.ndarray:
        return ws.get(tag + name, n_in, width, np.float64)

    xs, ys, scratch = buf("x"), buf("y"), buf("scratch")
    xs[...] = x[start : stop + 2 * r]
    ys[...] = y[start : stop + 2 * r]
    mu_x = m.filt(xs, buf("mu_x"))
    mu_y = m.filt(ys, buf("mu_y"))
    np.multiply(xs, ys, out=scratch)
    e_xy = m.filt(scratch, buf("e_xy"))
    np.multiply(xs, xs, out=xs)
    np.multiply(ys, ys, out=ys)
    xs += ys
    e_sq = m.filt(xs, buf("e_sq"))
    return mu_x[rows], mu_y[rows], e_sq[rows], e_xy[rows], scratch[rows]


def _combine(
    mu_x: np.ndarray,
    mu_y: np.ndarray,
    e_sq: np.ndarray,
    e_xy: np.ndarray,
    scratch: np.ndarray,
    m: Moments,
    cs_out: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """SSIM map (and the cs map into ``cs_out``) from the moments, in place over the moments.

    SSIM = (2 mu_x mu_y + C1)(2 cov + C2) / ((mu_x^2 + mu_y^2 + C1)(var_x + var_y + C2))
    cs   = (2 cov + C2) / (var_x + var_y + C2)
    """
    mu_xy = np.multiply(mu_x, mu_y, out=scratch)
    mu_x *= mu_x
    mu_y *= mu_y
    mu_x += mu_y  # mu_x^2 + mu_y^2
    e_xy -= mu_xy  # population covariance
    e_xy *= 2.0 * m.cov_norm
    e_xy += m.c2  # numerator of cs
    e_sq -= mu_x  # population var_x + var_y
    if m.cov_norm != 1.0:
        e_sq *= m.cov_norm
    e_sq += m.c2  # denominator of cs
    cs = None if cs_out is None else np.divide(e_xy, e_sq, out=cs_out)
    mu_xy *= 2.0
    mu_xy += m.c1
    mu_x += m.c1
    mu_xy *= e_xy
    mu_x *= e_sq
    mu_xy /= mu_x
    return mu_xy, cs


def _strip_box_uint8(
    x: np.ndarray,
    y: np.ndarray,
    start: int,
    stop: int,
    m: Moments,
    ws: Workspace,
    want_cs: bool,
) -> tuple[np.ndarray, np.ndarray | None]:
    """SSIM of uint8 strips over a box window, from exact integer window sums.

    With window sums S (int32, exact) of x, y, x^2 + y^2 and xy over N pixels,
    the normalisations cancel and the (co)variance numerators are exact
    integers, so nothing cancels catastrophically::

        SSIM = (2 Sx Sy + C1 N^2) (2 (N Sxy - Sx Sy) + C2 D)
               / ((Sx^2 + Sy^2 + C1 N^2) (N Sq - Sx^2 - Sy^2 + C2 D)),   D = N^2 / cov_norm

    Every integer stays below 2^31 for N <= 49 (7x7): 49 * 49 * 2 * 255^2 < 2^29.
    """
    import cv2

    r = m.radius
    n_in, width = stop - start + 2 * r, x.shape[1]
    rows = slice(r, r + stop - start)
    n_out = stop - start

    def window_sum(plane: np.ndarray, name: str) -> np.ndarray:
        out = ws.get(name, n_in, width, np.int32)
        cv2.boxFilter(
            plane,
            cv2.CV_32S,
            (m.box, m.box),
            dst=out,
            normalize=False,
            borderType=cv2.BORDER_REPLICATE,
        )
        return out[rows]

    n = m.box * m.box
    d = n * n / m.cov_norm
    x16 = ws.get("x16", n_in, width, np.uint16)
    y16 = ws.get("y16", n_in, width, np.uint16)
    prod = ws.get("prod", n_in, width, np.uint16)
    x16[...] = x[start : stop + 2 * r]
    y16[...] = y[start : stop + 2 * r]
    s_x = window_sum(x16, "s_x")
    s_y = window_sum(y16, "s_y")
    s_xy = window_sum(np.multiply(x16, y16, out=prod), "s_xy")
    s_sq = window_sum(np.multiply(x16, x16, out=prod), "s_sq")
    s_sq += window_sum(np.multiply(y16, y16, out=prod), "s_yy")
    cross = np.multiply(s_x, s_y, out=ws.get("cross", n_out, width, np.int32))  # Sx Sy
    s_x *= s_x
    s_y *= s_y
    s_x += s_y  # Sx^2 + Sy^2
    s_xy *= n
    s_xy -= cross  # N Sxy - Sx Sy (exact)
    s_sq *= n
    s_sq -= s_x  # N Sq - Sx^2 - Sy^2 (exact)

    def real(name: str) -> np.ndarray:
        return ws.get(name, n_out, width, np.float64)

    num2 = np.multiply(s_xy, 2.0, out=real("num2"))
    num2 += m.c2 * d
    den2 = np.add(s_sq, m.c2 * d, out=real("den2"))
    cs = np.divide(num2, den2, out=real("cs")) if want_cs else None
    num1 = np.multiply(cross, 2.0, out=real("num1"))
    num1 += m.c1 * n * n
    den1 = np.add(s_x, m.c1 * n * n, out=real("den1"))
    num1 *= num2
    den1 *= den2
    num1 /= den1
    return num1, cs


def _box_exact(m: Moments, x: np.ndarray, y: np.ndarray) -> bool:
    return bool(m.box) and m.box <= 7 and x.dtype == np.uint8 and y.dtype == np.uint8


def ssim_sums(
    x: np.ndarray,
    y: np.ndarray,
    moments: Moments,
    *,
    ssim_map: np.ndarray | None = None,
    cs_map: np.ndarray | None = None,
    want_cs: bool = False,
) -> Sums:
    """Sum of the 'valid' SSIM map (and of the cs map) of two 2-D arrays.

    ``x`` and ``y`` have the same shape, both sides at least ``2 radius + 1``.
    When ``ssim_map`` / ``cs_map`` (float64, ``(H - 2r, W - 2r)``) are given
    they are filled in. ``Sums.cs`` is NaN unless ``want_cs`` or ``cs_map``.
    """
    r = moments.radius
    out_rows = x.shape[0] - 2 * r
    out_cols = x.shape[1] - 2 * r
    want_cs = want_cs or cs_map is not None
    exact_box = _box_exact(moments, x, y)
    kernel = None if exact_box or moments.weights is None else native_kernel()
    if kernel is not None:
        work = _native_work(kernel, x, y, moments, ssim_map, cs_map, want_cs)
        min_parallel = _PARALLEL_MIN_PIXELS_NATIVE
    else:
        work = _numpy_work(x, y, moments, ssim_map, cs_map, want_cs, exact_box)
        min_parallel = _PARALLEL_MIN_PIXELS
    parts = run_strips(
        out_rows, work, n_pixels=out_rows * out_cols, width=x.shape[1], min_parallel=min_parallel
    )
    return Sums(
        ssim=float(sum(p[0] for p in parts)),
        cs=float(sum(p[1] for p in parts)),
        count=out_rows * out_cols,
    )


_NATIVE_KINDS = {np.dtype(np.float64): 0, np.dtype(np.uint8): 1}


def _native_work(
    kernel: Any,
    x: np.ndarray,
    y: np.ndarray,
    m: Moments,
    ssim_map: np.ndarray | None,
    cs_map: np.ndarray | None,
    want_cs: bool,
) -> Callable[[int, int], tuple[float, float]]:
    """Strip worker on the compiled kernel (GIL released inside, so strips run in parallel).

    float64 and uint8 pairs of one dtype in C order are read in place; any
    other pair is converted strip by strip to float64 first.
    """
    r = m.radius
    height, width = x.shape
    taps = np.ascontiguousarray(m.weights, dtype=np.float64).tobytes()
    out_cols = width - 2 * r
    kind = _NATIVE_KINDS.get(x.dtype)
    direct = (
        kind is not None and x.dtype == y.dtype and x.flags.c_contiguous and y.flags.c_contiguous
    )
    ws = Workspace()

    def writable(out: np.ndarray | None) -> bool:
        return out is not None and out.dtype == np.float64 and out.flags.c_contiguous

    def work(start: int, stop: int) -> tuple[float, float]:
        n_rows = stop - start
        if direct:
            xs, ys, first, rows, code = x, y, start, height, kind
        else:
            xs = ws.get("x", n_rows + 2 * r, width, np.float64)
            ys = ws.get("y", n_rows + 2 * r, width, np.float64)
            xs[...] = x[start : stop + 2 * r]
            ys[...] = y[start : stop + 2 * r]
            first, rows, code = 0, n_rows + 2 * r, 0
        maps: list[np.ndarray | None] = []
        for name, out in (("ssim", ssim_map), ("cs", cs_map)):
            if out is None:
                maps.append(None)
            elif writable(out):
                maps.append(out[start:stop])
            else:
                maps.append(ws.get(name + "_map", n_rows, out_cols, np.float64))
        ssim_sum, cs_sum = kernel.ssim_strip(
            xs, ys, code, rows, width, width, first, n_rows, taps,
            m.c1, m.c2, m.cov_norm, maps[0], maps[1], out_cols, want_cs,
        )  # fmt: skip
        for out, rows_out in ((ssim_map, maps[0]), (cs_map, maps[1])):
            if out is not None and not writable(out):
                out[start:stop] = rows_out
        return ssim_sum, cs_sum

    return work


def _numpy_work(
    x: np.ndarray,
    y: np.ndarray,
    moments: Moments,
    ssim_map: np.ndarray | None,
    cs_map: np.ndarray | None,
    want_cs: bool,
    exact_box: bool,
) -> Callable[[int, int], tuple[float, float]]:
    """Strip worker on OpenCV filters and numpy (the exact uint8 box path, and the fallback)."""
    r = moments.radius
    cols = slice(r, x.shape[1] - r)
    ws = Workspace()

    def work(start: int, stop: int) -> tuple[float, float]:
        if exact_box:
            ssim_rows, cs_rows = _strip_box_uint8(x, y, start, stop, moments, ws, want_cs)
        else:
            cs_out = ws.get("cs", stop - start, x.shape[1], np.float64) if want_cs else None
            moments_rows = _strip_moments(x, y, start, stop, moments, ws)
            ssim_rows, cs_rows = _combine(*moments_rows, moments, cs_out)
        ssim_rows = ssim_rows[:, cols]
        if ssim_map is not None:
            ssim_map[start:stop] = ssim_rows
        cs_sum = float("nan")
        if cs_rows is not None:
            cs_rows = cs_rows[:, cols]
            cs_sum = float(cs_rows.sum())
            if cs_map is not None:
                cs_map[start:stop] = cs_rows
        return float(ssim_rows.sum()), cs_sum

    return work


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
    ws = Workspace()

    def work(start: int, stop: int) -> float:
        per_slice = [
            _strip_moments(x[:, :, c], y[:, :, c], start, stop, moments, ws, tag=f"{c}:") for c in range(depth)
        ]
        mu_x = mix([p[0] for p in per_slice])
        mu_y = mix([p[1] for p in per_slice])
        e_sq = mix([p[2] for p in per_slice])
        e_xy = mix([p[3] for p in per_slice])
        total = 0.0
        for c in range(depth):
            slice_ssim, _ = _combine(mu_x[c], mu_y[c], e_sq[c], e_xy[c], per_slice[c][4], moments, cs_out=None)
            slice_ssim = slice_ssim[:, cols]
            if ssim_map is not None:
                ssim_map[start:stop, :, c] = slice_ssim
            total += float(slice_ssim.sum())
        return total

    parts = run_strips(out_rows, work, n_pixels=out_rows * out_cols * depth, width=x.shape[1] * depth)
    return Sums(ssim=float(sum(parts)), cs=float("nan"), count=out_rows * out_cols * depth)
