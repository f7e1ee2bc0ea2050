"""``match``: do two images show the same thing, where, and how sure is it."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from lookalike.errors import ParameterError
from lookalike.features import LOCAL_METHODS, LocalFeatures, extract_local
from lookalike.io import ImageSource, load_image
from lookalike.matching import MODELS, MatchResult, compare_features
from lookalike.pipelines._compare import source_label

__all__ = ["AFFINE_WORKING_SIZE", "Alignment", "align_pair", "match"]

#: Longest side used for affine view simulation: ASIFT detects on 28 simulated views (about 12 times
#: the pixels of one), so it works on a smaller copy, as Morel and Yu's own first pass does (at a
#: third of the resolution).
AFFINE_WORKING_SIZE = 600


def match(
    image0: ImageSource,
    image1: ImageSource,
    *,
    method: str = "rootsift",
    ratio: float = 0.75,
    verify: bool = True,
    model: str = "homography",
    max_keypoints: int = 4000,
    working_size: int = 1600,
    affine_fallback: bool = True,
    names: tuple[str, str] | None = None,
) -> MatchResult:
    """Match two images: local features, ratio test, MAGSAC++ verification and a score.

    Parameters
    ----------
    image0, image1 : path, bytes, file object, PIL image or ndarray
        Image A and image B (anything :func:`lookalike.io.load_image` reads).
    method : {"rootsift", "sift", "akaze", "orb"}, keyword-only
        Local features (:func:`lookalike.features.extract_local`).
    ratio : float, keyword-only
        Lowe's ratio test threshold (0.75, Lowe 2004).
    verify : bool, keyword-only
        Check the matches with MAGSAC++ (default). Without it the result is the
        classic OpenCV recipe: exact brute-force kNN and the ratio test
        (``BFMatcher().knnMatch(k=2)``, ``m.distance < ratio * n.distance``); with
        ``method="sift"`` its match count is the recipe's "good matches" whenever
        the image has at most ``max_keypoints`` keypoints and fits ``working_size``.
    model : {"homography", "fundamental"}, keyword-only
        The geometry to verify: a plane (or a rotating camera), or any rigid scene.
    max_keypoints, working_size : int, keyword-only
        Passed to :func:`lookalike.features.extract_local`.
    affine_fallback : bool, keyword-only
        When verification finds no model, try again with affine view simulation
        (ASIFT, Morel and Yu 2009, via ``cv2.AffineFeature``), which matches across
        strong viewpoint changes at several times the cost. Only runs when the
        plain pass fails, so pairs that match anyway pay nothing.
    names : (str, str), keyword-only
        What the result calls the two images (``result.a``, ``result.b``); by default the paths
        given, or ``"<ndarray>"``, ``"<bytes>"``, ... for images in memory.

    Returns
    -------
    MatchResult
        ``result.model`` maps ``(x, y, 1)`` of image0 onto image1 when verified.

    Raises
    ------
    ImageReadError
        An image cannot be read.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(3)
    >>> image = (rng.random((240, 320)) > 0.5).astype(np.uint8) * 255
    >>> result = match(image, np.roll(image, 5, axis=1), method="orb")
    >>> result.verified, round(float(result.model[0, 2]))
    (True, 5)
    """
    _check_options(method, ratio, model)
    a_name, b_name = names if names is not None else (source_label(image0), source_label(image1))
    images = [load_image(image0), load_image(image1)]
    options = {"method": method, "max_keypoints": max_keypoints, "working_size": working_size}
    a, b = _extract_both(images, **options)
    # without verification, reproduce the recipe exactly (brute force); with it, FLANN on large sets
    result = compare_features(a, b, ratio=ratio, verify=verify, model=model,
                              matcher="auto" if verify else "bruteforce")
    result = dataclasses.replace(result, a=a_name, b=b_name)
    if not (verify and affine_fallback) or result.verified or min(len(a), len(b)) == 0:
        return result
    # the simulated views multiply the keypoints: keep twice as many in all
    options.update(working_size=min(working_size, AFFINE_WORKING_SIZE), max_keypoints=2 * max_keypoints)
    a2, b2 = _extract_both(images, affine=True, **options)
    retry = compare_features(a2, b2, ratio=ratio, verify=True, model=model)
    if not retry.verified:
        return result
    return dataclasses.replace(retry, affine=True, a=a_name, b=b_name)


@dataclasses.dataclass(frozen=True)
class Alignment:
    """``image1`` brought onto ``image0``'s pixel grid by the homography :func:`match` verified.

    Attributes
    ----------
    image : ndarray
        ``image1`` warped into ``image0``'s frame (``image0``'s shape); pixels
        that ``image1`` does not cover hold ``image0``'s own values, so they
        never read as a difference.
    overlap : (H, W) bool array
        True where ``image1`` covers ``image0`` (a crop covers only its part;
        a rotated copy leaves corners uncovered).
    homography : (3, 3) float64 array
        Maps pixel coordinates ``(x, y, 1)`` of ``image0`` onto ``image1``.
    match : MatchResult
        The verified match the homography comes from (its inliers, its similarity).
    """

    image: np.ndarray
    overlap: np.ndarray
    homography: np.ndarray
    match: MatchResult

    @property
    def overlap_fraction(self) -> float:
        """The share of ``image0``'s pixels that ``image1`` covers."""
        return float(np.count_nonzero(self.overlap)) / self.overlap.size

    def to_dict(self) -> dict[str, Any]:
        """``{"homography": 3 rows, "inliers": n, "overlap": share of image0 covered}`` (no pixels)."""
        return {"homography": self.homography.tolist(), "inliers": self.match.n_inliers,
                "overlap": round(self.overlap_fraction, 6)}


