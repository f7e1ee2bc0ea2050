"""A picture of where two images differ: the analysis of :mod:`lookalike.pipelines` (regions from the
SSIM map, :func:`~lookalike.pipelines.diff_analysis`), drawn."""

from __future__ import annotations

import math

import numpy as np

from lookalike.errors import ParameterError
from lookalike.metrics import infer_data_range
from lookalike.pipelines import DIFF_THRESHOLD as DEFAULT_THRESHOLD
from lookalike.pipelines import DiffAnalysis, diff_analysis

__all__ = ["diff_image", "render_diff"]

Box = tuple[int, int, int, int]

# --------------------------------------------------------------------------------------------
# The picture
# --------------------------------------------------------------------------------------------

_OUTLINE = (255, 0, 255)  # magenta: rare in photos, visible on light and dark
_HALO = (0, 0, 0)
_BACKGROUND = (255, 255, 255)
_INK = (20, 20, 20)


def diff_image(
    image0: np.ndarray,
    image1: np.ndarray,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    min_area: int | None = None,
    data_range: float | None = None,
    labels: tuple[str, str] = ("A", "B"),
    panel_size: int = 512,
    align: bool = False,
) -> np.ndarray:
    """A picture of where two images differ: both images outlined, and the SSIM map.

    Three panels side by side: ``image0`` and ``image1`` with every differing
    region (see :func:`lookalike.pipelines.diff_regions`) outlined in magenta over a dark halo, and
    the SSIM map as a heat map (inferno colormap; bright where the images differ,
    black where they agree) with a colour bar. Titles name the images, and a
    caption gives the mean SSIM and the number of regions.

    Parameters
    ----------
    image0, image1 : (H, W) or (H, W, 3) array
        The two images, same size (any sizes with ``align``).
    threshold, min_area, data_range : keyword-only
        As in :func:`lookalike.pipelines.diff_regions`.
    align : bool, keyword-only
        First warp ``image1`` onto ``image0`` with the homography
        :func:`lookalike.pipelines.match` verifies
        (:func:`lookalike.pipelines.align_pair`), so that a cropped, scaled or
        rotated copy is compared pixel for pixel with the part of ``image0`` it
        shows; the rest is not compared, and is drawn hatched. Raises
        ParameterError when no homography is verified.
    labels : (str, str), keyword-only
        Titles of the two image panels (e.g. file names); non-ASCII characters
        are drawn as ``?`` (OpenCV's Hershey fonts are ASCII only).
    panel_size : int, keyword-only
        Longest side of each panel in the picture, in pixels (default 512):
        images are scaled to it (area interpolation down, nearest-neighbour up),
        outlines are drawn after scaling so they stay sharp.

    Returns
    -------
    (H', W', 3) uint8 array
        The picture, RGB. Write it with ``cv2.imwrite(path, picture[..., ::-1])``
        or ``PIL.Image.fromarray(picture).save(path)``.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((64, 64), np.uint8); b = a.copy(); b[20:40, 30:50] = 200
    >>> picture = diff_image(a, b, panel_size=128)
    >>> picture.dtype, picture.shape[2]
    (dtype('uint8'), 3)
    """
    if isinstance(panel_size, bool) or not isinstance(panel_size, int | np.integer) or panel_size < 32:
        raise ParameterError(f"panel_size must be an integer of at least 32 pixels, got {panel_size!r}")
    valid = None
    if align:
        from lookalike.pipelines import align_pair

        aligned = align_pair(np.asarray(image0), np.asarray(image1))
        image1, valid = aligned.image, aligned.overlap
        labels = (labels[0], f"{labels[1]} (aligned to A)")
    result = diff_analysis(image0, image1, threshold=threshold, min_area=min_area, data_range=data_range,
                           valid=valid)
    data_range = infer_data_range(np.asarray(image0), np.asarray(image1), data_range)
    return render_diff(np.asarray(image0), np.asarray(image1), result, data_range=data_range,
                       labels=labels, panel_size=int(panel_size))


