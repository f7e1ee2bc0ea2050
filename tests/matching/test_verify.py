"""MAGSAC++ verification: known warps are recovered, chance and degenerate geometry are refused."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lookalike.errors import ParameterError
from lookalike.features import LocalFeatures, extract_local
from lookalike.io import load_image
from lookalike.matching import Verification, homography_is_sane, match_descriptors, verify
from tests.conftest import shared_path


def _features(points: np.ndarray, size: tuple[int, int] = (1000, 800)) -> LocalFeatures:
    """Features at given positions (descriptors are irrelevant to verify)."""
    n = len(points)
    keypoints = np.c_[points, np.full(n, 4.0), np.zeros(n)]
    return LocalFeatures(keypoints, np.zeros((n, 32), np.uint8), "orb", size)


def _project(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    q = np.c_[points, np.ones(len(points))] @ h.T
    return q[:, :2] / q[:, 2:]


def test_recovers_a_known_warp_of_a_real_image() -> None:
    image = load_image(shared_path("matching", "hpatches_v_graffiti", "1.ppm"))
    h_true = np.array([[0.9, 0.15, 40.0], [-0.1, 0.95, 30.0], [1e-4, -5e-5, 1.0]])
    warped = cv2.warpPerspective(image, h_true, (800, 640), flags=cv2.INTER_LINEAR)
    a, b = extract_local(image), extract_local(warped)
    matches = match_descriptors(a, b)
    result = verify(a, b, matches)
    assert isinstance(result, Verification)
    assert result.verified, result.reason
    assert result.reason == ""
    assert result.n_inliers > 0.8 * len(matches)
    assert result.support <= result.n_inliers
    corners = np.array([[0, 0], [800, 0], [800, 640], [0, 640]], float)
    error = np.linalg.norm(_project(result.model, corners) - _project(h_true, corners), axis=1)
    assert error.max() < 1.0  # px at the image corners; warpPerspective's bilinear resampling only
    assert result.model[2, 2] == 1.0


def test_exact_correspondences_give_the_exact_homography() -> None:
    rng = np.random.default_rng(0)
    pts = rng.uniform([0, 0], [1000, 800], size=(200, 2))
    h_true = np.array([[1.2, 0.1, -50.0], [0.05, 0.9, 20.0], [2e-4, 1e-4, 1.0]])
    a, b = _features(pts), _features(_project(h_true, pts))
    matches = np.repeat(np.arange(200)[:, None], 2, axis=1)
    matches[150:, 1] = rng.permutation(matches[150:, 1])  # 50 wrong matches
    result = verify(a, b, matches)
    assert result.verified
    corners = np.array([[0, 0], [1000, 0], [1000, 800], [0, 800]], float)
    error = np.linalg.norm(_project(result.model, corners) - _project(h_true, corners), axis=1)
    assert error.max() < 0.01  # px: float32 keypoints are the only noise
    assert result.inliers[:150].all()
    assert result.n_inliers <= 152  # a shuffled match may land on itself


def test_the_fundamental_matrix_of_a_3d_scene() -> None:
    rng = np.random.default_rng(2)
    world = np.c_[rng.uniform(-2, 2, (300, 2)), rng.uniform(4, 8, 300)]  # points at depth 4-8
    k = np.array([[800.0, 0, 500], [0, 800, 400], [0, 0, 1]])
    angle = 0.2
    r = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
    t = np.array([1.0, 0.1, 0.2])
    xa = world @ k.T
    xb = (world @ r.T + t) @ k.T
    a, b = _features(xa[:, :2] / xa[:, 2:]), _features(xb[:, :2] / xb[:, 2:])
    matches = np.repeat(np.arange(300)[:, None], 2, axis=1)
    result = verify(a, b, matches, model="fundamental")
    assert result.verified and result.kind == "fundamental"
    residual = np.einsum("ij,jk,ik->i", np.c_[b.xy, np.ones(300)], result.model, np.c_[a.xy, np.ones(300)])
    assert np.abs(residual).max() < 1e-3


def test_random_matches_are_not_verified() -> None:
    rng = np.random.default_rng(5)
    a = _features(rng.uniform([0, 0], [1000, 800], (300, 2)))
    b = _features(rng.uniform([0, 0], [1000, 800], (300, 2)))
    result = verify(a, b, np.repeat(np.arange(300)[:, None], 2, axis=1))
    assert not result.verified
    assert result.model is None
    assert result.reason


def test_too_few_or_collapsed_matches_are_a_verdict_not_an_error() -> None:
    a = _features(np.array([[10.0, 10], [20, 10], [20, 30], [10, 30]]))
    result = verify(a, a, np.repeat(np.arange(4)[:, None], 2, axis=1))
    assert not result.verified and "too few matches" in result.reason
    # 30 matches that all land on the same spot of B: a homography "fits" but collapses the image
    rng = np.random.default_rng(1)
    a = _features(rng.uniform(0, 500, (30, 2)))
    b = _features(np.full((30, 2), 250.0))
    result = verify(a, b, np.repeat(np.arange(30)[:, None], 2, axis=1))
    assert not result.verified
    assert result.model is None
    empty = _features(np.zeros((0, 2)))
    assert not verify(empty, empty, np.zeros((0, 2), int)).verified


@pytest.mark.parametrize(
    ("h", "sane"),
    [
        (np.eye(3), True),
        (np.array([[2.0, 0, 100], [0, 2, 50], [0, 0, 1]]), True),  # zoom
        (np.array([[0.0, -1, 480], [1, 0, 0], [0, 0, 1]]), True),  # rotation by 90 degrees
        (np.array([[1.0, 0, 0], [0, 1, 0], [0.0005, 0, 1]]), True),  # mild perspective
        (np.diag([-1.0, 1, 1]), False),  # mirror
        (np.array([[1e-3, 0, 0], [0, 1e-3, 0], [0, 0, 1]]), False),  # collapses to a dot
        (np.array([[1.0, 0, 0], [0, 1, 0], [-0.002, 0, 1]]), False),  # horizon crosses the image
        (np.array([[1.0, 2, 0], [0.5, 1, 0], [0, 0, 1]]), False),  # singular
        (np.full((3, 3), np.nan), False),
    ],
)
def test_homography_sanity(h: np.ndarray, sane: bool) -> None:
    assert homography_is_sane(h, (640, 480)) is sane


def test_bad_arguments() -> None:
    a = _features(np.zeros((20, 2)))
    good = np.repeat(np.arange(20)[:, None], 2, axis=1)
    with pytest.raises(ParameterError, match="model must be one of"):
        verify(a, a, good, model="affine")
    with pytest.raises(ParameterError, match="index past the keypoints"):
        verify(a, a, good + 1)
    with pytest.raises(ParameterError, match=r"integer \(M, 2\)"):
        verify(a, a, good.astype(float))
    with pytest.raises(ParameterError, match="threshold must be"):
        verify(a, a, good, threshold=-1.0)
    with pytest.raises(ParameterError, match="min_inliers"):
        verify(a, a, good, min_inliers=0)
