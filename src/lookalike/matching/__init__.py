"""Verify that two images show the same thing: ratio-test matching, MAGSAC++ and a score.

Also the calibrated ``copy`` and ``semantic`` similarity models
(:func:`copy_similarity`, :func:`global_similarity` over arrays,
:func:`hash_reach` its inverse) and the verification recipe
(:func:`verify_pixels`, :func:`verify_features`: the decode and the RootSIFT
keypoints that search, duplicates and the index's stored keypoints share).
"""

from lookalike.matching._compare import MatchResult, compare_features, result_from_matches
from lookalike.matching._match import MATCHERS, FlannIndex, match_descriptors, match_many, prefers_flann, ratio_matches
from lookalike.matching._recipe import (
    DESCRIPTOR_ALPHA,
    VERIFY_KEYPOINTS,
    VERIFY_SIZE,
    load_for_descriptors,
    pixel_digest,
    verify_features,
    verify_pixels,
)
from lookalike.matching._score import CHANCE_INLIERS, HALF_SCORE_INLIERS, similarity_from_inliers
from lookalike.matching._similarity import (
    CALIBRATION,
    FLAT_HASH_BITS,
    HASH_MARGIN,
    SEMANTIC_CALIBRATION,
    copy_logit,
    copy_similarity,
    flat_hashes,
    global_similarity,
    hash_reach,
    matched_share,
    semantic_similarity,
)
from lookalike.matching._similarity import sigmoid as similarity_from_logit
from lookalike.matching._verify import (
    MIN_INLIERS,
    MODELS,
    Verification,
    homography_is_sane,
    verify,
)

__all__ = [
    "CALIBRATION",
    "CHANCE_INLIERS",
    "DESCRIPTOR_ALPHA",
    "FLAT_HASH_BITS",
    "HALF_SCORE_INLIERS",
    "HASH_MARGIN",
    "MATCHERS",
    "MIN_INLIERS",
    "MODELS",
    "SEMANTIC_CALIBRATION",
    "VERIFY_KEYPOINTS",
    "VERIFY_SIZE",
    "FlannIndex",
    "MatchResult",
    "Verification",
    "compare_features",
    "copy_logit",
    "copy_similarity",
    "flat_hashes",
    "global_similarity",
    "hash_reach",
    "homography_is_sane",
    "load_for_descriptors",
    "match_descriptors",
    "match_many",
    "matched_share",
    "pixel_digest",
    "prefers_flann",
    "ratio_matches",
    "result_from_matches",
    "semantic_similarity",
    "similarity_from_inliers",
    "similarity_from_logit",
    "verify",
    "verify_features",
    "verify_pixels",
]