def render_diff(
    image0: np.ndarray,
    image1: np.ndarray,
    result: DiffAnalysis,
    *,
    data_range: float,
    labels: tuple[str, str] = ("A", "B"),
    panel_size: int = 512,
) -> np.ndarray:
    """Draw a :class:`DiffAnalysis` (the presentation half of :func:`diff_image`)."""
    import cv2

    height, width = image0.shape[:2]
    scale = panel_size / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    shrinking = scale < 1
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_NEAREST

    panels = [cv2.resize(_display_rgb(img, data_range), size, interpolation=interpolation)
              for img in (image0, image1)]
    dissimilarity = np.clip(1.0 - result.ssim_map, 0.0, 1.0)  # SSIM 1 -> 0 (black), SSIM <= 0 -> 1
    heat = cv2.applyColorMap(np.round(dissimilarity * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)[..., ::-1]
    heat = cv2.resize(np.ascontiguousarray(heat), size, interpolation=interpolation)
    if result.valid is not None:  # outside the compared pixels: hatched grey, the reference only dimmed
        outside = cv2.resize(result.valid.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) == 0
        yy, xx = np.indices(outside.shape)
        hatch = np.where(((xx + yy) // 6) % 2 == 0, 150, 190).astype(np.uint8)[..., None]
        for panel in (panels[1], heat):
            panel[outside] = np.repeat(hatch, 3, axis=2)[outside]
        panels[0][outside] = (panels[0][outside].astype(np.uint16) // 2 + 64).astype(np.uint8)

    thick = max(2, round(min(size) / 200))
    for panel in [*panels, heat]:
        for x, y, w, h in result.regions:
            p0 = (int(x * scale), int(y * scale))
            p1 = (math.ceil((x + w) * scale) - 1, math.ceil((y + h) * scale) - 1)
            cv2.rectangle(panel, p0, p1, _HALO, thick + 2, cv2.LINE_AA)
            cv2.rectangle(panel, p0, p1, _OUTLINE, thick, cv2.LINE_AA)

    titles = [_ascii(labels[0]), _ascii(labels[1]), "SSIM map"]
    count = len(result.regions)
    verb = "region differs" if count == 1 else "regions differ"
    caption = f"SSIM {result.score:.4f}   {count} {verb} (local SSIM < {result.threshold:g})"
    if result.valid is not None:
        share = float(np.count_nonzero(result.valid)) / result.valid.size
        caption += f"   aligned; hatched: not compared ({1 - share:.0%})"
    return _compose(panels, heat, titles, caption)


def _display_rgb(image: np.ndarray, data_range: float) -> np.ndarray:
    """8-bit RGB for display: grey repeated, alpha dropped, other depths scaled by data_range."""
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 3:
        image = image[..., :3]
    if image.dtype != np.uint8:
        image = np.clip(np.round(image.astype(np.float64) * (255.0 / data_range)), 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image)


def _ascii(text: str) -> str:
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in str(text))


def _fit_text(text: str, width: int, scale: float) -> tuple[str, float]:
    """Shrink (down to a floor), then elide the middle, so a title fits its panel."""
    import cv2

    font = cv2.FONT_HERSHEY_SIMPLEX
    for s in (scale, scale * 0.85, scale * 0.7):
        if cv2.getTextSize(text, font, s, 1)[0][0] <= width:
            return text, s
    s = scale * 0.7
    while len(text) > 5 and cv2.getTextSize(text, font, s, 1)[0][0] > width:
        half = (len(text) - 4) // 2
        text = text[:half] + "..." + text[len(text) - half:]
    return text, s


def _compose(panels: list[np.ndarray], heat: np.ndarray, titles: list[str], caption: str) -> np.ndarray:
    import cv2

    font = cv2.FONT_HERSHEY_SIMPLEX
    ph, pw = heat.shape[:2]
    gap = 12
    font_scale = 0.55
    title_h = 30
    bar_w, bar_gap, tick_w = 16, 8, 44
    caption_h = 34
    total_w = gap + 3 * (pw + gap) + bar_w + bar_gap + tick_w
    total_h = title_h + ph + caption_h
    canvas = np.full((total_h, total_w, 3), _BACKGROUND, dtype=np.uint8)

    xs = [gap + i * (pw + gap) for i in range(3)]
    for x, panel, title in zip(xs, [*panels, heat], titles, strict=True):
        canvas[title_h:title_h + ph, x:x + pw] = panel
        text, s = _fit_text(title, pw, font_scale)
        tw = cv2.getTextSize(text, font, s, 1)[0][0]
        cv2.putText(canvas, text, (x + (pw - tw) // 2, title_h - 10), font, s, _INK, 1, cv2.LINE_AA)

    # Colour bar beside the heat map: SSIM 1 (agree) at the bottom, 0 or less (differ) at the top.
    bx = xs[2] + pw + bar_gap
    ramp = np.linspace(255, 0, ph).round().astype(np.uint8)[:, None]
    bar = cv2.applyColorMap(np.repeat(ramp, bar_w, axis=1), cv2.COLORMAP_INFERNO)[..., ::-1]
    canvas[title_h:title_h + ph, bx:bx + bar_w] = bar
    cv2.rectangle(canvas, (bx - 1, title_h - 1), (bx + bar_w, title_h + ph), _INK, 1)
    cv2.putText(canvas, "SSIM", (bx - 4, title_h - 10), font, 0.42, _INK, 1, cv2.LINE_AA)
    for value in (1.0, 0.75, 0.5, 0.25, 0.0):
        y = title_h + round((ph - 1) * value)
        cv2.line(canvas, (bx + bar_w, y), (bx + bar_w + 4, y), _INK, 1)
        label = f"{value:.2f}" if value > 0 else "<=0"
        cv2.putText(canvas, label, (bx + bar_w + 6, y + 4), font, 0.38, _INK, 1, cv2.LINE_AA)

    cv2.putText(canvas, caption, (gap, title_h + ph + 23), font, font_scale, _INK, 1, cv2.LINE_AA)
    return canvas
