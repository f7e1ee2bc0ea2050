"""diff_regions finds real edits; diff_image draws them; the SSIM map sits on the image grid."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from lookalike.errors import ImageSizeError, ParameterError
from lookalike.io import load_image
from lookalike.metrics import ssim
from lookalike.viz import DiffAnalysis, diff_analysis, diff_image, diff_regions, render_diff
from tests.conftest import shared_path

OUTLINE = np.array([255, 0, 255], np.uint8)


@pytest.fixture(scope="module")
def gates() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    folder = shared_path("seeds", "ssim_blog", "gates")
    return tuple(  # type: ignore[return-value]
        load_image(folder / f"jp_gates_{name}.png", mode="rgb")
        for name in ("original", "photoshopped", "contrast")
    )


@pytest.fixture(scope="module")
def dog() -> np.ndarray:
    return load_image(shared_path("seeds", "ssim_blog", "dogs", "dog-3.png"), mode="rgb", alpha="drop")


def _truth(image0: np.ndarray, image1: np.ndarray, level: int = 8) -> np.ndarray:
    """Pixels that actually changed: any channel differs by more than ``level``."""
    return np.abs(image0.astype(np.int16) - image1.astype(np.int16)).max(axis=-1) > level


def _box_mask(shape: tuple[int, ...], boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    mask = np.zeros(shape[:2], dtype=bool)
    for x, y, w, h in boxes:
        mask[y:y + h, x:x + w] = True
    return mask


def test_gates_photoshop_is_outlined(gates: tuple) -> None:
    original, edited, _ = gates
    regions = diff_regions(original, edited)
    truth = _truth(original, edited)
    covered = _box_mask(original.shape, regions)
    # The logo pasted over the gates: one region, covering the changed pixels and little else.
    assert len(regions) == 1
    assert (truth & covered).sum() / truth.sum() > 0.99
    ys, xs = np.nonzero(truth)
    x, y, w, h = regions[0]
    truth_box = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    inter_w = min(x + w, truth_box[2]) - max(x, truth_box[0])
    inter_h = min(y + h, truth_box[3]) - max(y, truth_box[1])
    union = w * h + (truth_box[2] - truth_box[0]) * (truth_box[3] - truth_box[1]) - inter_w * inter_h
    assert inter_w * inter_h / union > 0.95


def test_separate_edits_give_separate_regions(dog: np.ndarray) -> None:
    image = cv2.resize(dog, (512, 512), interpolation=cv2.INTER_AREA)
    edited = image.copy()
    edits = [(60, 300, 90, 70), (330, 120, 50, 40), (250, 420, 40, 40)]  # (x, y, w, h)
    x, y, w, h = edits[0]
    edited[y:y + h, x:x + w] = edited[y:y + h, x:x + w][::-1]  # flipped upside down
    x, y, w, h = edits[1]
    edited[y:y + h, x:x + w] = 255 - edited[y:y + h, x:x + w]  # inverted
    x, y, w, h = edits[2]
    cv2.circle(edited, (x + w // 2, y + h // 2), w // 2, (0, 200, 0), -1)  # flat disk
    regions = diff_regions(image, edited)
    truth = _truth(image, edited)
    assert len(regions) == len(edits)
    for box in regions:  # every region overlaps changed pixels: no false alarm
        assert truth[_box_mask(image.shape, [box])].any()
    for edit in edits:  # every edit is overlapped by exactly one region
        hits = [box for box in regions if (_box_mask(image.shape, [box]) & _box_mask(image.shape, [edit])).any()]
        assert len(hits) == 1


def test_identical_images_have_no_region(gates: tuple) -> None:
    original = gates[0]
    assert diff_regions(original, original.copy()) == []
    picture = diff_image(original, original.copy(), panel_size=128)
    assert not np.all(picture == OUTLINE, axis=-1).any()


def test_threshold_controls_sensitivity(gates: tuple) -> None:
    original, _, contrast = gates
    # A global contrast change keeps local SSIM well above 0.5 almost everywhere ...
    lenient = diff_regions(original, contrast)
    assert sum(w * h for _, _, w, h in lenient) < 0.01 * original.shape[0] * original.shape[1]
    # ... and a strict threshold flags most of the image.
    strict = diff_regions(original, contrast, threshold=0.95)
    assert _box_mask(original.shape, strict).mean() > 0.8


def test_map_is_wang_valid_map_offset_by_five(gates: tuple) -> None:
    original, edited, _ = gates
    result = diff_analysis(original, edited)
    score, local = ssim(original, edited, full=True)
    assert local.shape == (original.shape[0] - 10, original.shape[1] - 10)
    assert result.ssim_map.shape == original.shape[:2]
    np.testing.assert_array_equal(result.ssim_map[5:-5, 5:-5], local)
    np.testing.assert_array_equal(result.ssim_map[:5, 5:-5], np.repeat(local[:1], 5, axis=0))
    assert result.score == score


def test_single_changed_pixel_is_located_in_image_coordinates() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(60, 200, (40, 50), dtype=np.uint8)
    edited = image.copy()
    edited[13, 31] = 255  # (x, y) = (31, 13)
    result = diff_analysis(image, edited, threshold=0.99, min_area=1)
    assert np.unravel_index(np.argmin(result.ssim_map), result.ssim_map.shape) == (13, 31)
    (x, y, w, h), = result.regions
    assert x <= 31 < x + w and y <= 13 < y + h


def test_grey_and_16_bit_input() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 65536, (64, 80), dtype=np.uint16)
    edited = image.copy()
    edited[10:30, 40:70] = 0
    (x, y, w, h), = diff_regions(image, edited)
    assert x <= 40 and y <= 10 and x + w >= 70 and y + h >= 30
    picture = diff_image(image, edited, panel_size=160)
    assert picture.dtype == np.uint8 and picture.ndim == 3 and picture.shape[2] == 3
    assert np.all(picture == OUTLINE, axis=-1).any()


def test_diff_image_layout(gates: tuple) -> None:
    original, edited, _ = gates
    picture = diff_image(original, edited, labels=("original.png", "edited.png"), panel_size=256)
    assert picture.dtype == np.uint8 and picture.shape[2] == 3
    # Three 256-pixel panels side by side, plus margins, colour bar and text rows.
    assert 3 * 256 < picture.shape[1] < 3 * 256 + 160
    assert 256 < picture.shape[0] < 256 + 100
    assert np.all(picture == OUTLINE, axis=-1).sum() > 500  # the outline is drawn
    # render_diff draws a precomputed analysis identically.
    result = diff_analysis(original, edited)
    assert isinstance(result, DiffAnalysis)
    again = render_diff(original, edited, result, data_range=255, labels=("original.png", "edited.png"),
                        panel_size=256)
    np.testing.assert_array_equal(picture, again)


def test_bad_arguments(gates: tuple) -> None:
    original, edited, _ = gates
    with pytest.raises(ImageSizeError, match="300x300"):
        diff_regions(original, edited[:200])
    with pytest.raises(ParameterError, match="threshold"):
        diff_regions(original, edited, threshold=2.0)
    with pytest.raises(ParameterError, match="min_area"):
        diff_regions(original, edited, min_area=0)
    with pytest.raises(ParameterError, match="panel_size"):
        diff_image(original, edited, panel_size=8)
    with pytest.raises(ParameterError, match="data_range"):
        diff_regions(original.astype(np.float32), edited.astype(np.float32))


def test_viz_does_not_import_matplotlib() -> None:
    code = "import sys, lookalike.viz; print('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
