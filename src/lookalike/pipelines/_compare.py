"""Compare two images, one image with many, or many pairs, decoding each image once."""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal, TypeAlias

import numpy as np

from lookalike.errors import ImageReadError, ImageSizeError, LookalikeError, ParameterError
from lookalike.io import ImageSource, load_image
from lookalike.metrics import get_metric, metric_names
from lookalike.metrics._util import describe_shape

Resize: TypeAlias = Literal["none", "first", "smaller", "larger"]
RESIZE_CHOICES: tuple[str, ...] = ("none", "first", "smaller", "larger")
DEFAULT_METRICS: tuple[str, ...] = ("ssim", "psnr", "mse")


@dataclass(frozen=True)
class Comparison:
    """The result of comparing two images.

    ``metrics`` maps each metric name to its value; ``error`` holds the message
    when the pair could not be compared (``compare_many(..., on_error="record")``).
    """

    a: str
    b: str
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"a": self.a, "b": self.b, "metrics": dict(self.metrics)}
        if self.error is not None:
            out["error"] = self.error
        return out


def resolve_metrics(metrics: str | Sequence[str]) -> list[str]:
    """Turn ``"ssim,psnr"``, ``["ssim", "psnr"]`` or ``"all"`` into checked metric names."""
    names = [m.strip().lower() for m in metrics.split(",")] if isinstance(metrics, str) else [
        m.strip().lower() for m in metrics
    ]
    names = [n for n in names if n]
    if names == ["all"]:
        return metric_names()
    if not names:
        raise ParameterError(f"no metric given; choose from: {', '.join(metric_names())} or 'all'")
    for name in names:
        get_metric(name)  # raises with the list of names
    return list(dict.fromkeys(names))


def compare(
    image0: ImageSource,
    image1: ImageSource,
    *,
    metrics: str | Sequence[str] = DEFAULT_METRICS,
    resize: Resize = "none",
    convention: str | None = None,
    data_range: float | None = None,
) -> dict[str, float]:
    """Compute several metrics between two images given as paths, bytes, PIL images or arrays.

    Parameters
    ----------
    image0, image1 : image source
        Anything :func:`lookalike.io.load_image` reads. ``image0`` is the
        reference for asymmetric metrics.
    metrics : str or sequence of str, keyword-only
        Metric names (``"ssim,psnr"``, ``["fsimc"]``) or ``"all"``.
    resize : {"none", "first", "smaller", "larger"}, keyword-only
        Full-reference metrics need images of one size. ``"none"`` (default)
        raises :class:`ImageSizeError` when they differ; ``"first"`` resizes
        ``image1`` to ``image0``'s size; ``"smaller"`` / ``"larger"`` resize the
        other image to the size of the one with fewer / more pixels (area
        interpolation when shrinking, cubic when enlarging). Histogram metrics
        never need it.
    convention : str, optional, keyword-only
        Passed to the metrics that accept one (SSIM: ``"wang"``, ``"wang2009"``,
        ``"skimage"``, ``"matlab"``).
    data_range : float, optional, keyword-only
        Dynamic range for float images.

    Returns
    -------
    dict
        ``{metric name: value}`` in the order asked.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((16, 16), np.uint8); b = a.copy(); b[0, 0] = 16
    >>> compare(a, b, metrics="mse,psnr")
    {'mse': 1.0, 'psnr': 48.13080360867909}
    """
    names = resolve_metrics(metrics)
    pixels0 = _load(image0)
    pixels1 = _load(image1)
    return _compute(pixels0, pixels1, names, resize=resize, convention=convention, data_range=data_range,
                    labels=(image0, image1))


def compare_many(
    reference: ImageSource,
    others: Iterable[ImageSource],
    *,
    metrics: str | Sequence[str] = DEFAULT_METRICS,
    resize: Resize = "none",
    convention: str | None = None,
    data_range: float | None = None,
    on_error: Literal["raise", "record"] = "raise",
) -> list[Comparison]:
    """Compare one reference image with many others; the reference is decoded once.

    With ``on_error="record"`` an unreadable or incompatible image gives a
    :class:`Comparison` with ``error`` set instead of stopping the run.

    Examples
    --------
    >>> import numpy as np
    >>> ref = np.zeros((8, 8), np.uint8)
    >>> [c.metrics["mse"] for c in compare_many(ref, [ref, ref + 2], metrics="mse")]
    [0.0, 4.0]
    """
    return compare_pairs(((reference, other) for other in others), metrics=metrics, resize=resize,
                         convention=convention, data_range=data_range, on_error=on_error)


def compare_pairs(
    pairs: Iterable[tuple[ImageSource, ImageSource]],
    *,
    metrics: str | Sequence[str] = DEFAULT_METRICS,
    resize: Resize = "none",
    convention: str | None = None,
    data_range: float | None = None,
    on_error: Literal["raise", "record"] = "raise",
    cache_size: int = 64,
) -> list[Comparison]:
    """Compare many pairs; an image named by path in several pairs is decoded once.

    Decoded images are kept in a least-recently-used cache of ``cache_size``
    entries, keyed by path (arrays and PIL images are used as they are).
    """
    if on_error not in ("raise", "record"):
        raise ParameterError(f"on_error must be 'raise' or 'record', got {on_error!r}")
    names = resolve_metrics(metrics)
    decoded: dict[str, np.ndarray | LookalikeError] = {}
    results: list[Comparison] = []
    for source0, source1 in pairs:
        label0, label1 = _label(source0), _label(source1)
        try:
            pixels0 = _cached_load(source0, decoded, cache_size)
            pixels1 = _cached_load(source1, decoded, cache_size)
            values = _compute(pixels0, pixels1, names, resize=resize, convention=convention,
                              data_range=data_range, labels=(source0, source1))
        except LookalikeError as exc:
            if on_error == "raise":
                raise
            results.append(Comparison(label0, label1, {}, str(exc)))
            continue
        results.append(Comparison(label0, label1, values))
    return results


