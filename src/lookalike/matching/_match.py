"""Tentative correspondences: k-nearest-neighbour matching with Lowe's ratio test."""

from __future__ import annotations

from typing import Any

import numpy as np

from lookalike.errors import ParameterError
from lookalike.features import LocalFeatures

__all__ = [
    "FLANN_MIN_PAIRS", "MATCHERS", "FlannIndex", "match_descriptors", "match_many", "prefers_flann", "ratio_matches",
]

#: Matcher choices of :func:`match_descriptors`.
MATCHERS = ("auto", "bruteforce", "flann")

#: With ``matcher="auto"``, float descriptors use FLANN when ``len(a) * len(b)`` exceeds this
#: (about 2000 x 2000 keypoints): below it exact brute force costs less than 0.1 s.
FLANN_MIN_PAIRS = 2048 * 2048

# FLANN randomised KD-trees (Muja and Lowe 2009): 4 trees and 32 leaf checks keep about 99 % of
# the brute-force ratio-test matches at a quarter of the cost on 4000 x 4000 SIFT descriptors.
_FLANN_TREES = 4
_FLANN_CHECKS = 32
_FLANN_SEED = 0x5EED


def match_descriptors(
    a: LocalFeatures,
    b: LocalFeatures,
    *,
    ratio: float = 0.75,
    mutual: bool = False,
    matcher: str = "auto",
) -> np.ndarray:
    """Match the descriptors of two images with a k-nearest-neighbour ratio test.

    For each descriptor of ``a`` the two nearest descriptors of ``b`` are found;
    the pair is kept when the nearest is clearly nearer than the second,
    ``d1 < ratio * d2`` (Lowe, "Distinctive image features from scale-invariant
    keypoints", IJCV 2004, section 7.1). This is the usual OpenCV recipe
    (``BFMatcher().knnMatch(k=2)`` and ``m.distance < 0.75 * n.distance``); with
    ``matcher="bruteforce"`` the result is exactly that recipe's.

    Parameters
    ----------
    a, b : LocalFeatures
        Features of the two images, from the same method.
    ratio : float, keyword-only
        Lowe's ratio in (0, 1]; lower keeps fewer, more distinctive matches.
        ``1.0`` keeps every nearest neighbour.
    mutual : bool, keyword-only
        Also require that the descriptor of ``a`` is the nearest neighbour of its
        match in ``b`` (a cross check).
    matcher : {"auto", "bruteforce", "flann"}, keyword-only
        ``"bruteforce"`` compares every pair exactly (L2 for SIFT/RootSIFT, Hamming
        for AKAZE/ORB); ``"flann"`` uses randomised KD-trees (float descriptors
        only; the trees are seeded through ``cv2.setRNGSeed``, so results are
        reproducible, at the cost of resetting OpenCV's random generator in the
        calling thread); ``"auto"`` takes FLANN for float descriptors when
        ``len(a) * len(b) > FLANN_MIN_PAIRS`` and brute force otherwise.

    Returns
    -------
    ndarray, intp, shape (M, 2)
        Index pairs ``(i, j)``: keypoint ``i`` of ``a`` matches keypoint ``j`` of
        ``b``, in increasing ``i``. Empty (0, 2) when either image has no keypoints
        or ``b`` has fewer than two (the ratio test needs a second neighbour).

    Examples
    --------
    >>> import numpy as np
    >>> from lookalike.features import extract_local
    >>> rng = np.random.default_rng(1)
    >>> image = (rng.random((200, 200)) > 0.5).astype(np.uint8) * 255
    >>> f = extract_local(image, method="orb")
    >>> pairs = match_descriptors(f, f)
    >>> bool(np.all(pairs[:, 0] == pairs[:, 1]))
    True
    """
    _check_pair(a, b)
    if not 0.0 < float(ratio) <= 1.0:
        raise ParameterError(f"ratio must be in (0, 1], got {ratio!r}; Lowe's value is 0.75")
    if matcher not in MATCHERS:
        raise ParameterError(f"matcher must be one of {MATCHERS}, got {matcher!r}")
    if matcher == "flann" and a.is_binary:
        raise ParameterError(
            f"matcher='flann' needs float descriptors (sift, rootsift), not {a.method}; "
            "binary descriptors are matched by brute-force Hamming distance"
        )
    if len(a) == 0 or len(b) < 2:
        return np.zeros((0, 2), dtype=np.intp)
    use_flann = matcher == "flann" or (matcher == "auto" and prefers_flann(a, b))
    if use_flann:
        pairs = FlannIndex(b.descriptors).match(a.descriptors, ratio=ratio)
        engine = _flann()  # for the mutual check only
    else:
        engine = _bruteforce(a.is_binary)
        pairs = _ratio_test(engine.knnMatch(a.descriptors, b.descriptors, k=2), ratio)
    if mutual and len(pairs):
        back = engine.match(b.descriptors[pairs[:, 1]], a.descriptors)
        nearest = np.array([m.trainIdx for m in back], dtype=np.intp)
        pairs = pairs[nearest == pairs[:, 0]]
    return pairs[np.argsort(pairs[:, 0], kind="stable")]


