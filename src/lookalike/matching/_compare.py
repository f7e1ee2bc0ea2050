"""Match two feature sets end to end: ratio-test matching, verification and a score."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lookalike.features import LocalFeatures
from lookalike.matching._match import match_descriptors
from lookalike.matching._score import similarity_from_inliers
from lookalike.matching._verify import verify as _verify

__all__ = ["MatchResult", "compare_features", "result_from_matches"]


@dataclass(frozen=True, eq=False)
class MatchResult:
    """Everything known about how two images match.

    Attributes
    ----------
    method : str
        The local feature method (``"rootsift"``, ``"sift"``, ``"akaze"``, ``"orb"``).
    keypoints : (int, int)
        Number of keypoints in image A and image B.
    matches : ndarray, intp, shape (M, 2)
        Ratio-test matches: index pairs into the keypoints of A and B.
    inliers : ndarray of bool, shape (M,), or None
        Which matches agree with the verified model (all False when verification
        failed); None when verification was not run.
    model : ndarray or None
        3x3 float64, present only when ``verified``. For a homography, ``H`` maps
        pixel coordinates ``(x, y, 1)`` of A onto B; for a fundamental matrix,
        ``x_b^T F x_a = 0``.
    verified : bool
        Whether the matches agree on one sane geometry (see
        :func:`lookalike.matching.verify`).
    similarity : float
        In [0, 1]; 0 unless verified. See
        :func:`lookalike.matching.similarity_from_inliers` for what the numbers
        mean (0.5: 18 distinct inliers on a homography). Without verification it
        is the same curve applied to the ratio-test match count: an upper bound
        that unrelated images can reach too.
    model_kind : str or None
        ``"homography"`` or ``"fundamental"`` (the model tried), None without
        verification.
    reason : str
        Why the match was not verified ("" when it was, or when not run).
    affine : bool
        True when the result comes from affine view simulation (ASIFT-style).
    points : ndarray, float32, shape (M, 4), or None
        The matched positions, one row per match: ``x_a, y_a, x_b, y_b`` in
        original pixels (what :func:`lookalike.viz.draw_matches` draws).
    a, b : str or None
        The two images as named by whoever matched them (:func:`lookalike.pipelines.match` records the
        paths given, or ``"<ndarray>"``, ...); None when matched from features alone.
    """

    method: str
    keypoints: tuple[int, int]
    matches: np.ndarray
    inliers: np.ndarray | None
    model: np.ndarray | None
    verified: bool
    similarity: float
    model_kind: str | None = None
    reason: str = ""
    affine: bool = False
    points: np.ndarray | None = None
    a: str | None = None
    b: str | None = None

    @property
    def n_matches(self) -> int:
        """Number of ratio-test matches."""
        return len(self.matches)

    @property
    def n_inliers(self) -> int:
        """Number of verified inliers (0 when verification was not run)."""
        return 0 if self.inliers is None else int(np.count_nonzero(self.inliers))

    @property
    def homography(self) -> np.ndarray | None:
        """The verified homography from A to B, or None."""
        return self.model if self.model_kind == "homography" else None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form ``lookalike match --json`` prints and ``POST /api/v1/match`` returns.

        ``{"a", "b", "method", "keypoints": [n_a, n_b], "matches": n, "inliers": n, "verified",
        "homography": H as a list of 3 rows or null, "similarity": s, "similarity_scale": "inliers"}``.

        ``similarity_scale`` names the scale: ``"inliers"``, the evidence of the
        verified inlier count, ``1 - 2^(-(n - 8) / 10)`` (0.5 at 18 inliers). It is
        not the calibrated scale of :func:`lookalike.pipelines.search`
        (``"calibrated-copy"``), which also weighs the hash and the embedding: the
        same pair can read 0.80 here and 34% there.
        """
        h = self.homography
        return {
            "a": self.a,
            "b": self.b,
            "method": self.method,
            "keypoints": [int(self.keypoints[0]), int(self.keypoints[1])],
            "matches": self.n_matches,
            "inliers": self.n_inliers,
            "verified": bool(self.verified),
            "homography": None if h is None else [[float(v) for v in row] for row in h],
            "similarity": float(self.similarity),
            "similarity_scale": "inliers",
        }


