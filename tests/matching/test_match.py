"""Ratio-test matching against OpenCV's own recipe, FLANN against brute force, the mutual check."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lookalike.errors import ParameterError
from lookalike.features import LocalFeatures, extract_local
from lookalike.io import load_image
from lookalike.matching import match_descriptors
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def views() -> tuple[np.ndarray, np.ndarray]:
    folder = shared_path("matching", "hpatches_v_graffiti")
    return load_image(folder / "1.ppm"), load_image(folder / "2.ppm")


def _recipe(a: LocalFeatures, b: LocalFeatures, norm: int, ratio: float = 0.75) -> set[tuple[int, int]]:
    """The usual OpenCV tutorial code: BFMatcher, knnMatch(k=2), m.distance < ratio * n.distance."""
    good = set()
    for m, n in cv2.BFMatcher(norm).knnMatch(a.descriptors, b.descriptors, k=2):
        if m.distance < ratio * n.distance:
            good.add((m.queryIdx, m.trainIdx))
    return good


@pytest.mark.parametrize(("method", "norm"), [("rootsift", cv2.NORM_L2), ("akaze", cv2.NORM_HAMMING),
                                               ("orb", cv2.NORM_HAMMING)])
def test_brute_force_is_the_opencv_recipe(views: tuple[np.ndarray, np.ndarray], method: str, norm: int) -> None:
    a, b = (extract_local(v, method=method, max_keypoints=1500) for v in views)
    for ratio in (0.75, 0.9):
        pairs = match_descriptors(a, b, ratio=ratio, matcher="bruteforce")
        assert {tuple(p) for p in pairs.tolist()} == _recipe(a, b, norm, ratio)
        assert len(pairs) > 50
        assert np.all(np.diff(pairs[:, 0]) >= 0)  # in increasing index of a


def test_flann_keeps_nearly_all_brute_force_matches(views: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = (extract_local(v, method="rootsift", max_keypoints=3000) for v in views)
    exact = {tuple(p) for p in match_descriptors(a, b, matcher="bruteforce").tolist()}
    approx = {tuple(p) for p in match_descriptors(a, b, matcher="flann").tolist()}
    # FLANN (4 randomised KD-trees, 32 checks) misses a few true nearest neighbours and, with an
    # underestimated second neighbour, lets a few more through the ratio test.
    assert len(exact & approx) >= 0.95 * len(exact)
    assert len(approx - exact) <= 0.1 * len(exact)
    # "auto" takes FLANN above FLANN_MIN_PAIRS candidate pairs (3000 x 3000 here); seeded trees
    assert {tuple(p) for p in match_descriptors(a, b).tolist()} == approx


def test_mutual_keeps_the_cross_checked_subset(views: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = (extract_local(v, method="sift", max_keypoints=1000) for v in views)
    one_way = {tuple(p) for p in match_descriptors(a, b, ratio=1.0, matcher="bruteforce").tolist()}
    both = match_descriptors(a, b, ratio=1.0, mutual=True, matcher="bruteforce")
    back = {(m.trainIdx, m.queryIdx) for m in cv2.BFMatcher(cv2.NORM_L2).match(b.descriptors, a.descriptors)}
    assert {tuple(p) for p in both.tolist()} == one_way & back
    assert len(both) < len(one_way)


def test_an_image_matches_itself_one_to_one() -> None:
    rng = np.random.default_rng(1)
    image = (rng.random((200, 200)) > 0.5).astype(np.uint8) * 255
    f = extract_local(image, method="orb")
    pairs = match_descriptors(f, f, ratio=1.0)
    np.testing.assert_array_equal(pairs[:, 0], pairs[:, 1])


def test_too_few_keypoints_give_no_matches() -> None:
    empty = extract_local(np.full((50, 50), 7, np.uint8), method="sift")
    one = LocalFeatures(np.zeros((1, 4)), np.eye(1, 128, dtype=np.float32), "sift", (50, 50))
    two = LocalFeatures(np.zeros((2, 4)), np.eye(2, 128, dtype=np.float32), "sift", (50, 50))
    for a, b in ((empty, two), (two, empty), (two, one)):  # b needs a second neighbour
        assert match_descriptors(a, b).shape == (0, 2)
    assert match_descriptors(one, two, ratio=1.0).tolist() == [[0, 0]]


def test_bad_arguments() -> None:
    sift = LocalFeatures(np.zeros((2, 4)), np.eye(2, 128, dtype=np.float32), "sift", (9, 9))
    orb = LocalFeatures(np.zeros((2, 4)), np.zeros((2, 32), np.uint8), "orb", (9, 9))
    with pytest.raises(ParameterError, match="cannot match sift features with orb"):
        match_descriptors(sift, orb)
    with pytest.raises(ParameterError, match="ratio must be in"):
        match_descriptors(sift, sift, ratio=0)
    with pytest.raises(ParameterError, match="needs float descriptors"):
        match_descriptors(orb, orb, matcher="flann")
    with pytest.raises(ParameterError, match="matcher must be one of"):
        match_descriptors(sift, sift, matcher="annoy")
    with pytest.raises(ParameterError, match="must be LocalFeatures"):
        match_descriptors(np.zeros((2, 128)), sift)  # type: ignore[arg-type]


def test_a_flann_index_built_once_answers_every_query_as_a_fresh_match(
    views: tuple[np.ndarray, np.ndarray],
) -> None:
    # The similarity matrix keeps one FlannIndex per column image and queries it with every row
    # image: a query must not change the trees, so each answer equals match_descriptors' own.
    from lookalike.matching._match import FlannIndex

    a, b = (extract_local(v, method="rootsift", max_keypoints=1500) for v in views)
    index = FlannIndex(b.descriptors)
    for query in (a, b, a):
        expected = match_descriptors(query, b, matcher="flann")
        np.testing.assert_array_equal(index.match(query.descriptors, ratio=0.75), expected)
    assert len(index.match(a.descriptors)) > 50


# -- the ratio test by one matrix product (duplicates' and search's verification) -------------------

def _verify_features(name: str, *, crop: bool = False) -> LocalFeatures:
    """What verification stores and matches: RootSIFT at the index's settings, of a real photo."""
    from lookalike.features import mirror_features
    from lookalike.index._descriptors import verify_features
    from tests.index.conftest import photo

    if name == "chelsea-mirrored":
        return mirror_features(_verify_features("chelsea"))
    pixels = photo(name, longest=384)
    return verify_features(np.ascontiguousarray(pixels[30:300, 40:330] if crop else pixels))


