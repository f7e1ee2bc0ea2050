"""A similarity score in [0, 1] from the geometric evidence of a match."""

from __future__ import annotations

from lookalike.errors import ParameterError

__all__ = ["CHANCE_INLIERS", "HALF_SCORE_INLIERS", "similarity_from_inliers"]

#: Inliers that a verified model gathers by chance between unrelated images, per model: the most
#: seen over 938 pairs of unrelated photos (the 32 homogr images and 13 UKBench/Holidays samples
#: in ``../shared/data``, RootSIFT, ratio 0.75, MAGSAC++) was 8 for a homography; a fundamental
#: matrix only constrains a match to a line, so chance agreement is higher (99.5 % under 25).
CHANCE_INLIERS = {"homography": 8, "fundamental": 25}

#: Inliers beyond the chance level at which the score reaches 0.5; each further
#: ``HALF_SCORE_INLIERS`` halve the remaining distance to 1.
HALF_SCORE_INLIERS = 10


def similarity_from_inliers(n_inliers: int, *, model: str = "homography") -> float:
    """Map a count of verified inliers to a similarity in [0, 1].

    ``s = 1 - 2 ** (-(n - c) / h)`` for ``n > c`` inliers, else 0, where
    ``c = CHANCE_INLIERS[model]`` (8 for a homography) and
    ``h = HALF_SCORE_INLIERS`` (10). For a homography that gives:

    ====================  =====  ==========================================
    inliers               score  meaning
    ====================  =====  ==========================================
    8 or fewer            0      no more agreement than unrelated images show
    10 (the minimum       0.13   weak: a small shared region, or a hard pair
    to verify)
    18                    0.5    clear: 10 independent matches beyond chance
                                 agree on one view change
    28                    0.75
    48                    0.94   the same scene or object, beyond doubt
    ====================  =====  ==========================================

    Why this shape. Inliers are counted, not weighed by the inlier ratio: the ratio
    measures how clean the ratio-test matches are (texture, repeated patterns,
    viewpoint), not whether the scene is the same, and hard true pairs have few
    clean matches (CapitalRegion: 19 %). What separates a true match from chance is
    how many independent matches agree on one geometry, and the probability that
    ``k`` chance matches all agree falls geometrically with ``k`` (the a-contrario
    argument of Moisan and Stival, "A probabilistic criterion to detect rigid point
    matches between two images", IJCV 2004). So the score is 0 up to the chance
    level measured on unrelated photos and approaches 1 exponentially beyond it. It
    is monotone in the evidence: one more inlier never lowers it.

    Parameters
    ----------
    n_inliers : int
        Number of (distinct) inliers of a verified model; pass 0 when the match
        was not verified.
    model : {"homography", "fundamental"}, keyword-only
        The model the inliers agree with (sets the chance level).

    Examples
    --------
    >>> similarity_from_inliers(18)
    0.5
    >>> similarity_from_inliers(5)
    0.0
    """
    if model not in CHANCE_INLIERS:
        raise ParameterError(f"model must be one of {tuple(CHANCE_INLIERS)}, got {model!r}")
    if n_inliers < 0:
        raise ParameterError(f"n_inliers must be a count (>= 0), got {n_inliers!r}")
    excess = float(n_inliers) - CHANCE_INLIERS[model]
    if excess <= 0:
        return 0.0
    return float(1.0 - 0.5 ** (excess / HALF_SCORE_INLIERS))
