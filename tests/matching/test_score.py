"""The similarity score: range, monotonicity, the documented anchor points, and MatchResult."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lookalike.errors import ParameterError
from lookalike.features import LocalFeatures, extract_local
from lookalike.matching import CHANCE_INLIERS, MatchResult, compare_features, similarity_from_inliers


@given(st.integers(0, 100_000), st.integers(0, 100_000), st.sampled_from(["homography", "fundamental"]))
def test_in_range_and_monotone(n: int, m: int, model: str) -> None:
    low, high = sorted((n, m))
    s_low = similarity_from_inliers(low, model=model)
    s_high = similarity_from_inliers(high, model=model)
    assert 0.0 <= s_low <= s_high <= 1.0


def test_documented_values() -> None:
    # the table in similarity_from_inliers' docstring
    assert similarity_from_inliers(0) == 0.0
    assert similarity_from_inliers(CHANCE_INLIERS["homography"]) == 0.0
    assert similarity_from_inliers(10) == pytest.approx(1 - 2 ** -0.2)
    assert similarity_from_inliers(18) == 0.5
    assert similarity_from_inliers(28) == 0.75
    assert similarity_from_inliers(48) == pytest.approx(0.9375)
    assert similarity_from_inliers(25, model="fundamental") == 0.0
    assert similarity_from_inliers(35, model="fundamental") == 0.5
    with pytest.raises(ParameterError):
        similarity_from_inliers(-1)
    with pytest.raises(ParameterError):
        similarity_from_inliers(5, model="affine")


def test_result_of_an_image_with_itself() -> None:
    rng = np.random.default_rng(3)
    image = (rng.random((240, 320)) > 0.5).astype(np.uint8) * 255
    f = extract_local(image, method="orb")
    result = compare_features(f, f)
    assert isinstance(result, MatchResult)
    assert result.verified and result.similarity > 0.99
    np.testing.assert_allclose(result.model, np.eye(3), atol=1e-6)
    assert result.keypoints == (len(f), len(f))
    assert result.inliers is not None and result.inliers.dtype == bool
    assert result.points is not None
    np.testing.assert_array_equal(result.points[:, :2], result.points[:, 2:])
    payload = json.loads(json.dumps(result.to_dict()))
    assert list(payload) == ["a", "b", "method", "keypoints", "matches", "inliers", "verified", "homography",
                             "similarity", "similarity_scale"]
    assert payload["a"] is None and payload["b"] is None  # matched from features: no image named
    assert payload["verified"] is True and payload["keypoints"] == [len(f), len(f)]
    assert payload["matches"] == result.n_matches and payload["inliers"] == result.n_inliers
    np.testing.assert_allclose(payload["homography"], result.model)
    assert payload["similarity"] == result.similarity


def test_no_keypoints_gives_an_empty_unverified_result() -> None:
    flat = extract_local(np.full((300, 300), 128, np.uint8))
    rng = np.random.default_rng(3)
    busy = extract_local((rng.random((240, 320)) * 255).astype(np.uint8))
    for a, b in ((flat, busy), (busy, flat), (flat, flat)):
        result = compare_features(a, b)
        assert result.n_matches == 0 and result.n_inliers == 0
        assert result.verified is False and result.similarity == 0.0 and result.model is None
        assert result.to_dict()["homography"] is None
        unverified = compare_features(a, b, verify=False)
        assert unverified.inliers is None and unverified.similarity == 0.0


def test_fundamental_results_carry_no_homography() -> None:
    rng = np.random.default_rng(3)
    image = (rng.random((240, 320)) > 0.5).astype(np.uint8) * 255
    f = extract_local(image, method="orb")
    result = compare_features(f, f, model="fundamental")
    assert result.model_kind == "fundamental"
    assert result.homography is None and result.to_dict()["homography"] is None


def test_features_with_different_methods_are_refused() -> None:
    a = LocalFeatures(np.zeros((2, 4)), np.zeros((2, 32), np.uint8), "orb", (9, 9))
    b = LocalFeatures(np.zeros((2, 4)), np.zeros((2, 61), np.uint8), "akaze", (9, 9))
    with pytest.raises(ParameterError, match="same method"):
        compare_features(a, b)


def test_result_from_matches_is_compare_features_for_the_same_matches() -> None:
    from lookalike.matching import match_descriptors, result_from_matches

    rng = np.random.default_rng(4)
    image = (rng.random((240, 320)) > 0.5).astype(np.uint8) * 255
    a = extract_local(image, method="orb")
    b = extract_local(np.ascontiguousarray(image[10:, 20:]), method="orb")
    for verify in (True, False):
        expected = compare_features(a, b, verify=verify)
        got = result_from_matches(a, b, match_descriptors(a, b), verify=verify)
        assert got.to_dict() == expected.to_dict()
        np.testing.assert_array_equal(got.matches, expected.matches)
        np.testing.assert_array_equal(got.points, expected.points)
    assert expected.to_dict()["matches"] > 100
