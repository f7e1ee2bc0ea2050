"""`lookalike.pipelines.match` against real ground truth in ../shared/data.

- matching/homogr: 16 planar pairs with hand-annotated correspondences and a ground-truth
  homography (CMP homogr set, Lebeda, Matas and Chum, BMVC 2012). ``NAME_model.txt`` maps B to A;
  the 8 validation points (label 1 in ``NAME_pts.txt``, also ``NAME_vpts.mat``) fit it exactly.
- matching/hpatches_v_graffiti: HPatches v_graffiti; ``H_1_k`` maps image 1 to image k.
- classification/caltech101_13: objects of 13 classes (unrelated across classes).
- retrieval/ukbench_holidays_samples: UKBench groups of 4 photos of one object.
"""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from lookalike.io import load_image
from lookalike.matching import MatchResult
from lookalike.pipelines import match
from tests.conftest import shared_path

HOMOGR_PAIRS = (
    "adam", "boat", "Boston", "BostonLib", "BruggeSquare", "BruggeTower", "Brussels", "CapitalRegion",
    "city", "Eiffel", "ExtremeZoom", "graf", "LePoint1", "LePoint2", "LePoint3", "WhiteBoard",
)


def _project(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    q = np.c_[points, np.ones(len(points))] @ np.asarray(h, dtype=np.float64).T
    return q[:, :2] / q[:, 2:]


def _corners(width: int, height: int) -> np.ndarray:
    return np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float64)


def _image(folder: Path, stem: str) -> Path:
    (path,) = [p for p in folder.glob(f"{stem}.*") if p.suffix in (".png", ".jpg")]
    return path


@pytest.fixture(scope="module")
def homogr() -> dict[str, tuple[MatchResult, np.ndarray, np.ndarray, tuple[int, int], tuple[int, int]]]:
    """Per pair: the match result, validation points in A and B, and the sizes of A and B."""
    folder = shared_path("matching", "homogr")
    out = {}
    for name in HOMOGR_PAIRS:
        image_a, image_b = load_image(_image(folder, f"{name}A")), load_image(_image(folder, f"{name}B"))
        pts = scipy.io.loadmat(folder / f"{name}_vpts.mat")["validation"][0, 0]["pts"]  # 6 x 8
        # RootSIFT, ratio 0.75, MAGSAC++ homography; the ASIFT fallback (seconds per pair) only where
        # the issue expects it: the plain pass already decides the other pairs (CapitalRegion fails
        # to verify, and its affine retry is far from 3 px anyway)
        result = match(image_a, image_b, affine_fallback=name.startswith("LePoint"))
        sizes = (image_a.shape[1], image_a.shape[0]), (image_b.shape[1], image_b.shape[0])
        out[name] = (result, pts[0:2].T, pts[3:5].T, *sizes)
    return out


@pytest.mark.slow
def test_homogr_annotated_points_within_3_px_on_13_of_16_pairs(homogr: dict) -> None:
    errors = {}
    for name, (result, pts_a, pts_b, _, _) in homogr.items():
        if result.verified:
            errors[name] = float(np.linalg.norm(_project(result.model, pts_a) - pts_b, axis=1).mean())
    good = sorted(name for name, e in errors.items() if e < 3.0)
    report = ", ".join(f"{n}: {errors.get(n, float('nan')):.2f}" for n in HOMOGR_PAIRS)
    assert len(good) >= 13, f"mean error of the annotated points (px): {report}"
    # the expectation: the strong viewpoint changes are won by the affine fallback
    for name in ("LePoint1", "LePoint2", "LePoint3"):
        assert homogr[name][0].affine and name in good, report


@pytest.mark.slow
def test_homogr_agrees_with_the_ground_truth_at_the_image_corners(homogr: dict) -> None:
    # Compare the found homography with the ground truth at the corners of each image, mapped
    # into the other image, where the ground truth puts them inside it. Corners outside are
    # extrapolations far beyond any match or annotation (a corner of BostonLib A lands 5000 px
    # off B) where two homographies that agree on the scene can differ by thousands of pixels.
    # Tolerance: 2.5 % of the target image's diagonal (15 px on a 600x450 image, 55 px on 1712x1368).
    folder = shared_path("matching", "homogr")
    failures = []
    compared = 0
    for name, (result, _, _, size_a, size_b) in homogr.items():
        if not result.verified:
            continue
        truth_b_to_a = np.loadtxt(folder / f"{name}_model.txt")
        for h_found, h_truth, source, target in (
            (result.model, np.linalg.inv(truth_b_to_a), size_a, size_b),
            (np.linalg.inv(result.model), truth_b_to_a, size_b, size_a),
        ):
            expected = _project(h_truth, _corners(*source))
            inside = np.all((expected >= 0) & (expected <= target), axis=1)
            error = np.linalg.norm(_project(h_found, _corners(*source)) - expected, axis=1)[inside]
            compared += len(error)
            if len(error) and error.max() > 0.025 * np.hypot(*target):
                failures.append(f"{name}: {error.max():.1f} px")
    assert compared >= 20
    assert len(failures) <= 3, failures  # the same allowance as for the annotated points


def test_graffiti_views_2_and_3_within_5_px_at_the_corners() -> None:
    folder = shared_path("matching", "hpatches_v_graffiti")
    first = load_image(folder / "1.ppm")
    corners = _corners(first.shape[1], first.shape[0])
    for k in (2, 3):
        result = match(first, load_image(folder / f"{k}.ppm"), affine_fallback=False)
        assert result.verified, result.reason
        truth = np.loadtxt(folder / f"H_1_{k}")
        error = np.linalg.norm(_project(result.model, corners) - _project(truth, corners), axis=1)
        assert error.max() < 5.0, (k, error)
        assert result.similarity > 0.99


def test_unrelated_objects_score_below_0_1() -> None:
    root = shared_path("classification", "caltech101_13", "101_ObjectCategories")
    firsts = [sorted(d.glob("*.jpg"))[:2] for d in sorted(root.iterdir()) if d.is_dir()]
    assert len(firsts) == 13
    from lookalike.features import extract_local
    from lookalike.matching import compare_features

    features = [[extract_local(load_image(p)) for p in pair] for pair in firsts]
    scores = []
    for fi, fj in itertools.combinations(features, 2):
        for a, b in itertools.product(fi, fj):  # 4 pairs of images from two different classes
            scores.append(compare_features(a, b).similarity)
    assert len(scores) == 312
    assert max(scores) < 0.1


def test_ukbench_groups_score_higher_within_than_across() -> None:
    folder = shared_path("retrieval", "ukbench_holidays_samples")
    with open(folder / "groundtruth.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["dataset"] == "ukbench"]
    assert len(rows) == 10
    from lookalike.features import extract_local
    from lookalike.matching import compare_features

    features = [extract_local(load_image(folder / r["image"])) for r in rows]
    groups = [r["group_id"] for r in rows]
    within, across = [], []
    for i, j in itertools.combinations(range(len(rows)), 2):
        score = compare_features(features[i], features[j]).similarity
        (within if groups[i] == groups[j] else across).append(score)
    assert len(within) == 6 + 6 + 1 and len(across) == 45 - 13
    assert min(within) > max(across)
    assert max(across) < 0.1
    assert min(within) > 0.5