def prefers_flann(a: LocalFeatures, b: LocalFeatures) -> bool:
    """Whether ``matcher="auto"`` matches ``a`` against ``b`` with FLANN rather than brute force.

    True for float descriptors (SIFT, RootSIFT) when ``len(a) * len(b) > FLANN_MIN_PAIRS``.
    Shared with :mod:`lookalike.pipelines._matrix`, which must take the same path as
    :func:`match_descriptors` to give the same matches.
    """
    return not a.is_binary and len(a) * len(b) > FLANN_MIN_PAIRS


class FlannIndex:
    """FLANN's randomised KD-trees over one image's float descriptors, built once, queried by many.

    The trees are those :func:`match_descriptors` builds with ``matcher="flann"``
    (same parameters, and seeded through ``cv2.setRNGSeed`` before they are built,
    so the same descriptors always give the same trees and the same matches).
    :func:`match_descriptors` builds one per call; the similarity matrix keeps
    one per column image and queries it with every row image.

    Parameters
    ----------
    descriptors : ndarray, float32, shape (N, D)
        The descriptors searched (``LocalFeatures.descriptors`` of SIFT or RootSIFT).

    References
    ----------
    Muja and Lowe, "Fast approximate nearest neighbors with automatic algorithm
    configuration", VISAPP 2009 (the randomised KD-trees).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> train = rng.random((100, 8), dtype=np.float32)
    >>> pairs = FlannIndex(train).match(train[:5], ratio=0.9)
    >>> pairs[:, 1].tolist()
    [0, 1, 2, 3, 4]
    """

    def __init__(self, descriptors: np.ndarray) -> None:
        import cv2

        # FLANN draws its random trees from OpenCV's RNG (per thread): seed it, so that the same
        # input always gives the same matches
        cv2.setRNGSeed(_FLANN_SEED)
        self._matcher = _flann()
        self._matcher.add([descriptors])
        self._matcher.train()

    def match(self, queries: np.ndarray, *, ratio: float = 0.75) -> np.ndarray:
        """Each query's nearest descriptor, kept by Lowe's ratio test (``d1 < ratio * d2``).

        Returns the index pairs ``(query, train)`` as an intp array of shape (M, 2),
        in increasing query index; (0, 2) when none passes.
        """
        pairs = _ratio_test(self._matcher.knnMatch(queries, k=2), ratio)
        return pairs[np.argsort(pairs[:, 0], kind="stable")]


def _ratio_test(knn: Any, ratio: float) -> np.ndarray:
    """The ``(queryIdx, trainIdx)`` of the k=2 matches whose nearest is nearer than ``ratio`` x the second."""
    rows = [(p[0].queryIdx, p[0].trainIdx) for p in knn if len(p) >= 2 and p[0].distance < ratio * p[1].distance]
    return np.array(rows, dtype=np.intp).reshape(-1, 2)


def _check_pair(a: LocalFeatures, b: LocalFeatures) -> None:
    for name, f in (("a", a), ("b", b)):
        if not isinstance(f, LocalFeatures):
            raise ParameterError(
                f"{name} must be LocalFeatures (from lookalike.features.extract_local), "
                f"got {type(f).__name__}"
            )
    if a.method != b.method:
        raise ParameterError(
            f"cannot match {a.method} features with {b.method} features; extract both images "
            "with the same method"
        )


def _bruteforce(binary: bool) -> Any:
    import cv2

    return cv2.BFMatcher(cv2.NORM_HAMMING if binary else cv2.NORM_L2)


def _flann() -> Any:
    import cv2

    index: dict[str, bool | int | float | str] = {"algorithm": 1, "trees": _FLANN_TREES}  # KD-tree
    search: dict[str, bool | int | float | str] = {"checks": _FLANN_CHECKS}
    return cv2.FlannBasedMatcher(index, search)


