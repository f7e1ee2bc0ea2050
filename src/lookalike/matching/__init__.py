"""Verify that two images show the same thing: ratio-test matching, MAGSAC++ and a score."""

from lookalike.matching._compare import MatchResult, compare_features, result_from_matches
from lookalike.matching._match import MATCHERS, match_descriptors
from lookalike.matching._score import CHANCE_INLIERS, HALF_SCORE_INLIERS, similarity_from_inliers
from lookalike.matching._verify import (
    MIN_INLIERS,
    MODELS,
    Verification,
    homography_is_sane,
    verify,
)

__all__ = [
    "CHANCE_INLIERS",
    "HALF_SCORE_INLIERS",
    "MATCHERS",
    "MIN_INLIERS",
    "MODELS",
    "MatchResult",
    "Verification",
    "compare_features",
    "homography_is_sane",
    "match_descriptors",
    "result_from_matches",
    "similarity_from_inliers",
    "verify",
]
