"""``classify``: label images by their nearest labelled references, with a confidence.

Methods (``method=``):

``"knn"`` (default)
    k nearest references by the EfficientNet-Lite0 embedding (cosine), distance-weighted votes
    (:class:`~lookalike.pipelines._classify_models.KNNClassifier`). The embeddings of a reference
    folder are computed once and kept in an index (``FOLDER/.lookalike-index``, or under
    ``cache_dir``): a second run over the same folder decodes nothing.
``"logistic"``
    Multinomial logistic regression on the same cached embeddings, its regularisation chosen by
    cross-validation (:class:`~lookalike.pipelines._classify_models.LogisticClassifier`).
any metric name (``"ssim"``, ``"fsim"``, ``"gmsd"``, ...)
    k nearest references by that pairwise metric (:func:`lookalike.metrics.get_metric`), every
    query against every reference, on grey images resized to ``size`` x ``size``: the method of
    the SSIM tutorials, kept as the baseline it is (near chance on real photos; see
    benchmarks/README.md).

With ``unknown_below=P`` a prediction whose confidence is below ``P`` is labelled ``"unknown"``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lookalike.errors import ImageReadError, LookalikeError, ParameterError
from lookalike.io import RejectedFile, display_name, find_images
from lookalike.parallel import Jobs
from lookalike.pipelines._classify_data import (
    LabelledSet,
    embed_files,
    feature_index_path,
    load_labelled,
)
from lookalike.pipelines._classify_models import (
    DEFAULT_K,
    KNNClassifier,
    LogisticClassifier,
    check_k,
    encode_labels,
    knn_vote,
    metric_distance,
)

__all__ = [
    "CLASSIFY_METHODS",
    "DEFAULT_METRIC_SIZE",
    "UNKNOWN",
    "ClassifyResult",
    "Neighbour",
    "Prediction",
    "classify",
    "classify_method",
]

#: The methods that run on the deep embedding; every metric name of :func:`lookalike.metrics.metric_names`
#: is a method too.
CLASSIFY_METHODS: tuple[str, ...] = ("knn", "logistic")
#: The label of a prediction below ``unknown_below``.
UNKNOWN = "unknown"
#: Side (pixels) of the grey squares the pairwise metrics compare.
DEFAULT_METRIC_SIZE = 128
#: Neighbours shown with each prediction of the logistic head (its own vote uses none).
_SHOWN = 5

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Neighbour:
    """A labelled reference near a query: its file, label and similarity (cosine, or the metric's value)."""

    path: str
    label: str
    similarity: float

    def to_dict(self, *, roots: Iterable[str | None] = (), show_paths: bool = True) -> dict[str, Any]:
        """``{"path", "name", "label", "similarity"}``: ``name`` the path relative to the first of ``roots``
        that holds it, else the file name (:func:`lookalike.io.display_name`); ``path`` left out with
        ``show_paths=False`` (a server that does not show its folders)."""
        data: dict[str, Any] = {"path": self.path} if show_paths else {}
        data.update(name=display_name(self.path, roots), label=self.label, similarity=_json_number(self.similarity))
        return data


@dataclass(frozen=True)
class Prediction:
    """The label of one query.

    Attributes
    ----------
    path : str
    label : str
        The predicted class, or ``"unknown"`` below ``unknown_below``.
    confidence : float
        The winning class's share of the distance-weighted votes (kNN), or its
        probability (logistic), in [0, 1].
    neighbours : tuple of Neighbour
        The nearest references, nearest first.
    scores : dict
        Every class's vote share or probability.
    """

    path: str
    label: str
    confidence: float
    neighbours: tuple[Neighbour, ...] = ()
    scores: dict[str, float] | None = None

    def to_dict(self, *, roots: Iterable[str | None] = (), show_paths: bool = True) -> dict[str, Any]:
        """``path`` is the query as given; the neighbours as :meth:`Neighbour.to_dict`."""
        return {"path": self.path, "label": self.label, "confidence": round(float(self.confidence), 6),
                "neighbours": [n.to_dict(roots=roots, show_paths=show_paths) for n in self.neighbours]}


@dataclass(frozen=True)
class ClassifyResult:
    """What :func:`classify` gives: one prediction per readable query, and the files it could not use."""

    predictions: tuple[Prediction, ...]
    method: str
    k: int
    classes: tuple[str, ...]
    skipped: tuple[RejectedFile, ...] = ()

    def to_dict(self, *, roots: Iterable[str | None] = (), show_paths: bool = True) -> dict[str, Any]:
        """What ``lookalike classify --json`` prints (``roots``: the reference folder) and
        ``POST /api/v1/classify`` returns; file names as in :meth:`Neighbour.to_dict`."""
        roots = tuple(roots)
        skipped = [({"path": s.path} if show_paths else {}) | {"name": display_name(s.path, roots), "reason": s.reason}
                   for s in self.skipped]
        return {"predictions": [p.to_dict(roots=roots, show_paths=show_paths) for p in self.predictions],
                "method": self.method, "k": self.k, "classes": list(self.classes), "skipped": skipped}


def _json_number(value: float) -> float | None:
    number = float(value)
    return round(number, 6) if np.isfinite(number) else None


def classify_method(method: str) -> str:
    """The canonical name of a method: ``knn``, ``logistic`` or a metric name (case-insensitive)."""
    from lookalike.metrics import get_metric, metric_names

    if not isinstance(method, str):
        raise ParameterError(f"method must be a string, got {method!r}")
    name = method.strip().lower()
    if name in CLASSIFY_METHODS:
        return name
    try:
        return get_metric(name).name
    except ParameterError:
        raise ParameterError(
            f"unknown method {method!r}; choose knn (default), logistic, or a metric: {', '.join(metric_names())}"
        ) from None


# -- features of files --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Described:
    """Files that could be used, their features, and the ones that could not."""

    paths: tuple[str, ...]
    positions: np.ndarray  # position of each path in the list asked for
    features: Any  # (n, 1280) embeddings, or a list of grey (size, size) arrays
    hashes: tuple[str, ...]  # SHA-256 of each file
    failed: tuple[RejectedFile, ...]
    decoded: int = 0


def describe(
    paths: Sequence[str], method: str, *, source: str | None, cache_dir: str | os.PathLike[str] | None = None,
    size: int = DEFAULT_METRIC_SIZE, jobs: Jobs = None, progress: Progress | None = None,
) -> Described:
    """Features for ``method``: embeddings through the feature index of ``source`` (None: computed, not kept),
    or grey ``size`` x ``size`` pixels for a pairwise metric."""
    if method in CLASSIFY_METHODS:
        if source is None:
            return _embed_uncached(paths)
        embedded = embed_files(list(paths), feature_index_path(source, cache_dir), jobs=jobs, progress=progress)
        return Described(embedded.paths, embedded.positions, embedded.vectors, embedded.content_hashes,
                         embedded.failed, embedded.decoded)
    return _grey_squares(paths, size)


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise ImageReadError(path, exc.strerror or str(exc)) from None


def _decode_all(paths: Sequence[str], decode: Callable[[bytes], np.ndarray]) -> tuple[
        list[int], list[np.ndarray], list[str], list[RejectedFile]]:
    """``decode`` of each file's bytes: the positions that worked, their pixels and SHA-256, and the failures."""
    kept: list[int] = []
    pixels: list[np.ndarray] = []
    hashes: list[str] = []
    failed: list[RejectedFile] = []
    for i, path in enumerate(paths):
        try:
            data = _read(path)
            pixels.append(decode(data))
        except ImageReadError as exc:
            failed.append(RejectedFile(path, os.path.basename(path), exc.reason))
            continue
        kept.append(i)
        hashes.append(hashlib.sha256(data).hexdigest())
    return kept, pixels, hashes, failed


def _embed_uncached(paths: Sequence[str]) -> Described:
    from lookalike.features import Embedder
    from lookalike.index import load_for_descriptors
    from lookalike.pipelines._search import _embedder

    kept, pixels, hashes, failed = _decode_all(paths, lambda data: load_for_descriptors(data,
                                                                                        draft=Embedder.draft_size))
    vectors = _embedder("efficientnet-lite0").embed(pixels) if pixels else np.zeros((0, 1280), np.float32)
    return Described(tuple(paths[i] for i in kept), np.asarray(kept, np.int64), vectors, tuple(hashes),
                     tuple(failed), len(paths))


def _grey_squares(paths: Sequence[str], size: int) -> Described:
    """Each file as MATLAB-grey pixels resized to ``size`` x ``size`` (aspect not kept, as in the tutorial)."""
    import cv2

    from lookalike.io import load_image

    if isinstance(size, bool) or not isinstance(size, int) or not 16 <= size <= 4096:
        raise ParameterError(f"size must be an integer from 16 to 4096 pixels, got {size!r}")

    def square(data: bytes) -> np.ndarray:
        grey = load_image(data, mode="gray", draft=(size, size))
        if grey.dtype != np.uint8:
            grey = (grey.astype(np.float64) / 257.0).round().astype(np.uint8)
        interpolation = cv2.INTER_AREA if min(grey.shape) >= size else cv2.INTER_LINEAR
        return np.ascontiguousarray(cv2.resize(grey, (size, size), interpolation=interpolation))

    kept, squares, hashes, failed = _decode_all(paths, square)
    return Described(tuple(paths[i] for i in kept), np.asarray(kept, np.int64), squares, tuple(hashes),
                     tuple(failed), len(kept))


def metric_values(
    queries: Sequence[np.ndarray], references: Sequence[np.ndarray], metric: str, *, symmetric_same: bool = False,
    progress: Progress | None = None,
) -> np.ndarray:
    """``values[i, j] = metric(queries[i], references[j])``; with ``symmetric_same`` (queries are the
    references and the metric is symmetric) each pair is computed once."""
    from lookalike.metrics import get_metric

    info = get_metric(metric)
    n, m = len(queries), len(references)
    values = np.full((n, m), np.nan)
    once = symmetric_same and info.symmetric and n == m
    for i in range(n):
        start = i if once else 0
        for j in range(start, m):
            try:
                values[i, j] = float(info.func(queries[i], references[j]))
            except (LookalikeError, ValueError) as exc:
                raise ParameterError(f"{metric} cannot compare these images ({exc}); try a larger --size") from None
            if once:
                values[j, i] = values[i, j]
        if progress is not None:
            progress("comparing", i + 1, n)
    return values


# -- the job ------------------------------------------------------------------------------------------

class Model:
    """A trained classifier over described references: predictions with neighbours, for any method."""

    def __init__(self, method: str, refs: Described, labels: Sequence[str], *, k: int) -> None:
        self.method = method
        self.k = check_k(k)
        self.refs = refs
        self.labels = list(labels)
        if method in CLASSIFY_METHODS:
            self.knn = KNNClassifier(k=self.k).fit(refs.features, self.labels)
            self.classes = self.knn.classes_
            self.logistic = LogisticClassifier().fit(refs.features, self.labels) if method == "logistic" else None
        else:
            from lookalike.metrics import get_metric

            self.info = get_metric(method)
            self.classes = encode_labels(self.labels)[0]
        self._code = {c: i for i, c in enumerate(self.classes)}

    def predict(
        self, queries: Described, *, unknown_below: float = 0.0, values: np.ndarray | None = None,
        progress: Progress | None = None,
    ) -> list[Prediction]:
        """Predictions for described queries (``values``: precomputed metric values, queries x references)."""
        n = len(queries.paths)
        if n == 0:
            return []
        if self.method in CLASSIFY_METHODS:
            similarities, positions = self.knn.kneighbors(queries.features, max(self.k, _SHOWN))
            proba = (self.logistic.predict_proba(queries.features) if self.logistic is not None
                     else self.knn.vote(similarities[:, : self.k], positions[:, : self.k]))
            shown = self.k if self.logistic is None else _SHOWN
            similarities, positions = similarities[:, :shown], positions[:, :shown]
        else:
            if values is None:
                values = metric_values(queries.features, self.refs.features, self.method, progress=progress)
            similarities, positions, proba = self._metric_vote(values)
        out = []
        for i in range(n):
            best = int(np.argmax(proba[i]))
            confidence = float(proba[i, best])
            label = self.classes[best] if confidence >= unknown_below else UNKNOWN
            neighbours = tuple(Neighbour(self.refs.paths[j], self.labels[j], float(s))
                               for s, j in zip(similarities[i], positions[i], strict=True) if j >= 0)
            scores = {c: float(p) for c, p in zip(self.classes, proba[i], strict=True)}
            out.append(Prediction(queries.paths[i], label, confidence, neighbours, scores))
        return out

    def _metric_vote(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        distances = metric_distance(values, higher_is_better=self.info.higher_is_better, identity=self.info.identity)
        k = min(self.k, distances.shape[1])
        order = np.argsort(distances, axis=1, kind="stable")[:, :k]
        near = np.take_along_axis(distances, order, axis=1)
        codes = np.asarray([self._code[label] for label in self.labels], np.int64)[order]
        codes = np.where(np.isfinite(near), codes, -1)
        proba = knn_vote(np.where(np.isfinite(near), near, 0.0), codes, len(self.classes))
        return np.take_along_axis(values, order, axis=1), order, proba


def check_options(method: str, k: int, unknown_below: float) -> tuple[str, int]:
    """The options :func:`classify` and ``evaluate`` share, checked: the canonical method and ``k``."""
    if isinstance(unknown_below, bool) or not isinstance(unknown_below, int | float) or not 0 <= unknown_below <= 1:
        raise ParameterError(f"unknown_below must be a confidence in [0, 1], got {unknown_below!r}")
    return classify_method(method), check_k(k)


def as_labelled(train: str | os.PathLike[str] | LabelledSet) -> LabelledSet:
    return train if isinstance(train, LabelledSet) else load_labelled(train)


def classify(
    queries: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    train: str | os.PathLike[str] | LabelledSet,
    *,
    method: str = "knn",
    k: int = DEFAULT_K,
    unknown_below: float = 0.0,
    cache_dir: str | os.PathLike[str] | None = None,
    size: int = DEFAULT_METRIC_SIZE,
    jobs: Jobs = None,
    progress: Progress | None = None,
) -> ClassifyResult:
    """Label images by their nearest labelled references.

    Parameters
    ----------
    queries : path or sequence of paths
        Image files, or folders (every image under them; their embeddings are
        cached in their own feature index like the references').
    train : path or LabelledSet
        The references: a folder of class sub-folders or a ``path,label`` CSV
        (:func:`~lookalike.pipelines.load_labelled`).
    method : str, keyword-only
        ``"knn"`` (default), ``"logistic"`` or a metric name (module docstring).
    k : int, keyword-only
        Neighbours that vote (:data:`DEFAULT_K`, chosen by measurement: benchmarks/README.md).
    unknown_below : float, keyword-only
        Label ``"unknown"`` a prediction whose confidence is below this (0: never).
    cache_dir : path, optional, keyword-only
        Keep the feature indexes there instead of inside the folders (for read-only folders).
    size : int, keyword-only
        Side of the grey squares a pairwise metric compares.
    jobs : int or concurrent.futures.Executor, optional, keyword-only
        Worker processes for computing embeddings (default: every CPU), or an executor
        (:mod:`lookalike.parallel`; ``lookalike.engines.RayExecutor``) to compute them on.
    progress : callable, optional, keyword-only
        ``progress(stage, done, total)``.

    Returns
    -------
    ClassifyResult
        ``skipped`` lists the references and queries that could not be read.

    Raises
    ------
    ParameterError
        Fewer than two classes with images, an unknown method, a bad argument.

    Examples
    --------
    >>> result = classify(["new/photo.jpg"], "labelled/")  # doctest: +SKIP
    >>> [(p.label, round(p.confidence, 2)) for p in result.predictions]  # doctest: +SKIP
    [('cats', 0.97)]
    """
    name, k = check_options(method, k, unknown_below)
    labelled = as_labelled(train)
    refs = describe(labelled.paths, name, source=labelled.source or None, cache_dir=cache_dir, size=size, jobs=jobs,
                    progress=progress)
    model = Model(name, refs, [labelled.labels[i] for i in refs.positions], k=k)
    skipped = list(labelled.rejected) + list(refs.failed)
    predictions: list[Prediction] = []
    items = [queries] if isinstance(queries, str | os.PathLike) else list(queries)
    if not items:
        raise ParameterError("give at least one image (or folder) to classify")
    files: list[str] = []  # consecutive files, described together, in the order given
    for item in [*items, None]:
        text = None if item is None else os.fspath(item)
        if text is not None and not os.path.isdir(text):
            files.append(text)
            continue
        if files:
            found = describe(files, name, source=None, size=size)
            skipped += found.failed
            predictions += model.predict(found, unknown_below=unknown_below, progress=progress)
            files = []
        if text is not None:
            listing = find_images(text, recursive=True)
            skipped += listing.rejected
            found = describe(listing.paths, name, source=text, cache_dir=cache_dir, size=size, jobs=jobs,
                             progress=progress)
            skipped += found.failed
            predictions += model.predict(found, unknown_below=unknown_below, progress=progress)
    return ClassifyResult(tuple(predictions), name, k, model.classes, tuple(skipped))
