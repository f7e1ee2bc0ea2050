"""The compiled SSIM kernel against the OpenCV path it replaces, scikit-image and itself on other threads.

The native kernel (``lookalike.metrics._ssim_native``) and the OpenCV fallback compute the same
float64 formula with different summation orders, so their maps agree to a few ulps of 1 (1e-12
here) and never exactly; scikit-image agrees with both to float64 rounding of its own filters.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from lookalike.io import load_image
from lookalike.metrics import _ssim_core as core
from lookalike.metrics import ms_ssim, ssim
from lookalike.metrics._filters import box_downsample, gaussian_kernel, separable_filter
from lookalike.metrics._msssim import _halve
from tests.conftest import shared_path

native = pytest.importorskip(
    "lookalike.metrics._ssim_native", reason="the C kernel is not built (no compiler at install time)"
)
skimage_metrics = pytest.importorskip("skimage.metrics")

MAP_TOL = 1e-12  # native vs OpenCV path, per pixel of the SSIM / cs maps


@pytest.fixture
def fallback(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run the OpenCV path (as on an installation without the compiled kernel)."""
    monkeypatch.setattr(core, "USE_NATIVE", False)
    yield


@pytest.fixture(params=["auto", "baseline"])
def variant(request: pytest.FixtureRequest) -> Iterator[str]:
    """The kernel version the CPU selects, then the portable one (on x86-64 both are built)."""
    if request.param == "baseline":
        name = native.set_avx2(False)
    else:
        name = native.variant()
    try:
        yield name
    finally:
        native.set_avx2(True)


