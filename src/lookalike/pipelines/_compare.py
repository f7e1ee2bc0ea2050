"""Compare two images, one image with many, or many pairs, decoding each image once.

The rules applied before any metric runs, written once:

* **Decoding.** Sources go through :func:`lookalike.io.load_image` in mode
  ``"auto"`` with ``alpha="drop"``: grey files stay (H, W), colour files are
  (H, W, 3), the alpha channel is discarded.
* **Grey against colour.** The grey image is repeated into three equal
  channels, i.e. treated as a colour image without chroma. Metrics that work on
  luma (SSIM, MS-SSIM, FSIM, GMSD) then see the grey image unchanged, since
  MATLAB's ``rgb2gray`` of (g, g, g) is g; MSE and PSNR compare all three
  channels.
* **Bit depth.** Both images must have the same sample type (an 8-bit file
  against a 16-bit one is an error, not a silent rescale).
* **Size.** Full-reference metrics need one size; ``resize`` says what to do
  (see :func:`compare`). Histogram metrics take any two sizes.
"""

from __future__ import annotations

import inspect
import os
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal, TypeAlias

import numpy as np

from lookalike._json import json_number, with_infinite
from lookalike.errors import ImageSizeError, LookalikeError, ParameterError
from lookalike.io import DEFAULT_MAX_PIXELS, ImageSource, load_image
from lookalike.metrics import describe_shape, get_metric, metric_names

Resize: TypeAlias = Literal["none", "first", "smaller", "larger"]
RESIZE_CHOICES: tuple[str, ...] = ("none", "first", "smaller", "larger")
DEFAULT_METRICS: tuple[str, ...] = ("ssim", "psnr", "mse")


@dataclass(frozen=True)
class Comparison:
    """The result of comparing two images.

    Attributes
    ----------
    a, b : str
        The two images: the path as given, or ``"<ndarray>"``, ``"<bytes>"``, ...
    metrics : dict of str to float
        Each metric's value, in the order asked. Empty when ``error`` is set.
    error : str or None
        Why the pair could not be compared (``on_error="record"`` only).
    convention : str or None
        The SSIM convention the values were computed with, when one was chosen.
    """

    a: str
    b: str
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    convention: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{"a": ..., "b": ..., "metrics": {...}}`` plus ``"convention"`` and ``"error"`` when set; valid JSON:
        NaN and infinite values are ``null``, and an infinite one (PSNR of identical images) is named in
        ``"infinite"`` (``{"metrics/psnr": "+inf"}``; ``lookalike._json``).
        What ``lookalike compare --json`` prints and ``POST /api/v1/compare`` returns."""
        infinite: dict[str, str] = {}
        metrics = {name: json_number(float(value), infinite, f"metrics/{name}") for name, value in self.metrics.items()}
        out: dict[str, Any] = {"a": self.a, "b": self.b, "metrics": metrics}
        if self.convention:
            out["convention"] = self.convention
        if self.error is not None:
            out["error"] = self.error
        return with_infinite(out, infinite)


def resolve_metrics(metrics: str | Sequence[str]) -> list[str]:
    """Turn ``"ssim,psnr"``, ``["ssim", "psnr"]`` or ``"all"`` into checked metric names.

    Names are case-insensitive; duplicates are dropped; an unknown name raises
    :class:`ParameterError` listing the available ones.

    Examples
    --------
    >>> resolve_metrics("PSNR, mse,psnr")
    ['psnr', 'mse']
    """
    items = metrics.split(",") if isinstance(metrics, str) else list(metrics)
    names = [str(m).strip().lower() for m in items]
    names = [n for n in names if n]
    if names == ["all"]:
        return metric_names()
    if not names:
        raise ParameterError(f"no metric given; choose from: {', '.join(metric_names())}, or 'all'")
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
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
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
        other image to the size of the one with fewer / more pixels (the first
        on a tie). Area interpolation when shrinking, bicubic when enlarging
        (OpenCV); the aspect ratio is not kept. Histogram metrics never need it.
    convention : str, optional, keyword-only
        The SSIM convention (``"wang"``, ``"wang2009"``, ``"skimage"``,
        ``"matlab"``); it applies to ``ssim`` only, the other metrics keep
        their reference definitions.
    data_range : float, optional, keyword-only
        Dynamic range for float images (integer images infer it from the dtype).
    max_pixels : int or None, keyword-only
        Decompression-bomb limit passed to :func:`lookalike.io.load_image`.

    Returns
    -------
    dict
        ``{metric name: value}`` in the order asked.

    Raises
    ------
    ImageReadError
        An image cannot be read.
    ImageSizeError
        The images differ in size and ``resize="none"``.
    ParameterError
        An unknown metric, resize rule or convention; different bit depths.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((16, 16), np.uint8); b = a.copy(); b[0, 0] = 16
    >>> compare(a, b, metrics="mse,psnr")
    {'mse': 1.0, 'psnr': 48.1308036086791}
    """
    names = resolve_metrics(metrics)
    _check_resize(resize)
    pixels0 = _load(image0, max_pixels)
    pixels1 = pixels0 if _same_file(image0, image1) else _load(image1, max_pixels)
    return _compute(pixels0, pixels1, names, resize=resize, convention=convention, data_range=data_range,
                    labels=(source_label(image0), source_label(image1)))


