"""Histogram metrics: OpenCV's compareHist reproduced, EMD against independent exact solvers."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.optimize import linprog
from scipy.stats import wasserstein_distance

from lookalike.errors import ParameterError
from lookalike.io import load_image
from lookalike.metrics import (
    get_metric,
    hist_bhattacharyya,
    hist_chisq,
    hist_correlation,
    hist_emd,
    hist_intersection,
    histogram,
)
from lookalike.metrics._histogram import _bin_points, compare_histograms
from tests.conftest import shared_path

COMPARISONS = {
    "correlation": (hist_correlation, cv2.HISTCMP_CORREL),
    "chisq": (hist_chisq, cv2.HISTCMP_CHISQR),
    "intersection": (hist_intersection, cv2.HISTCMP_INTERSECT),
    "bhattacharyya": (hist_bhattacharyya, cv2.HISTCMP_BHATTACHARYYA),
}
METRICS = ("hist_correlation", "hist_chisq", "hist_intersection", "hist_bhattacharyya", "hist_emd")


@pytest.fixture(scope="module")
def gates() -> tuple[np.ndarray, np.ndarray]:
    folder = shared_path("seeds", "ssim_blog", "gates")
    return (
        load_image(folder / "jp_gates_original.png", mode="rgb"),
        load_image(folder / "jp_gates_photoshopped.png", mode="rgb"),
    )


@pytest.fixture(scope="module")
def dog_and_cat() -> tuple[np.ndarray, np.ndarray]:
    """Two real photos of different sizes (400x400 and 809x918)."""
    folder = shared_path("seeds", "ssim_blog")
    return (
        load_image(folder / "dogs" / "dog-1.png", mode="rgb", alpha="drop"),
        load_image(folder / "cats" / "cat-1.png", mode="rgb", alpha="drop"),
    )


def _pairs(gates: tuple, dog_and_cat: tuple) -> list[tuple[np.ndarray, np.ndarray]]:
    return [gates, dog_and_cat, (gates[0], dog_and_cat[1])]


# ---- histogram -------------------------------------------------------------------------------


def test_histogram_counts_equal_cv2_calchist(gates: tuple) -> None:
    image = gates[1]
    n = image.shape[0] * image.shape[1]
    cases = [
        ("gray", cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), [0], [256], [0, 256]),
        ("rgb", image, [0, 1, 2], [8, 8, 8], [0, 256] * 3),
        ("hsv", cv2.cvtColor(image, cv2.COLOR_RGB2HSV), [0, 1, 2], [8, 8, 8], [0, 180, 0, 256, 0, 256]),
    ]
    for space, source, channels, bins, ranges in cases:
        ours = histogram(image, space=space)
        assert ours.sum() == pytest.approx(1.0, abs=1e-12)
        theirs = cv2.calcHist([source], channels, None, bins, ranges).reshape(ours.shape)
        if space == "gray":
            # lookalike's grey is MATLAB rgb2gray (rounded); cv2's weights differ slightly.
            theirs = cv2.calcHist([_matlab_gray(image)], channels, None, bins, ranges).ravel()
        np.testing.assert_array_equal(np.rint(ours * n), theirs)


def _matlab_gray(image: np.ndarray) -> np.ndarray:
    from lookalike.color import rgb2gray

    return rgb2gray(image)


def test_histogram_integer_binning_is_exact() -> None:
    ramp8 = np.arange(256, dtype=np.uint8).reshape(16, 16)
    np.testing.assert_array_equal(histogram(ramp8, bins=4), [0.25] * 4)
    np.testing.assert_array_equal(histogram(ramp8, bins=3) * 256, [86, 85, 85])  # v * 3 // 256
    ramp16 = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    np.testing.assert_array_equal(histogram(ramp16), np.full(256, 1 / 256))
    # 12-bit data stored in uint16: 4096 levels, 16 per bin.
    ramp12 = np.arange(4096, dtype=np.uint16).reshape(64, 64)
    np.testing.assert_array_equal(histogram(ramp12, data_range=4095), np.full(256, 1 / 256))


def test_histogram_float_needs_data_range_and_agrees_with_integers() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    with pytest.raises(ParameterError, match="data_range"):
        histogram(image.astype(np.float32))
    # Grey-level input and RGB joint bins (luma of float RGB is not rounded, so it is left out).
    for sample in (image[..., 0], image):
        np.testing.assert_array_equal(histogram(sample), histogram(sample / 256.0, data_range=1.0))
    # The top of the range goes in the last bin.
    np.testing.assert_array_equal(histogram(np.ones((2, 2)), bins=4, data_range=1.0), [0, 0, 0, 1])


def test_histogram_shapes_spaces_and_bad_arguments() -> None:
    image = np.zeros((4, 5, 4), np.uint8)  # RGBA: alpha ignored
    assert histogram(image).shape == (8, 8, 8)
    assert histogram(image, space="gray").shape == (256,)
    assert histogram(image, space="hsv", bins=(18, 3, 2)).shape == (18, 3, 2)
    assert histogram(image[..., 0]).shape == (256,)  # auto: grey image
    assert histogram(image[..., 0], space="rgb")[0, 0, 0] == 1.0  # grey counts as R = G = B
    with pytest.raises(ParameterError, match="space"):
        histogram(image, space="lab")
    with pytest.raises(ParameterError, match="bins"):
        histogram(image, bins=(8, 8))
    with pytest.raises(ParameterError, match="bins"):
        histogram(image, bins=0)
    with pytest.raises(ParameterError, match="shape"):
        histogram(np.zeros((2, 2, 2, 2), np.uint8))
    with pytest.raises(ParameterError, match="finite"):
        histogram(np.full((2, 2), np.nan), data_range=1.0)


# ---- compareHist -----------------------------------------------------------------------------


@pytest.mark.parametrize("space", ["gray", "rgb", "hsv"])
def test_compare_histograms_reproduces_cv2_comparehist(space: str, gates: tuple, dog_and_cat: tuple) -> None:
    for image0, image1 in _pairs(gates, dog_and_cat):
        # cv2 needs float32; flattened, because the Python binding reads an (8, 8, 8) array as an
        # 8x8 image with 8 channels and HISTCMP_CORREL then averages over 64 "bins", not 512.
        h0 = histogram(image0, space=space).astype(np.float32).ravel()
        h1 = histogram(image1, space=space).astype(np.float32).ravel()
        for method, (metric, flag) in COMPARISONS.items():
            expected = cv2.compareHist(h0, h1, flag)
            # Same float64 formulas, different summation order: agreement to rounding.
            assert compare_histograms(h0, h1, method=method) == pytest.approx(expected, rel=1e-12, abs=1e-15)
            # The metric on images uses the float64 histograms: float32 rounding of cv2's input only.
            assert metric(image0, image1, space=space) == pytest.approx(expected, rel=1e-5, abs=1e-7)


def test_compare_histograms_on_raw_counts_matches_cv2(gates: tuple) -> None:
    """Unnormalised cv2.calcHist output, compared by both, gives the same numbers."""
    c0 = cv2.calcHist([gates[0]], [0, 1, 2], None, [8, 8, 8], [0, 256] * 3).ravel()
    c1 = cv2.calcHist([gates[1]], [0, 1, 2], None, [8, 8, 8], [0, 256] * 3).ravel()
    for method, (_, flag) in COMPARISONS.items():
        assert compare_histograms(c0, c1, method=method) == pytest.approx(
            cv2.compareHist(c0, c1, flag), rel=1e-12
        )


def test_compare_histograms_flat_histogram_and_errors() -> None:
    flat = np.full(16, 1 / 16)
    assert compare_histograms(flat, np.linspace(0, 1, 16), method="correlation") == 1.0  # as OpenCV
    with pytest.raises(ParameterError, match="shape"):
        compare_histograms(flat, flat[:8], method="chisq")
    with pytest.raises(ParameterError, match="method"):
        compare_histograms(flat, flat, method="kl")


def test_chisq_is_asymmetric_as_registered(gates: tuple) -> None:
    a, b = gates
    assert hist_chisq(a, b) != pytest.approx(hist_chisq(b, a), rel=1e-3)
    assert not get_metric("hist_chisq").symmetric


def test_known_values_on_tiny_images() -> None:
    black = np.zeros((3, 3), np.uint8)
    white = np.full((5, 2), 255, np.uint8)  # another size
    assert hist_intersection(black, white) == 0.0
    assert hist_bhattacharyya(black, white) == 1.0
    assert hist_emd(black, white) == 1.0
    assert hist_emd(np.zeros((3, 3, 3), np.uint8), np.full((2, 2, 3), 255, np.uint8)) == pytest.approx(1.0)
    half = np.array([[0, 255]], np.uint8)
    assert hist_intersection(black, half) == 0.5
    # chi-square: h0 = [1, 0], h1 = [0.5, 0.5] -> (1 - 0.5)^2 / 1 (the bin empty in h0 is ignored)
    assert hist_chisq(black, half, bins=2) == 0.25
    assert hist_chisq(half, black, bins=2) == 1.0  # 0.25 / 0.5 + 0.25 / 0.5


def test_mixed_types_are_refused() -> None:
    with pytest.raises(ParameterError, match="sample types"):
        hist_intersection(np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint16))


# ---- earth mover's distance ------------------------------------------------------------------


def test_gray_emd_equals_wasserstein_of_pixel_values(gates: tuple, dog_and_cat: tuple) -> None:
    from lookalike.color import rgb2gray

    for image0, image1 in (gates, dog_and_cat):
        g0, g1 = rgb2gray(image0), rgb2gray(image1)
        expected = wasserstein_distance(g0.ravel(), g1.ravel()) / 255
        assert hist_emd(image0, image1, space="gray") == pytest.approx(expected, rel=1e-9)


def test_gray_emd_uint16_full_resolution() -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(0, 65536, (40, 50), dtype=np.uint16)
    b = np.clip(rng.normal(30000, 9000, (30, 20)), 0, 65535).astype(np.uint16)
    expected = wasserstein_distance(a.ravel(), b.ravel()) / 65535
    assert hist_emd(a, b, bins=65536) == pytest.approx(expected, rel=1e-9)


def _emd_cv2_signatures(h0: np.ndarray, h1: np.ndarray, space: str) -> float:
    """cv2.EMD with signatures of the non-empty bins (weight, x, y, z) and the L2 ground distance."""
    points = _bin_points(h0.shape, space)
    i0, i1 = np.flatnonzero(h0), np.flatnonzero(h1)
    s0 = np.column_stack([h0.ravel()[i0], points[i0]]).astype(np.float32)
    s1 = np.column_stack([h1.ravel()[i1], points[i1]]).astype(np.float32)
    return cv2.EMD(s0, s1, cv2.DIST_L2)[0]


def _emd_full_lp(h0: np.ndarray, h1: np.ndarray, space: str) -> float:
    """The textbook transportation LP between all non-empty bins (no surplus/deficit shortcut)."""
    points = _bin_points(h0.shape, space)
    w0, w1 = h0.ravel(), h1.ravel()
    i0, i1 = np.flatnonzero(w0), np.flatnonzero(w1)
    cost = np.linalg.norm(points[i0, None] - points[None, i1], axis=-1)
    m0, m1 = cost.shape
    a_eq = sp.vstack([sp.kron(sp.eye(m0), np.ones((1, m1))), sp.kron(np.ones((1, m0)), sp.eye(m1))])
    b_eq = np.concatenate([w0[i0], w1[i1] * (w0.sum() / w1.sum())])
    return linprog(cost.ravel(), A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs").fun


@pytest.mark.parametrize("space", ["rgb", "hsv"])
def test_colour_emd_matches_cv2_emd_on_real_pairs(space: str, gates: tuple) -> None:
    # The gates pair occupies ~100 bins: cv2.EMD converges there (float32: ~1e-7).
    image0, image1 = gates
    expected = _emd_cv2_signatures(histogram(image0, space=space), histogram(image1, space=space), space)
    assert hist_emd(image0, image1, space=space) == pytest.approx(expected, abs=2e-6)


@pytest.mark.parametrize("space", ["rgb", "hsv"])
def test_colour_emd_matches_full_transport_lp(space: str, gates: tuple, dog_and_cat: tuple) -> None:
    for image0, image1 in (gates, dog_and_cat):
        h0, h1 = histogram(image0, space=space), histogram(image1, space=space)
        assert hist_emd(image0, image1, space=space) == pytest.approx(_emd_full_lp(h0, h1, space), rel=1e-7)


def test_colour_emd_small_bins_and_grey_consistency() -> None:
    rng = np.random.default_rng(5)
    a = rng.integers(0, 256, (30, 30), dtype=np.uint8)
    b = rng.integers(60, 256, (20, 40), dtype=np.uint8)
    h0, h1 = histogram(a, space="rgb", bins=4), histogram(b, space="rgb", bins=4)
    assert hist_emd(a, b, space="rgb", bins=4) == pytest.approx(_emd_full_lp(h0, h1, "rgb"), rel=1e-7)
    # Grey pixels lie on the RGB diagonal, where the scaled ground distance equals the grey one.
    assert hist_emd(a, b, space="rgb", bins=4) == pytest.approx(hist_emd(a, b, space="gray", bins=4), rel=1e-7)


# ---- registry, identities, symmetry, ranges --------------------------------------------------


def test_registered_as_histogram_metrics() -> None:
    for name in METRICS:
        info = get_metric(name)
        assert info.kind == "histogram" and not info.needs_same_size
    assert get_metric("hist_correlation").higher_is_better
    assert get_metric("hist_intersection").higher_is_better
    assert not get_metric("hist_bhattacharyya").higher_is_better
    assert not get_metric("hist_emd").higher_is_better


def test_real_pair_identity_and_direction(gates: tuple) -> None:
    original, edited = gates
    for name in METRICS:
        info = get_metric(name)
        same = info.func(original, original.copy())
        assert same == pytest.approx(info.identity, abs=1e-12)
        other = info.func(original, edited)
        assert (other < same) if info.higher_is_better else (other > same)


images = arrays(
    np.uint8,
    st.tuples(st.integers(1, 12), st.integers(1, 12), st.just(3)),
    elements=st.integers(0, 255),
)


@settings(max_examples=30, deadline=None)
@given(images, images, st.sampled_from(["gray", "rgb", "hsv"]), st.integers(2, 6))
def test_properties_identity_symmetry_bounds(a: np.ndarray, b: np.ndarray, space: str, bins: int) -> None:
    for name in METRICS:
        info = get_metric(name)
        value = info.func(a, b, space=space, bins=bins)
        assert info.func(a, a, space=space, bins=bins) == pytest.approx(info.identity, abs=1e-9)
        low, high = info.bounds
        assert low - 1e-9 <= value <= high + 1e-9
        if info.symmetric:
            assert info.func(b, a, space=space, bins=bins) == pytest.approx(value, rel=1e-7, abs=1e-9)


@settings(max_examples=20, deadline=None)
@given(images, images)
def test_float32_and_float64_agree(a: np.ndarray, b: np.ndarray) -> None:
    for name in METRICS:
        func = get_metric(name).func
        v32 = func(a.astype(np.float32), b.astype(np.float32), data_range=256.0)
        v64 = func(a.astype(np.float64), b.astype(np.float64), data_range=256.0)
        assert v32 == pytest.approx(v64, rel=1e-9, abs=1e-12)
        assert v64 == pytest.approx(func(a, b), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(
    ("dtype", "top", "data_range"), [(np.uint8, 255, None), (np.uint16, 65535, None), (np.float64, 1.0, 1.0)]
)
def test_hsv_bins_of_pure_colours(dtype: type, top: float, data_range: float | None) -> None:
    # Hue 0, 120, 240 degrees -> bins 0, 2, 5 of 8 (uint8 hue is 0, 60, 120 of 180: the same bins).
    pixels = np.array([[[top, 0, 0], [0, top, 0], [0, 0, top]]], dtype=dtype)
    hist = histogram(pixels, space="hsv", data_range=data_range)
    assert set(zip(*np.nonzero(hist), strict=True)) == {(0, 7, 7), (2, 7, 7), (5, 7, 7)}
