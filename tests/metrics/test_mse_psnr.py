"""MSE, RMSE and PSNR against MATLAB (immse, psnr) and scikit-image."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from lookalike.errors import ImageSizeError, ParameterError
from lookalike.io import load_image
from lookalike.metrics import get_metric, mse, psnr, rmse
from tests.conftest import shared_path


def _live_pairs() -> list[tuple[str, np.ndarray, np.ndarray, dict[str, float | None]]]:
    root = shared_path("reference", "live_matlab")
    data = json.loads((root / "data.json").read_text())
    pairs = []
    for items in data.values():
        for item in items:
            # data.json names the original .bmp files; this copy holds the same pixels as .png.
            ref = root / Path(item["reference"].removeprefix("data/")).with_suffix(".png")
            dist = root / Path(item["measured"].removeprefix("data/")).with_suffix(".png")
            pairs.append((f"{dist.parent.name}/{dist.stem}", load_image(dist), load_image(ref), item["metrics"]))
    return pairs


def test_live_immse_and_psnr_for_all_67_pairs() -> None:
    # Source: reference/live_matlab/data.json: MATLAB immse(meas, ref) and psnr(meas, ref) on the
    # H x W x 3 uint8 arrays (all channels, peak 255), full double precision; psnr null = Inf for
    # the 7 pixel-identical pairs. Tolerance: 1e-9 relative (MATLAB double vs our exact sum).
    pairs = _live_pairs()
    assert len(pairs) == 67
    identical = 0
    for name, dist, ref, expected in pairs:
        assert mse(dist, ref) == pytest.approx(expected["mse"], rel=1e-9, abs=0), name
        value = psnr(dist, ref)
        if expected["psnr"] is None:
            identical += 1
            assert math.isinf(value) and value > 0, name
            assert mse(dist, ref) == 0.0
        else:
            assert value == pytest.approx(expected["psnr"], rel=1e-9, abs=0), name
    assert identical == 7  # gblur/buildings_5, gblur/dancers_1, ... (README_SOURCE.md)


def test_tid2013_psnr_matches_official_values() -> None:
    # Source: reference/tid2013_matlab/reference_values_tidy.csv (skimage
    # peak_signal_noise_ratio on RGB uint8, all channels, data_range 255): 21.11, 20.99, 27.01,
    # 23.30, 21.62 dB, printed to 2 decimals -> tolerance 0.01 dB.
    root = shared_path("reference", "tid2013_matlab")
    with (root / "reference_values_tidy.csv").open(newline="") as handle:
        expected = {
            row["image"]: float(row["official_value"]) for row in csv.DictReader(handle) if row["metric"] == "psnr"
        }
    assert len(expected) == 5
    for image, value in expected.items():
        dist = load_image(root / "dist_dir" / image)
        ref = load_image(root / "ref_dir" / image)
        assert psnr(dist, ref) == pytest.approx(value, abs=0.01), image


def test_psnr_equals_scikit_image() -> None:
    skimage_metrics = pytest.importorskip("skimage.metrics")
    root = shared_path("reference", "tid2013_matlab")
    dist = load_image(root / "dist_dir" / "I08.bmp")
    ref = load_image(root / "ref_dir" / "I08.bmp")
    assert psnr(dist, ref) == pytest.approx(skimage_metrics.peak_signal_noise_ratio(ref, dist), abs=1e-10)
    assert mse(dist, ref) == pytest.approx(skimage_metrics.mean_squared_error(ref, dist), rel=1e-12)


def test_uint8_never_wraps_around() -> None:
    black = np.zeros((4, 4), np.uint8)
    white = np.full((4, 4), 255, np.uint8)
    assert mse(black, white) == 65025.0
    assert mse(white, black) == 65025.0
    assert rmse(black, white) == 255.0
    assert psnr(black, white) == 0.0


def test_sixteen_bit_uses_its_own_range() -> None:
    a = np.zeros((8, 8), np.uint16)
    b = np.full((8, 8), 257, np.uint16)  # 1/255 of the 16-bit range, like 1 grey level in 8 bits
    assert psnr(a, b) == pytest.approx(psnr(a.astype(np.uint8), np.ones((8, 8), np.uint8)))


def test_float_psnr_needs_data_range() -> None:
    a = np.zeros((4, 4))
    b = np.full((4, 4), 0.5)
    with pytest.raises(ParameterError, match="data_range"):
        psnr(a, b)
    assert psnr(a, b, data_range=1.0) == pytest.approx(10 * math.log10(1 / 0.25))
    assert mse(a, b) == 0.25


def test_large_images_are_summed_in_blocks_exactly() -> None:
    # More than one block of rows; integer input is summed exactly.
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (1500, 1000, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (1500, 1000, 3), dtype=np.uint8)
    diff = a.astype(np.int64) - b
    assert mse(a, b) == int((diff * diff).sum()) / diff.size


def test_sizes_differ_names_both_sizes() -> None:
    with pytest.raises(ImageSizeError, match=r"640x480 vs 480x640"):
        mse(np.zeros((480, 640), np.uint8), np.zeros((640, 480), np.uint8))
    with pytest.raises(ImageSizeError, match=r"640x480x3 vs 640x480"):
        psnr(np.zeros((480, 640, 3), np.uint8), np.zeros((480, 640), np.uint8))


def test_registered_directions() -> None:
    assert not get_metric("mse").higher_is_better
    assert not get_metric("rmse").higher_is_better
    assert get_metric("psnr").higher_is_better
    assert get_metric("psnr").identity == math.inf
