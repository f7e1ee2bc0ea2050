"""``match``: do two images show the same thing, where, and how sure is it."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from lookalike.errors import ParameterError
from lookalike.features import LOCAL_METHODS, LocalFeatures, extract_local
from lookalike.io import ImageSource, load_image
from lookalike.matching import MODELS, MatchResult, compare_features
from lookalike.pipelines._compare import source_label

__all__ = ["AFFINE_WORKING_SIZE", "match"]

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