def compare_features(
    a: LocalFeatures,
    b: LocalFeatures,
    *,
    ratio: float = 0.75,
    mutual: bool = False,
    verify: bool = True,
    model: str = "homography",
    min_inliers: int | None = None,
    threshold: float | None = None,
    matcher: str = "auto",
) -> MatchResult:
    """Match two images' features, verify the geometry and score the evidence.

    Runs :func:`match_descriptors` (Lowe's ratio test), then, with ``verify``,
    :func:`verify` (MAGSAC++), then :func:`similarity_from_inliers`. Images with
    no keypoints give a result with no matches, ``verified=False`` and similarity
    0, never an exception.

    Parameters
    ----------
    a, b : LocalFeatures
        Features of image A and image B, from the same method.
    ratio, mutual, matcher : keyword-only
        Passed to :func:`match_descriptors`.
    verify : bool, keyword-only
        Fit a model with MAGSAC++ (default). Without it the result holds only the
        ratio-test matches, as the classic OpenCV recipe reports them.
    model, min_inliers, threshold : keyword-only
        Passed to :func:`verify`.

    Returns
    -------
    MatchResult

    Examples
    --------
    >>> import numpy as np
    >>> from lookalike.features import extract_local
    >>> rng = np.random.default_rng(3)
    >>> image = (rng.random((240, 320)) > 0.5).astype(np.uint8) * 255
    >>> f = extract_local(image, method="orb")
    >>> result = compare_features(f, f)
    >>> result.verified, result.similarity > 0.9
    (True, True)
    """
    matches = match_descriptors(a, b, ratio=ratio, mutual=mutual, matcher=matcher)
    return result_from_matches(a, b, matches, verify=verify, model=model, min_inliers=min_inliers,
                               threshold=threshold)


def result_from_matches(
    a: LocalFeatures,
    b: LocalFeatures,
    matches: np.ndarray,
    *,
    verify: bool = True,
    model: str = "homography",
    min_inliers: int | None = None,
    threshold: float | None = None,
) -> MatchResult:
    """The :class:`MatchResult` of given matches: verification and score, as :func:`compare_features`.

    For callers that find the ratio-test matches their own way (for example with
    one FLANN index per image reused over many pairs) and want exactly the result
    :func:`compare_features` would give for the same matches.

    Parameters
    ----------
    a, b : LocalFeatures
        Features of image A and image B.
    matches : ndarray, int, shape (M, 2)
        Index pairs into ``a`` and ``b``, as :func:`match_descriptors` returns
        them (in increasing index of ``a``).
    verify, model, min_inliers, threshold : keyword-only
        As for :func:`compare_features`.

    Returns
    -------
    MatchResult

    Examples
    --------
    >>> import numpy as np
    >>> from lookalike.features import extract_local
    >>> from lookalike.matching import match_descriptors
    >>> rng = np.random.default_rng(3)
    >>> f = extract_local((rng.random((240, 320)) > 0.5).astype(np.uint8) * 255, method="orb")
    >>> result_from_matches(f, f, match_descriptors(f, f)).verified
    True
    """
    matches = np.asarray(matches, dtype=np.intp).reshape(-1, 2)
    counts = (len(a), len(b))
    points = np.hstack([a.xy[matches[:, 0]], b.xy[matches[:, 1]]]).astype(np.float32).reshape(-1, 4)
    if not verify:
        score = similarity_from_inliers(len(matches), model=model)
        return MatchResult(a.method, counts, matches, None, None, False, score, points=points)
    check = _verify(a, b, matches, model=model, min_inliers=min_inliers, threshold=threshold)
    if not check.verified:
        return MatchResult(a.method, counts, matches, np.zeros(len(matches), dtype=bool), None, False,
                           0.0, model_kind=model, reason=check.reason, points=points)
    score = similarity_from_inliers(check.support, model=model)
    return MatchResult(a.method, counts, matches, check.inliers, check.model, True, score,
                       model_kind=model, points=points)