def align_pair(image0: np.ndarray, image1: np.ndarray, *, method: str = "rootsift",
               max_keypoints: int = 4000) -> Alignment:
    """Warp ``image1`` onto ``image0`` with the homography that :func:`match` verifies between them.

    For a picture of the differences between an image and an edited copy of it
    that was also cropped, scaled or rotated: after alignment the two share one
    pixel grid, so a difference is the edit, not the crop. The warp is bilinear
    (``cv2.warpPerspective`` with the inverse map); pixels of ``image0`` that
    ``image1`` does not cover (and a one-pixel seam along the edge of the copy)
    are outside :attr:`Alignment.overlap`.

    Parameters
    ----------
    image0, image1 : (H, W) or (H, W, C) array
        The reference and the copy, with the same number of channels and the
        same sample type (:func:`lookalike.pipelines.harmonise_pair`); sizes may differ.
    method, max_keypoints : keyword-only
        As in :func:`match`.

    Raises
    ------
    ParameterError
        No homography was verified between the two (they may not show the same
        scene), or the images differ in channels or sample type.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(3)
    >>> image = (rng.random((240, 320)) > 0.5).astype(np.uint8) * 255
    >>> aligned = align_pair(image, image[40:200, 60:300].copy(), method="orb")  # a crop: half of image
    >>> aligned.image.shape, round(aligned.overlap_fraction, 2)
    ((240, 320), 0.49)
    """
    import cv2

    first, second = np.asarray(image0), np.asarray(image1)
    if first.ndim != second.ndim or first.shape[2:] != second.shape[2:] or first.dtype != second.dtype:
        raise ParameterError(
            f"images to align need the same channels and sample type, got {first.shape} {first.dtype} and "
            f"{second.shape} {second.dtype}"
        )
    result = match(first, second, method=method, max_keypoints=max_keypoints)
    homography = result.homography
    if not result.verified or homography is None:
        raise ParameterError(
            f"cannot align the images: no homography was verified between them ({result.reason or 'no model'}, "
            f"{result.n_inliers} inliers); they may not show the same scene: compare them without aligning"
        )
    height, width = first.shape[:2]
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP  # dst(p) = src(H p): H maps image0 onto image1
    warped = cv2.warpPerspective(second, homography, (width, height), flags=flags,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    cover = cv2.warpPerspective(np.full(second.shape[:2], 255, np.uint8), homography, (width, height),
                                flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                                borderValue=0)
    overlap = cv2.erode(cover, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE) > 0  # no seam
    warped = warped.reshape(first.shape)
    inside = overlap if first.ndim == 2 else overlap[..., None]
    return Alignment(np.where(inside, warped, first), overlap, np.asarray(homography, np.float64), result)


def _extract_both(images: list[np.ndarray], **options: object) -> tuple[LocalFeatures, LocalFeatures]:
    """Extract both images in two threads (OpenCV releases the GIL while it detects)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        a, b = pool.map(lambda image: extract_local(image, **options), images)  # type: ignore[arg-type]
    return a, b


def _check_options(method: str, ratio: float, model: str) -> None:
    """Refuse bad options before decoding and detecting (which take the time)."""
    if method not in LOCAL_METHODS:
        raise ParameterError(f"method must be one of {', '.join(LOCAL_METHODS)}, got {method!r}")
    if not isinstance(ratio, int | float) or not 0.0 < float(ratio) <= 1.0:
        raise ParameterError(f"ratio must be in (0, 1], got {ratio!r}; Lowe's value is 0.75")
    if model not in MODELS:
        raise ParameterError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