def compare_many(
    reference: ImageSource,
    others: Iterable[ImageSource],
    *,
    metrics: str | Sequence[str] = DEFAULT_METRICS,
    resize: Resize = "none",
    convention: str | None = None,
    data_range: float | None = None,
    on_error: Literal["raise", "record"] = "raise",
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> list[Comparison]:
    """Compare one reference image with many others, decoding every image once.

    Parameters
    ----------
    reference : image source
        Decoded once, whatever its kind (path, bytes, PIL image, array).
    others : iterable of image sources
        Read lazily, one at a time; a path that appears several times is
        decoded once (within the last 64 distinct paths).
    metrics, resize, convention, data_range, max_pixels
        As in :func:`compare`.
    on_error : {"raise", "record"}, keyword-only
        ``"raise"`` (default) stops at the first unreadable or incompatible
        image; ``"record"`` returns a :class:`Comparison` with ``error`` set
        for it and goes on (an unreadable reference gives that error on every
        comparison).

    Returns
    -------
    list of Comparison
        One per item of ``others``, in order.

    Examples
    --------
    >>> import numpy as np
    >>> ref = np.zeros((8, 8), np.uint8)
    >>> [c.metrics["mse"] for c in compare_many(ref, [ref, ref + 2], metrics="mse")]
    [0.0, 4.0]
    """
    if isinstance(others, str | bytes | bytearray | os.PathLike | np.ndarray):
        raise ParameterError(
            f"others must be a list (or other iterable) of images, got a single {type(others).__name__}; "
            "to compare two images use lookalike.compare(a, b)"
        )
    names = resolve_metrics(metrics)
    _check_resize(resize)
    _check_on_error(on_error)
    decoder = _Decoder(max_pixels=max_pixels)
    reference_label = source_label(reference)
    try:
        reference_pixels: np.ndarray | LookalikeError = decoder.load(reference)
    except LookalikeError as exc:
        if on_error == "raise":
            raise
        reference_pixels = exc
    return [
        _compare_one(reference_pixels, other, decoder, names, resize=resize, convention=convention,
                     data_range=data_range, on_error=on_error, labels=(reference_label, source_label(other)))
        for other in others
    ]


def compare_pairs(
    pairs: Iterable[tuple[ImageSource, ImageSource]],
    *,
    metrics: str | Sequence[str] = DEFAULT_METRICS,
    resize: Resize = "none",
    convention: str | None = None,
    data_range: float | None = None,
    on_error: Literal["raise", "record"] = "raise",
    cache_size: int = 64,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> list[Comparison]:
    """Compare many pairs; an image named by path in several pairs is decoded once.

    Decoded images are kept in a least-recently-used cache of ``cache_size``
    paths (an unreadable path is remembered too, and not read again). Arrays
    are used as they are; bytes, file objects and PIL images are decoded where
    they appear.

    Parameters
    ----------
    pairs : iterable of (image source, image source)
        Read lazily, one pair at a time.
    metrics, resize, convention, data_range, max_pixels
        As in :func:`compare`.
    on_error : {"raise", "record"}, keyword-only
        As in :func:`compare_many`.
    cache_size : int, keyword-only
        How many decoded paths to keep (0 keeps none).

    Returns
    -------
    list of Comparison
        One per pair, in order.

    Examples
    --------
    >>> import numpy as np
    >>> a, b = np.zeros((8, 8), np.uint8), np.full((8, 8), 3, np.uint8)
    >>> [c.metrics for c in compare_pairs([(a, b), (b, b)], metrics="mse")]
    [{'mse': 9.0}, {'mse': 0.0}]
    """
    names = resolve_metrics(metrics)
    _check_resize(resize)
    _check_on_error(on_error)
    if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0:
        raise ParameterError(f"cache_size must be a non-negative integer, got {cache_size!r}")
    decoder = _Decoder(max_pixels=max_pixels, cache_size=cache_size)
    results: list[Comparison] = []
    for pair in pairs:
        try:
            source0, source1 = pair
        except (TypeError, ValueError):
            raise ParameterError(f"each item of pairs must be a pair of images, got {type(pair).__name__}") from None
        labels = (source_label(source0), source_label(source1))
        try:
            pixels0: np.ndarray | LookalikeError = decoder.load(source0)
        except LookalikeError as exc:
            if on_error == "raise":
                raise
            pixels0 = exc
        results.append(_compare_one(pixels0, source1, decoder, names, resize=resize, convention=convention,
                                    data_range=data_range, on_error=on_error, labels=labels))
    return results


def _compare_one(
    pixels0: np.ndarray | LookalikeError,
    source1: ImageSource,
    decoder: _Decoder,
    names: list[str],
    *,
    resize: Resize,
    convention: str | None,
    data_range: float | None,
    on_error: str,
    labels: tuple[str, str],
) -> Comparison:
    try:
        if isinstance(pixels0, LookalikeError):
            raise pixels0
        pixels1 = decoder.load(source1)
        values = _compute(pixels0, pixels1, names, resize=resize, convention=convention,
                          data_range=data_range, labels=labels)
    except LookalikeError as exc:
        if on_error == "raise":
            raise
        return Comparison(labels[0], labels[1], {}, str(exc))
    return Comparison(labels[0], labels[1], values)


class _Decoder:
    """Decode sources; paths through a least-recently-used cache (errors cached too)."""

    def __init__(self, *, max_pixels: int | None, cache_size: int = 64) -> None:
        self.max_pixels = max_pixels
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray | LookalikeError] = OrderedDict()

    def load(self, source: ImageSource) -> np.ndarray:
        if not isinstance(source, str | os.PathLike):
            return _load(source, self.max_pixels)
        key = os.fspath(source)
        if key in self._cache:
            self._cache.move_to_end(key)
            hit = self._cache[key]
        else:
            try:
                hit = _load(source, self.max_pixels)
            except LookalikeError as exc:
                hit = exc
            if self.cache_size > 0:
                self._cache[key] = hit
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        if isinstance(hit, LookalikeError):
            raise hit
        return hit


def source_label(source: object) -> str:
    if isinstance(source, str | os.PathLike):
        return str(os.fspath(source))
    if isinstance(source, bytes | bytearray | memoryview):
        return "<bytes>"
    name = getattr(source, "name", None)
    if isinstance(name, str) and not isinstance(source, np.ndarray):
        return name
    return f"<{type(source).__name__}>"


def _same_file(source0: object, source1: object) -> bool:
    return (
        isinstance(source0, str | os.PathLike)
        and isinstance(source1, str | os.PathLike)
        and os.fspath(source0) == os.fspath(source1)
    )


def _load(source: ImageSource, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    return load_image(source, mode="auto", alpha="drop", max_pixels=max_pixels)


def _check_resize(resize: object) -> None:
    if resize not in RESIZE_CHOICES:
        raise ParameterError(f"resize must be one of {', '.join(RESIZE_CHOICES)}; got {resize!r}")


def _check_on_error(on_error: object) -> None:
    if on_error not in ("raise", "record"):
        raise ParameterError(f"on_error must be 'raise' or 'record', got {on_error!r}")


def harmonise_pair(
    pixels0: np.ndarray,
    pixels1: np.ndarray,
    *,
    labels: tuple[str, str] = ("the first image", "the second image"),
) -> tuple[np.ndarray, np.ndarray]:
    """Apply the grey-against-colour and bit-depth rules of this module to two decoded images.

    A grey image against a colour one is repeated into the colour image's
    channels; two colour images keep their first ``min(C0, C1, 3)`` channels
    when their channel counts differ. Shared by :func:`compare` and
    ``lookalike diff``.

    Raises
    ------
    ParameterError
        The sample types differ (an 8-bit and a 16-bit file); ``labels`` name
        the images in the message.
    """
    pixels0, pixels1 = _same_channels(pixels0, pixels1)
    if pixels0.dtype != pixels1.dtype:
        raise ParameterError(
            f"images have different sample types ({labels[0]}: {pixels0.dtype}, {labels[1]}: {pixels1.dtype}), "
            "e.g. an 8-bit and a 16-bit file; convert one so both use the same bit depth"
        )
    return pixels0, pixels1


def _same_channels(pixels0: np.ndarray, pixels1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
    pixels0: np.ndarray,
    pixels1: np.ndarray,
    resize: Resize,
    *,
    labels: tuple[str, str] = ("the first image", "the second image"),
) -> tuple[np.ndarray, np.ndarray]:
    """Bring two images to one size following the ``resize`` rule of :func:`compare`.

    Parameters
    ----------
    pixels0, pixels1 : ndarray
        (H, W) or (H, W, C) images.
    resize : {"none", "first", "smaller", "larger"}
        See :func:`compare`.
    labels : (str, str), keyword-only
        How to name the images in the error message.

    Returns
    -------
    (ndarray, ndarray)
        The two images, of one size (unchanged when they already were).

    Raises
    ------
    ImageSizeError
        The sizes differ and ``resize="none"``; the message names both sizes
        and the choices.

    Examples
    --------
    >>> import numpy as np
    >>> a, b = resize_pair(np.zeros((40, 60), np.uint8), np.zeros((20, 30), np.uint8), "smaller")
    >>> a.shape, b.shape
    ((20, 30), (20, 30))
    """
    _check_resize(resize)
    h0, w0 = pixels0.shape[:2]
    h1, w1 = pixels1.shape[:2]
    if (h0, w0) == (h1, w1):
        return pixels0, pixels1
    if resize == "none":
        raise ImageSizeError(
            f"images differ in size: {labels[0]} is {describe_shape((h0, w0))}, "
            f"{labels[1]} is {describe_shape((h1, w1))} (width x height); pass resize='smaller', resize='larger' "
            "or resize='first' to compare them anyway"
        )
    if resize == "first":
        return pixels0, _resize_to(pixels1, (h0, w0))
    first_is_smaller = h0 * w0 <= h1 * w1
    keep_first = first_is_smaller if resize == "smaller" else not first_is_smaller
    if h0 * w0 == h1 * w1:
        keep_first = True
    target = (h0, w0) if keep_first else (h1, w1)
    return _resize_to(pixels0, target), _resize_to(pixels1, target)


# Sample types cv2.resize handles with INTER_AREA and INTER_CUBIC.
_CV2_RESIZE_DTYPES = (np.uint8, np.uint16, np.int16, np.float32, np.float64)


def _resize_to(pixels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    import cv2

    if pixels.shape[:2] == shape:
        return pixels
    h, w = shape
    shrinking = h * w < pixels.shape[0] * pixels.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    work = pixels if pixels.dtype.type in _CV2_RESIZE_DTYPES else pixels.astype(np.float64)
    out: np.ndarray = cv2.resize(np.ascontiguousarray(work), (w, h), interpolation=interpolation)
    if pixels.ndim == 3 and out.ndim == 2:
        out = out[..., None]
    if out.dtype == pixels.dtype:
        return out
    if pixels.dtype == np.bool_:
        return out >= 0.5
    if pixels.dtype.kind in "ui":
        info = np.iinfo(pixels.dtype)
        out = np.clip(np.round(out), info.min, info.max)
    return out.astype(pixels.dtype)


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
    labels: tuple[str, str],
) -> dict[str, float]:
    pixels0, pixels1 = harmonise_pair(pixels0, pixels1, labels=labels)
    aligned: tuple[np.ndarray, np.ndarray] | None = None
    values: dict[str, float] = {}
    for name in names:
        info = get_metric(name)
        options: dict[str, Any] = {}
        accepted = _accepted_options(name)
        if convention is not None and name == "ssim":  # the SSIM conventions name SSIM variants only
            options["convention"] = convention
        if data_range is not None and "data_range" in accepted:
            options["data_range"] = data_range
        if info.needs_same_size:
            if aligned is None:
                aligned = resize_pair(pixels0, pixels1, resize, labels=labels)
            a, b = aligned
        else:
            a, b = pixels0, pixels1
        values[name] = float(info.func(a, b, **options))
    return values
