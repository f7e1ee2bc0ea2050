"""Side-by-side picture of a keypoint match: inlier lines, outliers, and B's outline inside A."""

from __future__ import annotations

from typing import Any

import numpy as np

from lookalike.errors import ParameterError
from lookalike.features import LocalFeatures
from lookalike.matching import MatchResult

__all__ = ["draw_matches"]

# RGB colours
_INLIER = (40, 200, 60)
_OUTLIER = (230, 60, 50)
_OUTLINE = (255, 200, 0)
_HALO = (0, 0, 0)
_GAP = 8  # pixels between the two panels


def draw_matches(
    image0: np.ndarray,
    image1: np.ndarray,
    result: MatchResult,
    *,
    features: tuple[LocalFeatures, LocalFeatures] | None = None,
    show_outliers: bool = False,
    outline: bool = True,
    max_lines: int = 1000,
    max_height: int = 900,
) -> np.ndarray:
    """Draw two images side by side with lines between matched keypoints.

    Inliers of the verified model are drawn in green; with ``show_outliers``, the
    other ratio-test matches in red underneath. When a homography was verified,
    the outline of image B is projected into image A (through ``inv(H)``) in
    yellow: where B's view lies in A; and A's outline into B likewise. When verification did not run
    (``verify=False``) every match is drawn green; after a failed verification
    every match is an outlier (drawn only with ``show_outliers``).

    Parameters
    ----------
    image0, image1 : ndarray
        Image A and image B as matched: (H, W) grey or (H, W, 3/4) RGB(A),
        ``uint8``, ``uint16`` or float in [0, 1].
    result : MatchResult
        From :func:`lookalike.pipelines.match` or
        :func:`lookalike.matching.compare_features`.
    features : (LocalFeatures, LocalFeatures), optional, keyword-only
        The features the result was computed from; needed only when the result
        carries no ``points``.
    show_outliers : bool, keyword-only
        Also draw the matches that disagree with the model.
    outline : bool, keyword-only
        Draw B's outline inside A (and A's inside B) when a homography was verified.
    max_lines : int, keyword-only
        Draw at most this many lines of each kind (an even subset, deterministic).
    max_height : int, keyword-only
        Both panels are scaled to a common height, at most this.

    Returns
    -------
    ndarray, uint8, shape (H, W, 3)
        The picture, RGB. Write it with ``cv2.imwrite(path, picture[..., ::-1])``
        or ``PIL.Image.fromarray(picture).save(path)``.

    Examples
    --------
    >>> import numpy as np
    >>> from lookalike.pipelines import match
    >>> rng = np.random.default_rng(3)
    >>> image = (rng.random((240, 320)) > 0.5).astype(np.uint8) * 255
    >>> result = match(image, image[20:, 30:], method="orb")
    >>> draw_matches(image, image[20:, 30:], result).shape
    (240, 644, 3)
    """
    import cv2

    if not isinstance(result, MatchResult):
        raise ParameterError(f"result must be a MatchResult, got {type(result).__name__}")
    if isinstance(max_lines, bool) or not isinstance(max_lines, int) or max_lines < 0:
        raise ParameterError(f"max_lines must be a non-negative integer, got {max_lines!r}")
    if isinstance(max_height, bool) or not isinstance(max_height, int) or max_height < 16:
        raise ParameterError(f"max_height must be an integer of at least 16, got {max_height!r}")
    panels = [_display_rgb(image0, "image0"), _display_rgb(image1, "image1")]
    points = _points(result, features)

    height = min(max(p.shape[0] for p in panels), max_height)
    scales = [height / p.shape[0] for p in panels]
    for i, panel in enumerate(panels):
        if scales[i] != 1.0:
            size = (max(1, round(panel.shape[1] * scales[i])), height)
            shrink = scales[i] < 1.0
            panels[i] = cv2.resize(panel, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    offset = panels[0].shape[1] + _GAP
    canvas = np.full((height, offset + panels[1].shape[1], 3), 255, np.uint8)
    canvas[:, : panels[0].shape[1]] = panels[0]
    canvas[:, offset:] = panels[1]

    # pixel coordinates (centre of the top-left pixel at 0) -> canvas coordinates
    xa = (points[:, 0] + 0.5) * scales[0] - 0.5
    ya = (points[:, 1] + 0.5) * scales[0] - 0.5
    xb = (points[:, 2] + 0.5) * scales[1] - 0.5 + offset
    yb = (points[:, 3] + 0.5) * scales[1] - 0.5
    lines = np.stack([xa, ya, xb, yb], axis=1)
    if result.inliers is None:
        good, bad = np.ones(len(lines), bool), np.zeros(len(lines), bool)
    else:
        good = np.asarray(result.inliers, dtype=bool)
        bad = ~good
    thickness = max(1, round(height / 500))
    if show_outliers:
        _draw_lines(canvas, lines[bad], _OUTLIER, thickness, max_lines)
    _draw_lines(canvas, lines[good], _INLIER, thickness, max_lines)

    h = result.homography
    if outline and h is not None:
        # B's outline in A, then A's outline in B (which shows where a zoomed-in A lies in B)
        spans = [(0, panels[0].shape[1]), (offset, canvas.shape[1])]
        for source, target, mapping in ((image1, 0, np.linalg.inv(h)), (image0, 1, h)):
            width, height_ = _size(source)
            corners = np.array([[0, 0], [width, 0], [width, height_], [0, height_]], np.float64) - 0.5
            quad = _project(mapping, corners)
            if quad is None:
                continue
            quad = (quad + 0.5) * scales[target] - 0.5
            start, stop = spans[target]
            panel = np.ascontiguousarray(canvas[:, start:stop])  # the outline stays in its panel
            _polygon(panel, quad, thickness)
            canvas[:, start:stop] = panel
    return canvas


def _points(result: MatchResult, features: tuple[LocalFeatures, LocalFeatures] | None) -> np.ndarray:
    if result.points is not None:
        return np.asarray(result.points, dtype=np.float64).reshape(-1, 4)
    if features is None:
        raise ParameterError(
            "this MatchResult carries no matched points; pass features=(a, b), the LocalFeatures "
            "it was computed from"
        )
    a, b = features
    m = np.asarray(result.matches, dtype=np.intp).reshape(-1, 2)
    if len(m) and (m[:, 0].max() >= len(a) or m[:, 1].max() >= len(b)):
        raise ParameterError("features do not fit the result: match indices past their keypoints")
    return np.hstack([a.xy[m[:, 0]], b.xy[m[:, 1]]]).astype(np.float64)


def _display_rgb(image: np.ndarray, name: str) -> np.ndarray:
    """uint8 (H, W, 3) RGB for display; grey is repeated, alpha dropped, 16 bits scaled."""
    array = np.asarray(image)
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)) or array.size == 0:
        raise ParameterError(f"{name} must be an (H, W) grey or (H, W, 3) colour array, got shape {array.shape}")
    if array.dtype == np.uint16:
        array = ((array.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif array.dtype.kind == "f":
        array = np.clip(np.rint(np.nan_to_num(array) * 255.0), 0, 255).astype(np.uint8)
    elif array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif array.dtype != np.uint8:
        raise ParameterError(f"{name} has unsupported dtype {array.dtype}; pass uint8, uint16 or float")
    if array.ndim == 2:
        array = array[..., None]
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    return np.ascontiguousarray(array[..., :3])


def _size(image: np.ndarray) -> tuple[int, int]:
    shape = np.asarray(image).shape
    return int(shape[1]), int(shape[0])


def _project(h: np.ndarray, points: np.ndarray) -> np.ndarray | None:
    """Project points; None when one falls behind the camera (the outline is not drawable)."""
    q = np.c_[points, np.ones(len(points))] @ h.T
    if np.any(q[:, 2] <= 1e-12):
        return None
    return q[:, :2] / q[:, 2:]


def _draw_lines(canvas: np.ndarray, lines: np.ndarray, color: tuple[int, int, int], thickness: int,
                max_lines: int) -> None:
    import cv2

    if len(lines) > max_lines:
        lines = lines[np.linspace(0, len(lines) - 1, max_lines).round().astype(np.intp)]
    radius = 2 + thickness
    for x0, y0, x1, y1 in np.rint(lines).astype(np.int64):
        cv2.line(canvas, (int(x0), int(y0)), (int(x1), int(y1)), color, thickness, cv2.LINE_AA)
        cv2.circle(canvas, (int(x0), int(y0)), radius, color, thickness, cv2.LINE_AA)
        cv2.circle(canvas, (int(x1), int(y1)), radius, color, thickness, cv2.LINE_AA)


def _polygon(panel: Any, quad: np.ndarray, thickness: int) -> None:
    import cv2

    # keep far-away corners within int32 range; the visible part of each edge is unchanged enough
    limit = 1e6
    pts = np.clip(np.rint(quad), -limit, limit).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(panel, [pts], True, _HALO, thickness + 2, cv2.LINE_AA)
    cv2.polylines(panel, [pts], True, _OUTLINE, thickness, cv2.LINE_AA)
