"""A similarity score in [0, 1] from the geometric evidence of a match."""

from __future__ import annotations

__all__ = ["HALF_SCORE_INLIERS", "similarity_from_inliers"]

#: Inliers beyond the minimal sample for which the score reaches 0.5 (provisional).
HALF_SCORE_INLIERS = 20


def similarity_from_inliers(n_inliers: int, n_matches: int, *, verified: bool, min_sample: int = 4) -> float:
    """Provisional score; calibrated below."""
    if not verified or n_inliers <= min_sample:
        return 0.0
    return 1.0 - 0.5 ** ((n_inliers - min_sample) / HALF_SCORE_INLIERS)