def test_ratio_matches_are_brute_forces_matches() -> None:
    from lookalike.matching._match import match_many, ratio_matches

    names = ("astronaut", "chelsea", "coffee", "rocket", "chelsea-mirrored")
    features = [_verify_features(n) for n in names] + [_verify_features("astronaut", crop=True)]
    total = 0
    for a in features:
        for b in features:
            want = match_descriptors(a, b, matcher="bruteforce")
            assert np.array_equal(ratio_matches(a, b), want)
            assert np.array_equal(ratio_matches(a, b, ratio=0.9), match_descriptors(a, b, ratio=0.9,
                                                                                      matcher="bruteforce"))
            total += len(want)
        for got, b in zip(match_many(a, features), features, strict=True):
            assert np.array_equal(got, match_descriptors(a, b, matcher="bruteforce"))
    assert total > 3000  # copies among them (3,533 matches): not a comparison of empty lists
    empty = LocalFeatures(np.zeros((0, 4), np.float32), np.zeros((0, 128), np.float32), "rootsift", (10, 10))
    assert ratio_matches(empty, features[0]).shape == (0, 2)
    assert ratio_matches(features[0], empty).shape == (0, 2)
    assert [m.shape for m in match_many(empty, features[:2])] == [(0, 2), (0, 2)]


def test_ratio_matches_bad_arguments() -> None:
    from lookalike.matching._match import ratio_matches

    sift = LocalFeatures(np.zeros((2, 4)), np.eye(2, 128, dtype=np.float32), "sift", (9, 9))
    rootsift = LocalFeatures(np.zeros((2, 4)), np.eye(2, 128, dtype=np.float32), "rootsift", (9, 9))
    orb = LocalFeatures(np.zeros((2, 4)), np.zeros((2, 32), np.uint8), "orb", (9, 9))
    with pytest.raises(ParameterError, match="needs float descriptors"):
        ratio_matches(orb, orb)
    with pytest.raises(ParameterError, match="cannot match sift features with rootsift"):
        ratio_matches(sift, rootsift)
    with pytest.raises(ParameterError, match="ratio must be in"):
        ratio_matches(sift, sift, ratio=1.5)