def _label(source: ImageSource) -> str:
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    return f"<{type(source).__name__}>"


def _load(source: ImageSource) -> np.ndarray:
    return load_image(source, mode="auto")


def _cached_load(source: ImageSource, cache_: dict[str, np.ndarray | LookalikeError], size: int) -> np.ndarray:
    if not isinstance(source, str | os.PathLike):
        return _load(source)
    key = os.fspath(source)
    if key in cache_:
        hit = cache_.pop(key)
        cache_[key] = hit  # most recently used goes last
    else:
        try:
            hit = _load(source)
        except ImageReadError as exc:
            hit = exc
        cache_[key] = hit
        while len(cache_) > size:
            cache_.pop(next(iter(cache_)))
    if isinstance(hit, LookalikeError):
        raise hit
    return hit


def _harmonise(pixels0: np.ndarray, pixels1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Give a grey and a colour image the same number of channels (grey is repeated)."""
    if pixels0.ndim != pixels1.ndim:
        if pixels0.ndim == 2:
            pixels0 = np.repeat(pixels0[..., None], pixels1.shape[2], axis=2)
        else:
            pixels1 = np.repeat(pixels1[..., None], pixels0.shape[2], axis=2)
    elif pixels0.ndim == 3 and pixels0.shape[2] != pixels1.shape[2]:
        channels = min(pixels0.shape[2], pixels1.shape[2], 3)
        pixels0, pixels1 = pixels0[..., :channels], pixels1[..., :channels]
    return pixels0, pixels1


def resize_pair(
    pixels0: np.ndarray, pixels1: np.ndarray, resize: Resize, *, labels: tuple[object, object] = ("image0", "image1")
) -> tuple[np.ndarray, np.ndarray]:
    """Bring two images to one size following the ``resize`` rule (see :func:`compare`)."""
    if resize not in RESIZE_CHOICES:
        raise ParameterError(f"resize must be one of {', '.join(RESIZE_CHOICES)}; got {resize!r}")
    h0, w0 = pixels0.shape[:2]
    h1, w1 = pixels1.shape[:2]
    if (h0, w0) == (h1, w1):
        return pixels0, pixels1
    if resize == "none":
        raise ImageSizeError(
            f"images differ in size: {_name(labels[0])} is {describe_shape((h0, w0))}, "
            f"{_name(labels[1])} is {describe_shape((h1, w1))}; pass resize='first', 'smaller' or "
            "'larger' (CLI: --resize {first,smaller,larger}) to compare them anyway"
        )
    if resize == "first":
        return pixels0, _resize_to(pixels1, (h0, w0))
    area0, area1 = h0 * w0, w1 * h1
    target = (h0, w0) if (area0 <= area1) == (resize == "smaller") else (h1, w1)
    return _resize_to(pixels0, target), _resize_to(pixels1, target)


def _name(label: object) -> str:
    return os.fspath(label) if isinstance(label, str | os.PathLike) else "the first image" if label == "image0" else str(label)


def _resize_to(pixels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    import cv2

    if pixels.shape[:2] == shape:
        return pixels
    h, w = shape
    shrinking = h * w < pixels.shape[0] * pixels.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    out = cv2.resize(pixels, (w, h), interpolation=interpolation)
    if pixels.ndim == 3 and out.ndim == 2:
        out = out[..., None]
    return out


@cache
def _accepted_options(name: str) -> frozenset[str]:
    params = inspect.signature(get_metric(name).func).parameters
    return frozenset(p for p, spec in params.items() if spec.kind is inspect.Parameter.KEYWORD_ONLY)


def _compute(
    pixels0: np.ndarray,
    pixels1: np.ndarray,
    names: list[str],
    *,
    resize: Resize,
    convention: str | None,
    data_range: float | None,
    labels: tuple[object, object],
) -> dict[str, float]:
    pixels0, pixels1 = _harmonise(pixels0, pixels1)
    if pixels0.dtype != pixels1.dtype:
        raise ParameterError(
            f"images have different sample types ({pixels0.dtype} vs {pixels1.dtype}), e.g. an 8-bit and a "
            "16-bit file; convert one so both use the same bit depth"
        )
    aligned: tuple[np.ndarray, np.ndarray] | None = None
    values: dict[str, float] = {}
    for name in names:
        info = get_metric(name)
        options: dict[str, Any] = {}
        accepted = _accepted_options(name)
        if convention is not None and "convention" in accepted:
            options["convention"] = convention
        if data_range is not None and "data_range" in accepted:
            options["data_range"] = data_range
        if info.needs_same_size:
            if aligned is None:
                aligned = resize_pair(pixels0, pixels1, resize, labels=labels)
            a, b = aligned
        else:
            a, b = pixels0, pixels1
        value = info.func(a, b, **options)
        values[name] = float(value) if not isinstance(value, float) else value
    return values