def _pair(shape: tuple[int, ...], seed: int, dtype: type[np.generic] = np.uint8) -> tuple[np.ndarray, np.ndarray]:
    """A random image and a noisy, partly inverted copy (so SSIM and cs take both signs)."""
    rng = np.random.default_rng(seed)
    peak = 65535 if dtype == np.uint16 else 255
    x = rng.integers(0, peak + 1, shape).astype(np.float64)
    x = np.asarray(cv2.GaussianBlur(x, (0, 0), 2.0))  # structure, so the maps are not all ~0
    y = x + rng.normal(0, peak / 10, shape)
    y[: shape[0] // 3] = peak - y[: shape[0] // 3]
    x, y = np.clip(x, 0, peak), np.clip(y, 0, peak)
    if np.issubdtype(dtype, np.integer):
        return np.rint(x).astype(dtype), np.rint(y).astype(dtype)
    return x.astype(dtype), y.astype(dtype)


Result = tuple[core.Sums, np.ndarray, np.ndarray]


def _sums_and_maps(x: np.ndarray, y: np.ndarray, moments: core.Moments) -> Result:
    r = moments.radius
    shape = (x.shape[0] - 2 * r, x.shape[1] - 2 * r)
    ssim_map, cs_map = np.full(shape, np.nan), np.full(shape, np.nan)
    sums = core.ssim_sums(x, y, moments, ssim_map=ssim_map, cs_map=cs_map)
    return sums, ssim_map, cs_map


def _both_paths(
    x: np.ndarray, y: np.ndarray, moments: core.Moments, monkeypatch: pytest.MonkeyPatch
) -> tuple[Result, Result]:
    fast = _sums_and_maps(x, y, moments)
    with monkeypatch.context() as patch:
        patch.setattr(core, "USE_NATIVE", False)
        slow = _sums_and_maps(x, y, moments)
    return fast, slow


def _assert_same(fast: Result, slow: Result) -> None:
    (fs, fmap, fcs), (ss, smap, scs) = fast, slow
    assert np.isfinite(fmap).all() and np.isfinite(fcs).all()
    np.testing.assert_allclose(fmap, smap, rtol=0, atol=MAP_TOL)
    np.testing.assert_allclose(fcs, scs, rtol=0, atol=MAP_TOL)
    assert fs.count == ss.count
    assert fs.ssim == pytest.approx(ss.ssim, rel=0, abs=MAP_TOL * fs.count)
    assert fs.cs == pytest.approx(ss.cs, rel=0, abs=MAP_TOL * fs.count)


@pytest.mark.parametrize(
    "shape",
    [
        (11, 11),  # the smallest image: a single output pixel
        (12, 11),
        (11, 150),  # one output row, two column tiles
        (37, 301),  # odd width, three tiles, last one not a multiple of the vector width
        (64, 139),  # exactly one full tile (128 output columns) plus one column
        (100, 263),
        (301, 45),
    ],
)
def test_native_equals_opencv_path_on_many_shapes(
    shape: tuple[int, int], variant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, y = _pair(shape, seed=shape[0] * 1000 + shape[1])
    fast, slow = _both_paths(x, y, core.wang_moments(255), monkeypatch)
    _assert_same(fast, slow)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
def test_every_input_dtype_matches_the_opencv_path(dtype: type[np.generic], monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = _pair((90, 133), seed=3, dtype=dtype)
    peak = 65535.0 if dtype == np.uint16 else 255.0
    fast, slow = _both_paths(x, y, core.wang_moments(peak), monkeypatch)
    _assert_same(fast, slow)


def test_strided_views_and_mixed_layouts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Crops (rows farther apart than their width) and Fortran order go through float64 strips."""
    big_x, big_y = _pair((160, 200), seed=4)
    x, y = big_x[13:150, 7:180], big_y[13:150, 7:180]
    assert not x.flags.c_contiguous
    fast, slow = _both_paths(x, y, core.wang_moments(255), monkeypatch)
    _assert_same(fast, slow)
    fast_f, _ = _both_paths(np.asfortranarray(x), np.asfortranarray(y), core.wang_moments(255), monkeypatch)
    _assert_same(fast_f, slow)


@pytest.mark.parametrize(
    ("weights", "cov_norm"),
    [
        (np.full(7, 1 / 7), 49 / 48),  # scikit-image's window and sample covariance
        (gaussian_kernel(3, 0.5), 1.0),
        (np.array([0.1, 0.2, 0.3, 0.25, 0.15]), 1.0),  # not symmetric: correlation, as OpenCV
        (np.array([1.0]), 1.0),
    ],
)
def test_any_separable_window(weights: np.ndarray, cov_norm: float, monkeypatch: pytest.MonkeyPatch) -> None:
    moments = core.Moments(
        filt=separable_filter(weights),
        radius=len(weights) // 2,
        c1=(0.01 * 255) ** 2,
        c2=(0.03 * 255) ** 2,
        cov_norm=cov_norm,
        weights=weights,
    )
    x, y = _pair((70, 141), seed=5)
    fast, slow = _both_paths(x, y, moments, monkeypatch)
    _assert_same(fast, slow)


def test_full_map_through_the_public_api_equals_the_opencv_path(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = _pair((257, 389), seed=6)
    for convention in ("wang", "matlab"):
        value, fast_map = ssim(x, y, convention=convention, full=True)
        with monkeypatch.context() as patch:
            patch.setattr(core, "USE_NATIVE", False)
            slow_value, slow_map = ssim(x, y, convention=convention, full=True)
        np.testing.assert_allclose(fast_map, slow_map, rtol=0, atol=MAP_TOL)
        assert value == pytest.approx(slow_value, rel=0, abs=1e-13)


def test_fallback_path_still_serves_the_public_api(fallback: None) -> None:
    x, y = _pair((80, 96), seed=7)
    assert core.native_kernel() is None
    expected = skimage_metrics.structural_similarity(
        x, y, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert ssim(x, y) == pytest.approx(expected, rel=0, abs=1e-12)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float64])
def test_native_equals_skimage_with_wang_settings(dtype: type[np.generic]) -> None:
    x, y = _pair((203, 317), seed=8, dtype=dtype)
    peak = 65535 if dtype == np.uint16 else 255
    value, ssim_map = ssim(x, y, data_range=peak, full=True)
    expected, expected_map = skimage_metrics.structural_similarity(
        x.astype(np.float64),
        y.astype(np.float64),
        data_range=peak,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        full=True,
    )
    # scipy's Gaussian filter and ours round differently: 1e-12 per pixel, far below the 1e-6 promised.
    np.testing.assert_allclose(ssim_map, expected_map[5:-5, 5:-5], rtol=0, atol=1e-12)
    assert value == pytest.approx(expected, rel=0, abs=1e-13)


def test_identical_images_give_exactly_one_for_any_values(variant: str) -> None:
    rng = np.random.default_rng(9)
    x = rng.uniform(0, 1, (60, 211)) ** 3  # arbitrary float64, not integers
    value, ssim_map = ssim(x, x.copy(), data_range=1.0, full=True)
    assert value == 1.0
    assert (ssim_map == 1.0).all()
    r = 5
    cs_map = np.empty((x.shape[0] - 2 * r, x.shape[1] - 2 * r))
    sums = core.ssim_sums(x, x.copy(), core.wang_moments(1.0), cs_map=cs_map)
    assert (cs_map == 1.0).all()
    assert sums.cs == sums.count


def test_result_does_not_depend_on_the_thread_count() -> None:
    x, y = _pair((1100, 700), seed=10)
    previous = cv2.getNumThreads()
    try:
        cv2.setNumThreads(1)
        single = (ssim(x, y, full=True), ms_ssim(x, y))
        cv2.setNumThreads(max(2, previous))
        multi = (ssim(x, y, full=True), ms_ssim(x, y))
    finally:
        cv2.setNumThreads(previous)
    assert single[0][0] == multi[0][0]
    assert (single[0][1] == multi[0][1]).all()
    assert single[1] == multi[1]


def test_single_row_strips_are_the_rows_of_the_whole_map() -> None:
    """Calling the kernel one output row at a time gives the rows of a one-call map, bit for bit."""
    x, y = _pair((40, 157), seed=11)
    w = gaussian_kernel(11, 1.5).tobytes()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    rows, cols = x.shape[0] - 10, x.shape[1] - 10
    whole, whole_cs = np.empty((rows, cols)), np.empty((rows, cols))
    total = native.ssim_strip(x, y, 1, *x.shape, x.shape[1], 0, rows, w, c1, c2, 1.0, whole, whole_cs, cols, True)
    by_row, by_row_cs = np.empty((rows, cols)), np.empty((rows, cols))
    for i in range(rows):
        native.ssim_strip(x, y, 1, *x.shape, x.shape[1], i, 1, w, c1, c2, 1.0, by_row[i], by_row_cs[i], cols, True)
    assert (by_row == whole).all()
    assert (by_row_cs == whole_cs).all()
    assert total[0] == pytest.approx(whole.sum(), rel=1e-14)
    assert total[1] == pytest.approx(whole_cs.sum(), rel=1e-14)
    no_cs = native.ssim_strip(x, y, 1, *x.shape, x.shape[1], 0, rows, w, c1, c2, 1.0, None, None, cols, False)
    assert no_cs[0] == total[0]
    assert np.isnan(no_cs[1])


@pytest.mark.parametrize(
    ("first_row", "n_rows", "height"),
    [(0, 31, 40), (-1, 5, 40), (25, 10, 30), (0, 1, 10)],
)
def test_kernel_refuses_rows_outside_the_image(first_row: int, n_rows: int, height: int) -> None:
    x = np.zeros((40, 50), np.uint8)
    w = gaussian_kernel(11, 1.5).tobytes()
    with pytest.raises(ValueError, match="out of range"):
        native.ssim_strip(x, x, 1, height, 50, 50, first_row, n_rows, w, 1.0, 1.0, 1.0, None, None, 40, False)


def test_kernel_refuses_buffers_smaller_than_their_shape() -> None:
    x = np.zeros((40, 50), np.uint8)
    w = gaussian_kernel(11, 1.5).tobytes()
    with pytest.raises(ValueError, match="image buffers"):
        native.ssim_strip(x, x, 0, 40, 50, 50, 0, 30, w, 1.0, 1.0, 1.0, None, None, 40, False)  # read as float64
    small_map = np.empty((29, 40))
    with pytest.raises(ValueError, match="map buffers"):
        native.ssim_strip(x, x, 1, 40, 50, 50, 0, 30, w, 1.0, 1.0, 1.0, small_map, None, 40, False)
    with pytest.raises(TypeError, match="float64"):
        native.ssim_strip(x, x, 1, 40, 50, 50, 0, 30, w, 1.0, 1.0, 1.0, np.empty((30, 40), np.float32), None, 40, False)


@pytest.mark.parametrize("shape", [(64, 48), (63, 48), (64, 47), (31, 31), (1, 1), (2, 5)])
def test_native_halving_is_box_downsample_bit_for_bit(shape: tuple[int, int]) -> None:
    """MS-SSIM's 2x2 means from the kernel: the same operations as box_downsample, odd sizes included."""
    rng = np.random.default_rng(12)
    x = rng.integers(0, 256, shape, dtype=np.uint8)
    xf = rng.uniform(0, 255, shape)  # arbitrary float64: any reordering would show
    assert (_halve(x) == box_downsample(x, 2)).all()
    assert (_halve(xf) == box_downsample(xf, 2)).all()
    assert (_halve(np.asfortranarray(xf)) == box_downsample(xf, 2)).all()  # numpy route


def test_ms_ssim_native_equals_opencv_path(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = _pair((300, 421), seed=13)
    value = ms_ssim(x, y)
    monkeypatch.setattr(core, "USE_NATIVE", False)
    assert value == pytest.approx(ms_ssim(x, y), rel=0, abs=1e-12)
    assert 0.0 < value < 1.0


@pytest.mark.parametrize("name", ["I03", "I19"])
def test_real_images_native_equals_opencv_path_and_skimage(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    root = shared_path("reference", "tid2013_matlab")
    x = load_image(root / "dist_dir" / f"{name}.bmp", mode="gray")
    y = load_image(root / "ref_dir" / f"{name}.bmp", mode="gray")
    fast, slow = _both_paths(x, y, core.wang_moments(255), monkeypatch)
    _assert_same(fast, slow)
    expected = skimage_metrics.structural_similarity(
        x, y, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert fast[0].ssim / fast[0].count == pytest.approx(expected, rel=0, abs=1e-12)
