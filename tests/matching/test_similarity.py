"""The copy-similarity model: one formula for one pair, for arrays of pairs, and its inverse."""

from __future__ import annotations

import numpy as np

from lookalike.matching import copy_similarity, hash_reach


def test_vectorised_scores_equal_copy_similarity() -> None:
    from lookalike.matching import copy_similarity, global_similarity

    distance = np.array([0, 2, 7, 8, 30, -1, -1, 4])
    cosine = np.array([0.99, np.nan, 0.5, 0.995, 0.2, 0.97, np.nan, 0.93])
    want = [copy_similarity(hash_distance=None if d < 0 else int(d), cosine=None if np.isnan(c) else float(c))
            for d, c in zip(distance, cosine, strict=True)]
    assert np.allclose(global_similarity(distance, cosine), want, rtol=1e-12, atol=0)


def test_hash_reach_inverts_the_hash_term() -> None:
    # the largest distance whose hash evidence alone reaches the threshold, for every threshold of interest
    for threshold in np.linspace(0.05, 0.99, 95):
        reach = hash_reach(float(threshold))
        if reach >= 0:
            assert copy_similarity(hash_distance=reach) >= threshold
        if reach + 1 < 8:  # HASH_MARGIN: beyond it the hash says nothing
            assert copy_similarity(hash_distance=reach + 1) < threshold
    assert hash_reach(1.0) == -1


def test_the_matched_share_lifts_a_verified_pair_and_only_a_verified_one() -> None:
    from lookalike.matching import matched_share

    # a 50% crop: 40 inliers, nearly all of its own keypoints, against an original with many more
    crop = copy_similarity(inliers=40, verified=True, matched=matched_share(40, (45, 900)))
    same_object = copy_similarity(inliers=40, verified=True, matched=matched_share(40, (700, 900)))
    assert crop > 0.85 > 0.5 > same_object  # calibration set: >= 0.85 holds 97% originals (CALIBRATION)
    assert copy_similarity(inliers=40, verified=False, matched=0.9) == 0.0
    shares = np.linspace(0, 1, 11)
    scores = [copy_similarity(inliers=20, verified=True, matched=float(m)) for m in shares]
    assert np.all(np.diff(scores) >= 0)
    assert matched_share(5, (0, 10)) == 0.0 and matched_share(50, (20, 30)) == 1.0