#: gemm's absent third matrix.
_NO_ARRAY = np.zeros((0, 0), np.float32)


def ratio_matches(a: LocalFeatures, b: LocalFeatures, *, ratio: float = 0.75) -> np.ndarray:
    """Lowe's ratio-test matches of float descriptors ``a`` against ``b``, as brute force finds them.

    The pairs of :func:`match_descriptors` with ``matcher="bruteforce"`` (each descriptor of ``a``,
    its two nearest of ``b`` by L2 distance, kept when ``d1 < ratio * d2``; Lowe, IJCV 2004), for
    SIFT and RootSIFT, with the squared distances as ``|a|^2 + |b|^2 - 2 a.b`` from one matrix
    product instead of OpenCV's brute-force matcher. The product is OpenCV's ``gemm``, not numpy's
    BLAS: verification runs on several threads, and a multi-threaded BLAS called from them waits on
    its own threads (find_duplicates on 2 busy cores: 12 ms a 400 x 400-keypoint pair against 1.0
    with ``gemm``; on a quieter machine 3.6 against 3.05 ms for two 1,000-keypoint pairs at once).
    The distances differ from OpenCV's brute force in the last bits only, so the matches are the
    same but for exact ties; tests check it on real photos.

    Returns
    -------
    ndarray, intp, shape (M, 2)
        ``(i, j)``: keypoint ``i`` of ``a`` matches keypoint ``j`` of ``b``, in increasing ``i``;
        (0, 2) when ``a`` has no keypoints or ``b`` fewer than two.

    Examples
    --------
    >>> import numpy as np
    >>> from lookalike.features import extract_local
    >>> f = extract_local(np.random.default_rng(0).integers(0, 256, (96, 128), np.uint8), method="rootsift")
    >>> g = extract_local(np.random.default_rng(1).integers(0, 256, (96, 128), np.uint8), method="rootsift")
    >>> bool(np.array_equal(ratio_matches(f, g), match_descriptors(f, g, matcher="bruteforce")))
    True
    """
    import cv2

    _check_pair(a, b)
    if a.is_binary:
        raise ParameterError(f"ratio_matches needs float descriptors (sift, rootsift), not {a.method}; "
                             "use match_descriptors for binary ones")
    if not 0.0 < float(ratio) <= 1.0:
        raise ParameterError(f"ratio must be in (0, 1], got {ratio!r}; Lowe's value is 0.75")
    if len(a) == 0 or len(b) < 2:
        return np.zeros((0, 2), np.intp)
    x = np.ascontiguousarray(a.descriptors, dtype=np.float32)
    y = np.ascontiguousarray(b.descriptors, dtype=np.float32)
    # |b|^2 - 2 a.b, (len(a), len(b)): the squared distance less |a|^2, which is the same along a row
    # and does not change which descriptor of b is nearest
    dist = np.asarray(cv2.gemm(x, y, -2.0, _NO_ARRAY, 0.0, flags=cv2.GEMM_2_T))
    dist += np.einsum("ij,ij->i", y, y)[None, :]
    rows = np.arange(len(x))
    nearest = np.argmin(dist, axis=1)  # the lowest index among ties, as OpenCV
    d1 = dist[rows, nearest]
    dist[rows, nearest] = np.inf
    d2 = dist.min(axis=1)
    a_norm = np.einsum("ij,ij->i", x, x)
    d1 = np.sqrt(np.maximum(d1 + a_norm, 0.0)).astype(np.float64)
    d2 = np.sqrt(np.maximum(d2 + a_norm, 0.0)).astype(np.float64)
    keep = d1 < ratio * d2
    return np.stack([rows[keep], nearest[keep]], axis=1).astype(np.intp)


def match_many(ours: LocalFeatures, theirs: list[LocalFeatures], *, ratio: float = 0.75) -> list[np.ndarray]:
    """:func:`ratio_matches` of ``ours`` against each of ``theirs`` (a search's short list).

    The same pairs as :func:`match_descriptors` with ``matcher="bruteforce"`` for each candidate.
    One product a candidate costs less than one product for a batch of them (the distances of 8
    candidates at once, 32 MB, do not stay in cache): 48 ms instead of 88 for a 1,000-keypoint
    photo against a short list of 24 photos of 0.3-2.3 MP, on the main thread.
    """
    return [ratio_matches(ours, features, ratio=ratio) for features in theirs]
