"""Properties every registered metric must keep (hypothesis): identity, symmetry, range, dtype agreement.

Images are random but structured (a smooth field plus noise, grey or colour), large enough for
every metric (MS-SSIM needs 176 px a side), so each example exercises the real code paths.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lookalike.metrics import get_metric, metric_names

SIZE = 176  # the smallest side MS-SSIM accepts (msssim.m: 5 scales with an 11x11 window)
PROPERTY_SETTINGS = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _image(seed: int, colour: bool, *, size: int = SIZE) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    field = 127 + 90 * np.sin(2 * np.pi * (xx * rng.uniform(0.5, 3) + yy * rng.uniform(0.5, 3)))
    if colour:
        field = np.stack([field, np.roll(field, 7, axis=0), np.roll(field, 13, axis=1)], axis=2)
    noisy = field + rng.normal(0, rng.uniform(2, 30), field.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def _distorted(image: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1000)
    out = image.astype(np.float64) + rng.normal(0, rng.uniform(1, 40), image.shape)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


images = st.tuples(st.integers(0, 2**31 - 1), st.booleans())


@pytest.mark.parametrize("name", metric_names())
@PROPERTY_SETTINGS
@given(spec=images)
def test_identical_images_give_the_identity_value(name: str, spec: tuple[int, bool]) -> None:
    info = get_metric(name)
    image = _image(*spec)
    assert info.func(image, image.copy()) == pytest.approx(info.identity, abs=1e-9)


@pytest.mark.parametrize("name", [n for n in metric_names() if get_metric(n).symmetric])
@PROPERTY_SETTINGS
@given(spec=images)
def test_symmetric_metrics_are_symmetric(name: str, spec: tuple[int, bool]) -> None:
    func = get_metric(name).func
    a = _image(*spec)
    b = _distorted(a, spec[0])
    assert func(a, b) == pytest.approx(func(b, a), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", metric_names())
@PROPERTY_SETTINGS
@given(spec=images)
def test_values_lie_in_the_declared_range_and_distortion_moves_away_from_identity(
    name: str, spec: tuple[int, bool]
) -> None:
    info = get_metric(name)
    a = _image(*spec)
    b = _distorted(a, spec[0])
    value = info.func(a, b)
    low, high = info.bounds
    assert not math.isnan(value)
    assert low - 1e-12 <= value <= high + 1e-12
    # a distorted copy is never more similar than the image itself
    if info.higher_is_better:
        assert value <= info.identity + 1e-12
    else:
        assert value >= info.identity - 1e-12


@pytest.mark.parametrize("name", [n for n in metric_names() if get_metric(n).kind == "full-reference"])
@PROPERTY_SETTINGS
@given(spec=images)
def test_float32_and_float64_inputs_agree(name: str, spec: tuple[int, bool]) -> None:
    func = get_metric(name).func
    a = _image(*spec)
    b = _distorted(a, spec[0])
    v64 = func(a.astype(np.float64), b.astype(np.float64), data_range=255.0) if _takes_range(name) else func(
        a.astype(np.float64), b.astype(np.float64))
    v32 = func(a.astype(np.float32), b.astype(np.float32), data_range=255.0) if _takes_range(name) else func(
        a.astype(np.float32), b.astype(np.float32))
    assert v32 == pytest.approx(v64, rel=1e-6, abs=1e-6)
    if a.ndim == 2:
        # and the integer image (data_range inferred from uint8) gives the same number; for colour the
        # reference conversions round luma to the integer type (MATLAB rgb2gray), so only grey is compared
        assert func(a, b) == pytest.approx(v64, rel=1e-6, abs=1e-6)


def _takes_range(name: str) -> bool:
    import inspect

    return "data_range" in inspect.signature(get_metric(name).func).parameters
