"""``align_pair`` and an aligned diff: a cropped, rotated copy with an edit shows the edit, not the crop.

The real case is the SSIM blog's Jurassic Park gates (``../shared/data/seeds/ssim_blog/gates``):
a photo and a copy someone edited in Photoshop (the park's logo painted over
the gate). The copy is cropped to 80% of each side here and turned by 90
degrees, as a re-posted picture often is.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lookalike.errors import ParameterError
from lookalike.io import load_image
from lookalike.pipelines import align_pair, resize_pair
from lookalike.viz import diff_analysis, diff_image
from tests.conftest import shared_path

#: The crop of the edited copy, in its pixels (x0, y0, x1, y1): 80% of each side of the 300x300 picture.
CROP = (45, 30, 285, 270)


@pytest.fixture(scope="module")
def gates() -> tuple[np.ndarray, np.ndarray]:
    folder = shared_path("seeds", "ssim_blog", "gates")
    return (load_image(folder / "jp_gates_original.png"), load_image(folder / "jp_gates_photoshopped.png"))


def overlaps(box: tuple[int, int, int, int], area: tuple[int, int, int, int]) -> float:
    """The share of ``box`` (x, y, w, h) inside ``area`` (x0, y0, x1, y1)."""
    x, y, w, h = box
    inside_w = max(0, min(x + w, area[2]) - max(x, area[0]))
    inside_h = max(0, min(y + h, area[3]) - max(y, area[1]))
    return inside_w * inside_h / (w * h)


def test_a_rotated_crop_of_an_edited_copy_shows_the_edit(gates: tuple[np.ndarray, np.ndarray]) -> None:
    original, edited = gates
    same_size = diff_analysis(original, edited)  # the edit, uncropped: one region
    [edit_box] = same_size.regions
    x0, y0, x1, y1 = CROP
    copy = np.ascontiguousarray(np.rot90(edited[y0:y1, x0:x1]))  # 240x240, turned by 90 degrees

    aligned = align_pair(original, copy)
    assert aligned.image.shape == original.shape
    assert aligned.match.verified and aligned.match.n_inliers >= 30
    # the copy covers the crop: 240 x 240 of 300 x 300 = 64%, less its one-pixel seam
    assert aligned.overlap_fraction == pytest.approx(0.64, abs=0.02)
    assert not aligned.overlap[:y0 - 2].any() and not aligned.overlap[:, :x0 - 2].any()
    assert aligned.overlap[y0 + 2:y1 - 2, x0 + 2:x1 - 2].all()

    result = diff_analysis(original, aligned.image, valid=aligned.overlap)
    [box] = result.regions
    assert result.valid is not None and not result.valid[~aligned.overlap].any()
    assert overlaps(box, (x0, y0, x1, y1)) == 1.0  # nothing is reported outside the copy
    # ... and the region is the edit: the uncropped region cut to the crop, within the SSIM window
    ex, ey, ew, eh = edit_box
    expected = (max(ex, x0), max(ey, y0), min(ex + ew, x1), min(ey + eh, y1))
    got = (box[0], box[1], box[0] + box[2], box[1] + box[3])
    assert np.abs(np.subtract(got, expected)).max() <= 11, (got, expected)
    # without alignment the same pair is one region over the whole picture: the crop, not the edit
    plain0, plain1 = resize_pair(original, copy, "first")
    assert diff_analysis(plain0, plain1).regions == [(0, 0, 300, 300)]


def test_the_unedited_crop_aligns_to_no_region(gates: tuple[np.ndarray, np.ndarray]) -> None:
    original, _edited = gates
    x0, y0, x1, y1 = CROP
    crop = original[y0:y1, x0:x1]
    copy = np.asarray(Image.fromarray(crop).resize((180, 180), Image.Resampling.LANCZOS))  # scaled to 75%
    aligned = align_pair(original, copy)
    result = diff_analysis(original, aligned.image, valid=aligned.overlap)
    assert result.regions == [] and result.score > 0.8


def test_the_picture_hatches_what_was_not_compared(gates: tuple[np.ndarray, np.ndarray]) -> None:
    original, edited = gates
    x0, y0, x1, y1 = CROP
    copy = np.ascontiguousarray(edited[y0:y1, x0:x1])
    picture = diff_image(original, copy, align=True, panel_size=300)
    plain = diff_image(original, original, panel_size=300)
    assert picture.shape == plain.shape
    # the second panel's top-left corner (not covered by the copy) is the grey hatching, not the photo
    panel = picture[30:330, 12 + 300 + 12:12 + 300 + 12 + 300]
    corner = panel[:y0 - 5, :x0 - 5]
    assert set(np.unique(corner)) <= {150, 190}


def test_unrelated_images_cannot_be_aligned(gates: tuple[np.ndarray, np.ndarray]) -> None:
    original, _edited = gates
    noise = np.random.default_rng(0).integers(0, 256, original.shape, dtype=np.uint8)
    with pytest.raises(ParameterError, match="cannot align the images: no homography was verified"):
        align_pair(original, noise)
    with pytest.raises(ParameterError, match="same channels"):
        align_pair(original, original[..., 0])
