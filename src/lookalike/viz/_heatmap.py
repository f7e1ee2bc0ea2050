"""A similarity matrix as a picture: coloured cells, labels, a colour bar and a title (OpenCV drawing)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from lookalike.errors import ParameterError

__all__ = ["HEATMAP_COLORMAPS", "draw_heatmap"]

#: Colour maps :func:`draw_heatmap` knows (OpenCV's, all perceptually ordered from dark to bright).
HEATMAP_COLORMAPS = ("viridis", "magma", "inferno", "plasma", "cividis")

_FONT = 0  # cv2.FONT_HERSHEY_SIMPLEX
_INK = (40, 40, 40)
_MISSING = (205, 205, 205)
_MARGIN = 12
_GRID_TARGET = 720  # pixels the grid aims at along its longer side
_MAX_CELL = 56
_LABEL_CHARS = 32


def draw_heatmap(
    values: np.ndarray,
    *,
    row_labels: Sequence[str] | None = None,
    column_labels: Sequence[str] | None = None,
    title: str = "",
    higher_is_better: bool = True,
    value_range: tuple[float, float] | None = None,
    colormap: str = "viridis",
    max_labels: int = 60,
    annotate: bool | None = None,
) -> np.ndarray:
    """Draw a matrix of similarities as a heat map with labels, a colour bar and a title.

    The more similar end of the scale is always the bright end of the colour
    map, whatever the direction of the measure: with ``higher_is_better=False``
    (MSE, GMSD, distances) low values are drawn bright. Cells holding NaN (a
    pair that could not be compared) are grey; infinite values (PSNR of
    identical images) take the colour of the end they are nearest to.

    Parameters
    ----------
    values : ndarray, shape (R, C)
        The matrix; ``values[i, j]`` is drawn in row ``i``, column ``j``.
    row_labels, column_labels : sequence of str, optional
        Names written beside the rows and above the columns (column labels
        default to the row labels for a square matrix). Labels are drawn when
        there are at most ``max_labels`` of them and the cells are tall enough
        to read; long labels keep their end (the file name). OpenCV's fonts are
        ASCII only: other characters are drawn as ``?``.
    title : str, keyword-only
        A line above the picture; name the measure in it.
    higher_is_better : bool, keyword-only
        Direction of ``values``.
    value_range : (float, float), optional, keyword-only
        The values mapped to the two ends of the colour bar; default: the
        smallest and largest finite values.
    colormap : str, keyword-only
        One of :data:`HEATMAP_COLORMAPS`.
    max_labels : int, keyword-only
        Leave the labels out beyond this many rows or columns.
    annotate : bool, optional, keyword-only
        Write each value in its cell; by default only when the cells are large
        enough (about 12 images or fewer).

    Returns
    -------
    ndarray, uint8, shape (H, W, 3)
        An RGB picture.

    Examples
    --------
    >>> import numpy as np
    >>> picture = draw_heatmap(np.array([[1.0, 0.2], [0.2, 1.0]]), row_labels=["a.jpg", "b.jpg"],
    ...                        title="rootsift similarity")
    >>> picture.dtype.name, picture.ndim, picture.shape[2]
    ('uint8', 3, 3)
    """
    import cv2

    matrix = np.asarray(values, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise ParameterError(f"values must be a non-empty 2-D matrix, got shape {matrix.shape}")
    if colormap not in HEATMAP_COLORMAPS:
        raise ParameterError(f"colormap must be one of {', '.join(HEATMAP_COLORMAPS)}, got {colormap!r}")
    n_rows, n_cols = matrix.shape
    rows = _check_labels(row_labels, n_rows, "row_labels")
    cols = rows if column_labels is None and n_rows == n_cols else _check_labels(column_labels, n_cols, "column_labels")
    lo, hi = _value_range(matrix, value_range)

    cell = int(max(1, min(_MAX_CELL, _GRID_TARGET // max(n_rows, n_cols))))
    label_scale = min(0.5, (cell - 3) / 30.0)  # text plus descenders fits in a cell
    show_rows = rows is not None and n_rows <= max_labels and label_scale >= 0.3
    show_cols = cols is not None and n_cols <= max_labels and label_scale >= 0.3
    if annotate is None:
        annotate = cell >= 40
    grid_h, grid_w = n_rows * cell, n_cols * cell

    colours = _cell_colours(matrix, lo, hi, higher_is_better=higher_is_better, colormap=colormap)
    grid = np.repeat(np.repeat(colours, cell, axis=0), cell, axis=1)

    # sizes of the parts around the grid
    row_texts = [_fit(s) for s in rows] if show_rows and rows is not None else []
    col_texts = [_fit(s) for s in cols] if show_cols and cols is not None else []
    row_w = max((_text_size(s, label_scale)[0] for s in row_texts), default=0)
    col_h = max((_text_size(s, label_scale)[0] for s in col_texts), default=0)
    title_scale = 0.6
    title_text = _ascii(title)
    title_h = _text_size(title_text, title_scale)[1] + 14 if title_text else 0
    bar_h = max(grid_h, 180)
    tick_scale = 0.4
    ticks = _ticks(lo, hi, higher_is_better)
    tick_w = max(_text_size(text, tick_scale)[0] for _, text in ticks)
    ends = ("more similar", "less similar")
    ends_w = max(_text_size(text, tick_scale)[0] for text in ends)
    tick_h = _text_size("0", tick_scale)[1]
    end_h = 2 * tick_h + 10
    bar_w = 18
    left = _MARGIN + (row_w + 6 if row_w else 0)
    top = _MARGIN + title_h + (col_h + 6 if col_h else 0) + end_h
    bar_x = left + grid_w + 16
    width = max(bar_x + bar_w + 6 + max(tick_w, ends_w - bar_w - 6, 0) + _MARGIN,
                _MARGIN * 2 + _text_size(title_text, title_scale)[0])
    height = top + max(grid_h, bar_h) + end_h + _MARGIN

    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    canvas[top:top + grid_h, left:left + grid_w] = grid
    if cell >= 6:  # thin separating lines keep neighbouring cells apart
        for k in range(n_rows + 1):
            cv2.line(canvas, (left, top + k * cell), (left + grid_w - 1, top + k * cell), (255, 255, 255), 1)
        for k in range(n_cols + 1):
            cv2.line(canvas, (left + k * cell, top), (left + k * cell, top + grid_h - 1), (255, 255, 255), 1)

    if title_text:
        cv2.putText(canvas, title_text, (_MARGIN, _MARGIN + title_h - 10), _FONT, title_scale, _INK, 1, cv2.LINE_AA)
    for i, text in enumerate(row_texts):
        w, h = _text_size(text, label_scale)
        y = top + i * cell + (cell + h) // 2
        cv2.putText(canvas, text, (left - 6 - w, y), _FONT, label_scale, _INK, 1, cv2.LINE_AA)
    for j, text in enumerate(col_texts):
        strip = _text_strip(text, label_scale, cell)
        rotated = cv2.rotate(strip, cv2.ROTATE_90_COUNTERCLOCKWISE)  # reads bottom to top
        x0 = left + j * cell
        y1 = top - 6
        h, w = rotated.shape[:2]
        canvas[y1 - h:y1, x0:x0 + w] = np.minimum(canvas[y1 - h:y1, x0:x0 + w], rotated)
    if annotate:
        _annotate(canvas, matrix, colours, (left, top), cell)

    _colour_bar(canvas, (bar_x, top, bar_w, bar_h), colormap, ticks, ends, tick_scale=tick_scale, tick_h=tick_h)
    return canvas


def _cell_colours(matrix: np.ndarray, lo: float, hi: float, *, higher_is_better: bool, colormap: str) -> np.ndarray:
    """(R, C, 3) RGB colour of each cell: the value's place in [lo, hi] (more similar at the colour map's
    top end), infinities at the ends, NaN (no value) in the missing colour."""
    t = np.clip((matrix - lo) / (hi - lo), 0.0, 1.0)
    t = np.where(np.isposinf(matrix), 1.0, np.where(np.isneginf(matrix), 0.0, t))
    if not higher_is_better:
        t = 1.0 - t
    levels = np.round(np.nan_to_num(t, nan=0.0) * 255).astype(np.uint8)
    colours = _apply_colormap(levels, colormap)
    colours[np.isnan(matrix)] = _MISSING
    return colours


def _colour_bar(canvas: np.ndarray, box: tuple[int, int, int, int], colormap: str, ticks: list[tuple[float, str]],
                ends: tuple[str, str], *, tick_scale: float, tick_h: int) -> None:
    """Draw the colour bar in ``box`` (x, y, width, height), the more similar end at the top, with its ticks
    and the words at its ends."""
    import cv2

    bar_x, bar_top, bar_w, bar_h = box
    ramp = np.linspace(1.0, 0.0, bar_h)
    bar_levels = np.round(ramp * 255).astype(np.uint8)[:, None]
    bar = np.repeat(_apply_colormap(bar_levels, colormap), bar_w, axis=1)
    canvas[bar_top:bar_top + bar_h, bar_x:bar_x + bar_w] = bar
    cv2.rectangle(canvas, (bar_x, bar_top), (bar_x + bar_w - 1, bar_top + bar_h - 1), _INK, 1)
    for position, text in ticks:
        y = bar_top + round(position * (bar_h - 1))
        cv2.line(canvas, (bar_x + bar_w, y), (bar_x + bar_w + 4, y), _INK, 1)
        th = _text_size(text, tick_scale)[1]
        cv2.putText(canvas, text, (bar_x + bar_w + 6, y + th // 2), _FONT, tick_scale, _INK, 1, cv2.LINE_AA)
    cv2.putText(canvas, ends[0], (bar_x, bar_top - tick_h // 2 - 8), _FONT, tick_scale, _INK, 1, cv2.LINE_AA)
    cv2.putText(canvas, ends[1], (bar_x, bar_top + bar_h + tick_h // 2 + tick_h + 8), _FONT, tick_scale, _INK, 1,
                cv2.LINE_AA)


def _check_labels(labels: Sequence[str] | None, n: int, name: str) -> list[str] | None:
    if labels is None:
        return None
    texts = [str(s) for s in labels]
    if len(texts) != n:
        what = name.split("_")[0]
        raise ParameterError(f"{name} has {len(texts)} entries for {n} matrix {what}s; give one per {what}")
    return texts


def _value_range(matrix: np.ndarray, value_range: tuple[float, float] | None) -> tuple[float, float]:
    if value_range is not None:
        lo, hi = (float(v) for v in value_range)
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
            raise ParameterError(f"value_range must be two finite numbers, low < high, got {value_range!r}")
        return lo, hi
    finite = matrix[np.isfinite(matrix)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    if hi - lo < 1e-12:
        return lo - 0.5, hi + 0.5
    return lo, hi


def _ticks(lo: float, hi: float, higher_is_better: bool) -> list[tuple[float, str]]:
    """(position from the top in [0, 1], text) for five evenly spread values."""
    out = []
    for k in range(5):
        position = k / 4
        value = hi - position * (hi - lo) if higher_is_better else lo + position * (hi - lo)
        out.append((position, _format(value)))
    return out


def _format(value: float) -> str:
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:.3g}"
    return f"{value:.2e}"


def _apply_colormap(levels: np.ndarray, name: str) -> np.ndarray:
    import cv2

    code = getattr(cv2, f"COLORMAP_{name.upper()}")
    bgr = cv2.applyColorMap(np.ascontiguousarray(levels), code)
    return np.ascontiguousarray(bgr[..., ::-1])


def _ascii(text: str) -> str:
    return "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)


def _fit(label: str) -> str:
    """ASCII, at most _LABEL_CHARS characters, keeping the end (the file name)."""
    text = _ascii(label)
    return text if len(text) <= _LABEL_CHARS else "..." + text[-(_LABEL_CHARS - 3):]


def _text_size(text: str, scale: float) -> tuple[int, int]:
    import cv2

    if not text:
        return (0, 0)
    (w, h), _ = cv2.getTextSize(text, _FONT, scale, 1)
    return int(w), int(h)


def _text_strip(text: str, scale: float, cell: int) -> np.ndarray:
    """The text drawn dark on white in a strip one cell high (rotated by the caller)."""
    import cv2

    (w, h), baseline = cv2.getTextSize(text, _FONT, scale, 1)
    strip = np.full((cell, w + 2, 3), 255, dtype=np.uint8)
    cv2.putText(strip, text, (1, (cell + h - baseline) // 2 + baseline // 2), _FONT, scale, _INK, 1, cv2.LINE_AA)
    return strip


def _annotate(canvas: np.ndarray, matrix: np.ndarray, colours: np.ndarray, origin: tuple[int, int], cell: int) -> None:
    import cv2

    left, top = origin
    scale = min(0.45, cell / 100)
    for (i, j), value in np.ndenumerate(matrix):
        if math.isnan(value):
            text = "n/a"
        elif math.isinf(value):
            text = "inf" if value > 0 else "-inf"
        else:
            text = f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"
        w, h = _text_size(text, scale)
        r, g, b = (int(c) for c in colours[i, j])
        ink: Any = (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 128 else (255, 255, 255)
        x = left + j * cell + (cell - w) // 2
        y = top + i * cell + (cell + h) // 2
        cv2.putText(canvas, text, (x, y), _FONT, scale, ink, 1, cv2.LINE_AA)
