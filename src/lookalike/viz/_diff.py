"""Where two images differ: regions from the SSIM map, and a picture that shows them.

The SSIM map (Wang et al. 2004) scores every 11x11 neighbourhood: 1 where the
images agree in luminance, contrast and structure, low or negative where one
was edited. Thresholding it, cleaning the mask with morphology and taking the
connected regions is the method of the PyImageSearch article "Image Difference
with OpenCV and Python" (Rosebrock 2017); here the threshold is a fixed SSIM
level rather than Otsu's, so two identical images give no region at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from lookalike._json import json_number
from lookalike.errors import ParameterError
from lookalike.metrics import check_pair, infer_data_range, ssim

__all__ = ["DiffAnalysis", "diff_analysis", "diff_image", "diff_regions"]

Box = tuple[int, int, int, int]

#: Local SSIM below which a neighbourhood counts as different (diff_regions' default).
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class DiffAnalysis:
    """Everything :func:`diff_image` draws, as data.

    Attributes
    ----------
    score : float
        Mean SSIM (Wang's convention) of the pair; with ``valid``, the mean of
        the SSIM map over the valid pixels.
    ssim_map : (H, W) float64 array
        Local SSIM at every pixel of the images: Wang's 'valid' map, which is 10
        pixels smaller than the image (the 11x11 window's centre never reaches
        the outer 5 pixels), placed at offset (5, 5) and extended to the border
        by repeating its edge values.
    mask : (H, W) bool array
        The cleaned-up difference mask (local SSIM below ``threshold``).
    regions : list of (x, y, w, h)
        Bounding boxes of the differing regions in pixel coordinates, largest first.
    threshold : float
        The SSIM level used.
    valid : (H, W) bool array or None
        The pixels that were compared (None: all of them). With an aligned
        copy (:func:`lookalike.pipelines.align_pair`), the overlap less a margin
        of half the SSIM window (5 pixels), where a window would reach past the
        copy's edge; no region lies outside it, and the picture greys it out.
    """

    score: float
    ssim_map: np.ndarray
    mask: np.ndarray
    regions: list[Box]
    threshold: float
    valid: np.ndarray | None = None

    def to_dict(self, *, a: str, b: str, out: str | None = None, aligned: Any = None) -> dict[str, Any]:
        """The JSON form ``lookalike diff --json`` prints: ``{"a", "b", "ssim", "threshold", "size": [w, h],
        "regions": [{"x", "y", "w", "h"}, ...]}`` plus ``"out"`` (the picture written) when given, and
        ``"aligned"`` (``aligned.to_dict()`` of :func:`lookalike.pipelines.align_pair`'s
        :class:`~lookalike.pipelines.Alignment`, plus ``"compared"``: the share of A's pixels compared)
        when B was aligned onto A.

        ``a`` and ``b`` name the two images (the analysis itself saw only their pixels); ``ssim`` is
        ``null`` when it is NaN (``lookalike._json``).
        """
        height, width = self.ssim_map.shape[:2]
        data: dict[str, Any] = {
            "a": a, "b": b, "ssim": json_number(float(self.score)), "threshold": float(self.threshold),
            "size": [int(width), int(height)],
            "regions": [{"x": int(x), "y": int(y), "w": int(w), "h": int(h)} for x, y, w, h in self.regions],
        }
        if out is not None:
            data["out"] = out
        if aligned is not None:
            compared = float(self.valid.mean()) if self.valid is not None else 1.0
            data["aligned"] = {**aligned.to_dict(), "compared": round(compared, 6)}
        return data


def diff_analysis(
    image0: np.ndarray,
    image1: np.ndarray,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    min_area: int | None = None,
    data_range: float | None = None,
    valid: np.ndarray | None = None,
) -> DiffAnalysis:
    """SSIM map, difference mask and differing regions of two images of one size.

    See :func:`diff_regions` for the parameters and the method. ``valid``, an
    (H, W) bool array, restricts the comparison to its True pixels (such as
    :attr:`lookalike.pipelines.Alignment.overlap` of an aligned copy): pixels
    whose 11x11 SSIM window reaches outside it take no part in the regions or
    the score (:attr:`DiffAnalysis.valid`).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((64, 64), np.uint8); b = a.copy(); b[20:40, 30:50] = 200
    >>> result = diff_analysis(a, b)
    >>> result.ssim_map.shape, len(result.regions)
    ((64, 64), 1)
    """
    image0, image1 = check_pair(image0, image1)
    if not (isinstance(threshold, int | float) and -1.0 <= threshold <= 1.0):
        raise ParameterError(f"threshold must be a local SSIM level in [-1, 1], got {threshold!r}")
    height, width = image0.shape[:2]
    if min_area is None:
        min_area = max(16, round(height * width / 2000))
    elif isinstance(min_area, bool) or not isinstance(min_area, int | np.integer) or min_area < 1:
        raise ParameterError(f"min_area must be a positive number of pixels, got {min_area!r}")
    data_range = infer_data_range(image0, image1, data_range)
    score, local = ssim(image0, image1, convention="wang", data_range=data_range, full=True)
    full_map = _to_image_grid(np.asarray(local, dtype=np.float64), (height, width))
    if valid is None:
        mask, regions = _regions(full_map < threshold, int(min_area))
        return DiffAnalysis(float(score), full_map, mask, regions, float(threshold))
    inner = _valid_core(valid, (height, width))
    if not inner.any():
        raise ParameterError("no pixel is valid: the overlap is too small to compare (under 11x11 pixels)")
    mask, regions = _regions((full_map < threshold) & inner, int(min_area))
    return DiffAnalysis(float(full_map[inner].mean()), full_map, mask, regions, float(threshold), inner)


def _valid_core(valid: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The pixels of ``valid`` whose whole 11x11 SSIM window lies inside it."""
    import cv2

    valid = np.asarray(valid)
    if valid.shape != shape or valid.dtype != np.bool_:
        raise ParameterError(
            f"valid must be a bool array of the images' shape {shape}, got {valid.dtype} {valid.shape}")
    kernel = np.ones((11, 11), np.uint8)
    return cv2.erode(valid.astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=1) > 0


def diff_regions(
    image0: np.ndarray,
    image1: np.ndarray,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    min_area: int | None = None,
    data_range: float | None = None,
) -> list[Box]:
    """Bounding boxes of the regions where two images of one size differ.

    Method: the SSIM map (Wang's convention: 11x11 Gaussian window, on luma for
    RGB input) marks every pixel whose local SSIM is below ``threshold``; a
    morphological closing joins marks that belong together, an opening removes
    specks, and each connected region of at least ``min_area`` pixels gives its
    bounding box.

    Parameters
    ----------
    image0, image1 : (H, W) or (H, W, 3) array
        The two images, same size (resize first, e.g. with
        :func:`lookalike.pipelines.resize_pair`); at least 11x11 pixels.
    threshold : float, keyword-only
        Local SSIM below which a neighbourhood counts as different (default 0.5).
        Raise it to catch subtler edits, lower it to keep only gross ones; a
        global change such as a contrast stretch keeps local SSIM near 0.6-0.9
        and, at the default, gives no region.
    min_area : int, optional, keyword-only
        Smallest region kept, in pixels of the cleaned mask; default
        ``max(16, H * W / 2000)``.
    data_range : float, optional, keyword-only
        Dynamic range; inferred for integer images, required for float ones.

    Returns
    -------
    list of (x, y, w, h)
        Bounding boxes in pixel coordinates (x to the right, y down), largest
        region first; empty when no region differs.

    References
    ----------
    Z. Wang, A. C. Bovik, H. R. Sheikh and E. P. Simoncelli, "Image quality
    assessment: from error visibility to structural similarity", IEEE TIP 13(4), 2004.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((64, 64), np.uint8); b = a.copy(); b[20:40, 30:50] = 200
    >>> diff_regions(a, b)  # the 20x20 square at (30, 20), widened by the 11x11 SSIM window
    [(26, 16, 28, 28)]
    >>> diff_regions(a, a)
    []
    """
    return diff_analysis(
        image0, image1, threshold=threshold, min_area=min_area, data_range=data_range
    ).regions


def _to_image_grid(local: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Put a (possibly 'valid', smaller) SSIM map back on the image's pixel grid.

    A 'valid' map from an odd k x k window is k - 1 pixels smaller than the image
    in each direction; its element (i, j) is the window centred on image pixel
    (i + (k - 1) / 2, j + (k - 1) / 2). Border pixels take the nearest value.
    """
    import cv2

    height, width = shape
    mh, mw = local.shape
    top, left = (height - mh) // 2, (width - mw) // 2
    if mh <= height and mw <= width and (height - mh) % 2 == 0 and (width - mw) % 2 == 0:
        return cv2.copyMakeBorder(local, top, height - mh - top, left, width - mw - left, cv2.BORDER_REPLICATE)
    return cv2.resize(local, (width, height), interpolation=cv2.INTER_LINEAR)  # pragma: no cover


def _regions(raw: np.ndarray, min_area: int) -> tuple[np.ndarray, list[Box]]:
    """Clean a raw difference mask and box its regions.

    Closing (an ellipse ~1% of the image) joins marks that belong together, a
    3x3 opening removes specks, holes inside a region are filled (an edit's
    interior can keep a high local SSIM), regions smaller than ``min_area`` are
    dropped and overlapping boxes merged.
    """
    import cv2

    mask: np.ndarray = raw.astype(np.uint8)
    size = max(3, 2 * round(min(mask.shape) / 200) + 1)  # ~1% of the image, odd
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    # A small opening only: the outline of a flat repainted patch is a thin ring of low SSIM.
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(mask)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(filled, connectivity=8)
    keep = [i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= min_area]
    cleaned = np.isin(labels, keep) if keep else np.zeros(mask.shape, dtype=bool)
    boxes = _merge_overlapping([(int(stats[i, 0]), int(stats[i, 1]), int(stats[i, 2]), int(stats[i, 3]))
                                for i in keep])
    boxes.sort(key=lambda b: (-b[2] * b[3], b[1], b[0]))
    return cleaned, boxes


def _merge_overlapping(boxes: list[Box]) -> list[Box]:
    """Replace boxes that overlap by their union until none do."""
    merged = list(boxes)
    changed = True
    while changed:
        changed = False
        for i in range(len(merged)):
            for j in range(i + 1, len(merged)):
                x0, y0, w0, h0 = merged[i]
                x1, y1, w1, h1 = merged[j]
                if x0 < x1 + w1 and x1 < x0 + w0 and y0 < y1 + h1 and y1 < y0 + h0:
                    left, top = min(x0, x1), min(y0, y1)
                    right, bottom = max(x0 + w0, x1 + w1), max(y0 + h0, y1 + h1)
                    merged[i] = (left, top, right - left, bottom - top)
                    del merged[j]
                    changed = True
                    break
            if changed:
                break
    return merged


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
    region (see :func:`diff_regions`) outlined in magenta over a dark halo, and
    the SSIM map as a heat map (inferno colormap; bright where the images differ,
    black where they agree) with a colour bar. Titles name the images, and a
    caption gives the mean SSIM and the number of regions.

    Parameters
    ----------
    image0, image1 : (H, W) or (H, W, 3) array
        The two images, same size (any sizes with ``align``).
    threshold, min_area, data_range : keyword-only
        As in :func:`diff_regions`.
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
