"""Geometric verification of tentative matches with OpenCV's USAC MAGSAC++."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lookalike.errors import ParameterError
from lookalike.features import LocalFeatures

__all__ = ["DEFAULT_THRESHOLD", "MIN_INLIERS", "MODELS", "Verification", "homography_is_sane", "verify"]

#: Geometric models :func:`verify` can fit.
MODELS = ("homography", "fundamental")

#: Fewest distinct inliers that :func:`verify` accepts as evidence of one geometry, per model. A
#: homography fitted to random matches keeps its 4 sample points and a few more by chance: at most
#: 8 over 938 unrelated photo pairs (see ``lookalike.matching.CHANCE_INLIERS``); a fundamental
#: matrix gathers more (99.7 % of those pairs under 30).
MIN_INLIERS = {"homography": 10, "fundamental": 30}

#: Inlier threshold in pixels for features detected at full resolution.
DEFAULT_THRESHOLD = 2.0

_MIN_SAMPLE = {"homography": 4, "fundamental": 8}
# A projected image may shrink or grow by this factor in area, at most (ExtremeZoom needs ~40).
_MAX_AREA_CHANGE = 1000.0


@dataclass(frozen=True, eq=False)
class Verification:
    """The outcome of :func:`verify`.

    Attributes
    ----------
    verified : bool
        True when a sane model with at least ``min_inliers`` distinct inliers was found.
    model : ndarray or None
        3x3 float64. For ``"homography"``, ``H`` maps ``(x, y, 1)`` of image A onto
        image B (up to scale, normalised so ``H[2, 2] == 1``); for
        ``"fundamental"``, ``F`` with ``x_b^T F x_a = 0``. None unless verified.
    inliers : ndarray, bool, shape (M,)
        Which matches agree with the model (all False when none was found).
    kind : str
        The model that was fitted: ``"homography"`` or ``"fundamental"``.
    reason : str
        Empty when verified, else why not, in words.
    support : int
        Inliers at distinct positions in both images (the evidence the score uses):
        SIFT repeats a keypoint once per dominant orientation, and several keypoints
        of one image can match the same keypoint of the other.
    """

    verified: bool
    model: np.ndarray | None
    inliers: np.ndarray
    kind: str
    reason: str = ""
    support: int = 0

    @property
    def n_inliers(self) -> int:
        """Number of inlier matches."""
        return int(np.count_nonzero(self.inliers))


def verify(
    a: LocalFeatures,
    b: LocalFeatures,
    matches: np.ndarray,
    *,
    model: str = "homography",
    threshold: float | None = None,
    min_inliers: int | None = None,
    confidence: float = 0.9999,
    max_iters: int = 10000,
) -> Verification:
    """Check that tentative matches agree on one geometry, with USAC MAGSAC++.

    Fits a homography (a plane, or a camera that only rotates) or a fundamental
    matrix (any rigid 3-D scene) robustly with MAGSAC++ (Barath, Noskova, Ivashechkin
    and Matas, "MAGSAC++, a fast, reliable and accurate robust estimator", CVPR 2020)
    as OpenCV's USAC framework implements it (``cv2.USAC_MAGSAC``).

    No model is not an error: the result then has ``verified=False`` and says why
    in ``reason``. A homography is also rejected when it is degenerate (see
    :func:`homography_is_sane`) or when fewer than ``min_inliers`` distinct
    keypoints support it.

    Parameters
    ----------
    a, b : LocalFeatures
        Features of the two images (keypoints in original pixels).
    matches : ndarray, int, shape (M, 2)
        Index pairs into ``a`` and ``b``, as :func:`match_descriptors` returns.
    model : {"homography", "fundamental"}, keyword-only
    threshold : float, optional, keyword-only
        Inlier threshold in pixels of image B (for the fundamental matrix: the
        distance to the epipolar line). Default: 2 px, scaled up with the
        downscaling used for detection on large images (keypoints found on a
        half-size copy are only good to about twice the pixel error).
    min_inliers : int, optional, keyword-only
        Fewest distinct inliers for a positive verdict; default
        ``MIN_INLIERS[model]`` (10 for a homography, 30 for a fundamental matrix).
    confidence, max_iters : keyword-only
        RANSAC stopping rule: the probability of having drawn an all-inlier sample,
        and a cap on iterations.

    Returns
    -------
    Verification

    Examples
    --------
    >>> import numpy as np
    >>> from lookalike.features import extract_local
    >>> from lookalike.matching import match_descriptors
    >>> rng = np.random.default_rng(3)
    >>> image = (rng.random((240, 320)) > 0.5).astype(np.uint8) * 255
    >>> f = extract_local(image, method="orb")
    >>> result = verify(f, f, match_descriptors(f, f))
    >>> bool(result.verified), np.allclose(result.model, np.eye(3), atol=1e-3)
    (True, True)
    """
    import cv2

    if model not in MODELS:
        raise ParameterError(f"model must be one of {MODELS}, got {model!r}")
    if min_inliers is None:
        min_inliers = MIN_INLIERS[model]
    if isinstance(min_inliers, bool) or not isinstance(min_inliers, int | np.integer) or min_inliers < 1:
        raise ParameterError(f"min_inliers must be a positive integer, got {min_inliers!r}")
    matches = _check_matches(matches, len(a), len(b))
    none = np.zeros(len(matches), dtype=bool)
    need = max(_MIN_SAMPLE[model], int(min_inliers))
    if len(matches) < need:
        return Verification(False, None, none, model,
                            f"too few matches to verify: {len(matches)} (need {need})")
    if threshold is None:
        threshold = DEFAULT_THRESHOLD * max(a.working_scale, b.working_scale)
    elif not np.isfinite(threshold) or threshold <= 0:
        raise ParameterError(f"threshold must be a positive number of pixels, got {threshold!r}")

    src = np.ascontiguousarray(a.xy[matches[:, 0]], dtype=np.float64)
    dst = np.ascontiguousarray(b.xy[matches[:, 1]], dtype=np.float64)
    params = _usac_params(float(threshold), float(confidence), int(max_iters))
    try:
        if model == "homography":
            fitted, mask = cv2.findHomography(src, dst, params)
        else:
            fitted, mask = cv2.findFundamentalMat(src, dst, params)
    except cv2.error as exc:  # degenerate input, e.g. all points on one spot
        return Verification(False, None, none, model, f"no model found ({_first_line(exc)})")
    if fitted is None or mask is None or fitted.shape != (3, 3) or not np.all(np.isfinite(fitted)):
        return Verification(False, None, none, model, "no model found")
    inliers = mask.ravel().astype(bool)
    if model == "homography":
        if fitted[2, 2] == 0:
            return Verification(False, None, inliers, model, "degenerate homography (H[2, 2] = 0)")
        fitted = fitted / fitted[2, 2]
        problem = _homography_problem(fitted, a.image_size, b.image_size)
        if problem:
            return Verification(False, None, inliers, model, f"degenerate homography: {problem}")
    distinct = _distinct(src[inliers], dst[inliers])
    if distinct < need:
        return Verification(False, None, inliers, model,
                            f"too few inliers: {distinct} distinct (need {need})", distinct)
    return Verification(True, np.asarray(fitted, dtype=np.float64), inliers, model, "", distinct)


def homography_is_sane(
    homography: np.ndarray, size_a: tuple[int, int], size_b: tuple[int, int] | None = None
) -> bool:
    """Whether a homography from image A to image B describes a plausible view change.

    It must be finite and invertible; the corners of A (``size_a`` = width, height)
    must map to points in front of the camera (no horizon crossing image A),
    forming a convex quadrilateral with the same orientation (no mirror, no
    twist); and the area may change by at most a factor of 1000.

    Examples
    --------
    >>> import numpy as np
    >>> homography_is_sane(np.eye(3), (640, 480))
    True
    >>> homography_is_sane(np.diag([1.0, -1.0, 1.0]), (640, 480))  # a mirror image
    False
    """
    h = np.asarray(homography, dtype=np.float64)
    if h.shape != (3, 3) or not np.all(np.isfinite(h)) or h[2, 2] == 0:
        return False
    return not _homography_problem(h / h[2, 2], size_a, size_b or size_a)


def _homography_problem(h: np.ndarray, size_a: tuple[int, int], size_b: tuple[int, int]) -> str:
    """Why the homography is implausible, or '' when it is fine."""
    det = float(np.linalg.det(h))
    if not np.isfinite(det) or abs(det) < 1e-12:
        return "it is singular"
    width, height = size_a
    corners = np.array([[0, 0, 1], [width, 0, 1], [width, height, 1], [0, height, 1]], dtype=np.float64)
    projected = corners @ h.T
    w = projected[:, 2]
    if np.any(w <= 1e-9 * np.abs(projected[:, :2]).max(axis=1, initial=1.0)):
        return "the image crosses the horizon (points map to infinity)"
    quad = projected[:, :2] / w[:, None]
    edges = np.roll(quad, -1, axis=0) - quad
    turns = edges[:, 0] * np.roll(edges, -1, axis=0)[:, 1] - edges[:, 1] * np.roll(edges, -1, axis=0)[:, 0]
    if np.any(turns <= 0):
        return "the image outline is mirrored, twisted or not convex"
    area = 0.5 * float(np.sum(quad[:, 0] * np.roll(quad[:, 1], -1) - np.roll(quad[:, 0], -1) * quad[:, 1]))
    change = area / max(float(width * height), 1.0)
    if not 1.0 / _MAX_AREA_CHANGE <= change <= _MAX_AREA_CHANGE:
        return f"the image area changes by a factor of {change:.3g}"
    del size_b
    return ""


def _usac_params(threshold: float, confidence: float, max_iters: int) -> Any:
    """MAGSAC++ as ``cv2.USAC_MAGSAC`` sets it up, with a least-squares final fit and a fixed seed.

    The least-squares polish on the inliers of the best model (instead of MAGSAC's own
    sigma-weighted one) gave the lower and steadier error on the homogr pairs.
    """
    import cv2

    params = cv2.UsacParams()
    params.sampler = cv2.SAMPLING_UNIFORM
    params.score = cv2.SCORE_METHOD_MAGSAC
    params.loMethod = cv2.LOCAL_OPTIM_SIGMA
    params.loIterations = 10
    params.loSampleSize = 20
    params.final_polisher = cv2.LSQ_POLISHER
    params.final_polisher_iterations = 10
    params.threshold = threshold
    params.confidence = confidence
    params.maxIterations = max_iters
    params.randomGeneratorState = 0  # same input, same answer
    return params


def _check_matches(matches: np.ndarray, n_a: int, n_b: int) -> np.ndarray:
    m = np.asarray(matches)
    if m.size == 0:
        return np.zeros((0, 2), dtype=np.intp)
    if m.ndim != 2 or m.shape[1] != 2 or m.dtype.kind not in "iu":
        raise ParameterError(f"matches must be an integer (M, 2) array, got {m.dtype} {m.shape}")
    if m.min() < 0 or m[:, 0].max() >= n_a or m[:, 1].max() >= n_b:
        raise ParameterError(
            f"matches index past the keypoints ({n_a} in a, {n_b} in b); "
            "pass the matches computed for these features"
        )
    return m.astype(np.intp, copy=False)


def _distinct(src: np.ndarray, dst: np.ndarray) -> int:
    """Inliers at distinct positions in both images.

    SIFT repeats a keypoint once per dominant orientation, and many keypoints of one
    image can match the same keypoint of the other: neither is independent evidence.
    """
    if len(src) == 0:
        return 0
    cells = [np.unique(np.round(p * 2.0).astype(np.int64), axis=0) for p in (src, dst)]  # half pixels
    return min(len(c) for c in cells)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__
