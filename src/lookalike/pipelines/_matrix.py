"""Every pair of images of a folder (or of two folders): one matrix of similarities, computed fast.

Each image is decoded and described once (local features for a matching
method, the pixels for a metric), in parallel over processes; then the pairs
are spread over processes in chunks, each worker holding every image's features
from its start so that only pair indices travel. Unreadable files are recorded
and left out; they never stop the run.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np

from lookalike._json import json_number, with_infinite
from lookalike.errors import LookalikeError, ParameterError
from lookalike.io import DEFAULT_MAX_PIXELS, ImageFile, UnusableFile, find_images
from lookalike.parallel import Jobs, available_cpus, check_jobs, process_pool, single_threaded_opencv, worker_count
from lookalike.pipelines._matrix_cache import cache_read, cache_write

__all__ = [
    "DEFAULT_MATRIX_METHOD",
    "MATRIX_WORKING_SIZE",
    "MatrixIssue",
    "MatrixResult",
    "PairScore",
    "similarity_matrix",
]

#: The matching method used when neither ``method`` nor ``metric`` is given.
DEFAULT_MATRIX_METHOD = "rootsift"

#: ``(width, height)`` every image is resized to, once, for a full-reference metric
#: when the images of a run differ in size and ``resize="auto"``.
MATRIX_WORKING_SIZE = (256, 256)

PathLike: TypeAlias = "str | os.PathLike[str]"
Progress: TypeAlias = Callable[[str, int, int], None]

_RESIZE_WORDS = ("auto", "none", "first", "smaller", "larger")
_SIZE_TEXT = re.compile(r"^\s*(\d+)\s*[xX\u00d7]\s*(\d+)\s*$")
_STAGES = ("listing", "read", "features", "compare")
_RATIO = 0.75  # Lowe's ratio, compare_features' default


class MatrixIssue(UnusableFile):
    """:class:`lookalike.io.UnusableFile` of the matrix: a file, or a pair, that could not be used; the run
    went on without it. Made as ``MatrixIssue(path, label, stage, reason, skipped=True, other=None)``.

    Attributes
    ----------
    path : str
        The file (or folder) concerned.
    label : str
        Its label (path relative to the folder searched).
    stage : str
        Where it failed: ``"listing"`` (not an image, unreadable folder),
        ``"read"`` (decoding), ``"features"`` (feature extraction; also used
        for an image with no keypoints, which stays in the matrix and scores 0)
        or ``"compare"`` (one pair; ``other`` names the second file).
    reason : str
        What went wrong, in words a user can act on.
    skipped : bool
        True when the file is left out of the matrix.
    other : str or None
        The label of the second image, for a ``"compare"`` issue.
    """

    label: str
    stage: str

    def __init__(self, path: str, label: str, stage: str, reason: str, skipped: bool = True,
                 other: str | None = None) -> None:
        super().__init__(path, reason, label, stage, skipped, other)


@dataclass(frozen=True, eq=False)
class PairScore:
    """One compared pair.

    Attributes
    ----------
    a, b : str
        Labels of the row image and the column image.
    row, col : int
        Their positions in ``MatrixResult.labels`` and ``MatrixResult.column_labels``.
    value : float
        The similarity in [0, 1] for a matching method, the metric's value for a
        metric; NaN when the pair failed (``error`` says why).
    matches, inliers : int or None
        Ratio-test matches and geometrically verified inliers (matching methods only).
    error : str or None
        Why the pair could not be compared.
    result : MatchResult or None
        The full matching result, kept only with ``keep_matches=True``.
    """

    a: str
    b: str
    row: int
    col: int
    value: float
    matches: int | None = None
    inliers: int | None = None
    error: str | None = None
    result: Any = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``value`` null when the pair has none, and when infinite, which ``"infinite"`` then
        says: ``{"value": "+inf"}``); ``matches``/``inliers`` for matching methods."""
        infinite: dict[str, str] = {}
        out: dict[str, Any] = {"a": self.a, "b": self.b, "value": json_number(self.value, infinite, "value")}
        if self.matches is not None:
            out["matches"], out["inliers"] = self.matches, self.inliers
        if self.error is not None:
            out["error"] = self.error
        return with_infinite(out, infinite)


@dataclass(frozen=True, eq=False)
class MatrixResult:
    """Every pair of two lists of images, compared with one method or metric.

    Attributes
    ----------
    labels : list of str
        The row images, as relative paths (folder input) or paths as given.
    column_labels : list of str
        The column images; the same list as ``labels`` for a square matrix.
    paths, column_paths : list of str
        The files behind the labels.
    values : ndarray, float64, shape (len(labels), len(column_labels))
        ``values[i, j]`` compares row image ``i`` with column image ``j``;
        for one set, the diagonal holds the identity value (1 for a matching
        method, the metric's value for identical images) and NaN marks a pair
        that failed.
    pairs : list of PairScore
        One per compared pair (for one set and a symmetric measure, one per
        unordered pair), most similar first, whatever the direction of the metric;
        failed pairs last.
    errors : list of MatrixIssue
        Files left out (``skipped``), images without keypoints and failed pairs.
    measure : str
        The method or metric name.
    kind : {"matching", "metric"}
    higher_is_better : bool
        Direction of ``values``: True for every matching method.
    square : bool
        True when one set was compared with itself.
    resize : str or None
        For a full-reference metric, what was done about sizes: ``"none"``,
        ``"first"``, ``"smaller"``, ``"larger"`` (per pair) or ``"WxH"`` (every
        image resized once to that size); None otherwise.
    features, column_features : list or None
        Each image's :class:`~lookalike.features.LocalFeatures`, with
        ``keep_matches=True`` and a matching method.
    """

    labels: list[str]
    column_labels: list[str]
    paths: list[str]
    column_paths: list[str]
    values: np.ndarray
    pairs: list[PairScore]
    errors: list[MatrixIssue]
    measure: str
    kind: str
    higher_is_better: bool
    square: bool
    resize: str | None = None
    features: list[Any] | None = field(default=None, repr=False)
    column_features: list[Any] | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, naming its inputs: the measure, every file (label and path) of the rows and the
        columns, the matrix (``null`` where a pair has no value or an infinite one, the infinite cells named in
        ``"infinite"``: ``{"values/0/1": "+inf"}``), the pairs (most similar first) and the files that could
        not be used."""
        infinite: dict[str, str] = {}
        out: dict[str, Any] = {
            "measure": self.measure, "kind": self.kind, "higher_is_better": self.higher_is_better,
            "square": self.square, "resize": self.resize,
            "rows": [{"label": label, "path": path} for label, path in zip(self.labels, self.paths, strict=True)],
        }
        if not self.square:
            out["columns"] = [{"label": label, "path": path}
                              for label, path in zip(self.column_labels, self.column_paths, strict=True)]
        out["values"] = [[json_number(float(v), infinite, f"values/{i}/{j}") for j, v in enumerate(row)]
                         for i, row in enumerate(self.values)]
        out["pairs"] = [pair.to_dict() for pair in self.pairs]
        out["errors"] = [issue.to_dict() for issue in self.errors]
        return with_infinite(out, infinite)

    @property
    def skipped(self) -> list[MatrixIssue]:
        """The files left out of the matrix."""
        return [e for e in self.errors if e.skipped]

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.labels), len(self.column_labels))


@dataclass(frozen=True)
class _Plan:
    """Everything a worker needs to know about the run (picklable)."""

    kind: str
    name: str
    max_keypoints: int
    resize: str | tuple[int, int]
    keep_matches: bool
    cache_dir: str | None
    max_pixels: int | None = DEFAULT_MAX_PIXELS


def similarity_matrix(
    paths_a: PathLike | Sequence[PathLike],
    paths_b: PathLike | Sequence[PathLike] | None = None,
    *,
    method: str | None = None,
    metric: str | None = None,
    recursive: bool = False,
    resize: str | tuple[int, int] = "auto",
    max_keypoints: int = 4000,
    jobs: Jobs = 1,
    cache_dir: PathLike | None = None,
    keep_matches: bool = False,
    exclude: Iterable[PathLike] = (),
    progress: Progress | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> MatrixResult:
    """Compare every image of a set with every other (or with every image of a second set).

    Each image is read and described once: local features for a matching method
    (extracted in parallel, optionally cached on disk), pixels for a metric.
    The pairs are then scored in chunks over ``jobs`` processes that each hold
    every image's features, so only pair indices and results travel. A file
    that cannot be read is recorded in ``errors`` and left out; it never stops
    the run.

    Parameters
    ----------
    paths_a : path or sequence of paths
        A folder (its images are found with :func:`find_images`; labels are
        paths relative to it) or a list of image files (labels are the paths as
        given).
    paths_b : path or sequence of paths, optional
        A second set: the result is then rectangular, ``paths_a`` x ``paths_b``.
        Without it, ``paths_a`` is compared with itself: a square matrix.
    method : {"rootsift", "sift", "akaze", "orb"}, keyword-only
        Local features matched with Lowe's ratio test and verified with a
        homography (:func:`lookalike.matching.compare_features`); the value is
        its similarity in [0, 1]. Default ``"rootsift"`` (Arandjelovic and
        Zisserman 2012) when ``metric`` is not given.
    metric : str, keyword-only
        Any metric of :func:`lookalike.metrics.metric_names` instead of a method.
    recursive : bool, keyword-only
        Search sub-folders of a folder given as ``paths_a`` / ``paths_b``.
    resize : str or (int, int), keyword-only
        For full-reference metrics, which need images of one size:
        ``"auto"`` (default) compares the images as they are when they all have
        one size, and otherwise resizes every image once to
        :data:`MATRIX_WORKING_SIZE` (256 x 256), so that every value of the
        matrix is measured at the same scale and each image is resized once,
        not once per pair; ``(width, height)`` or ``"WxH"`` picks that size;
        ``"smaller"``, ``"larger"`` and ``"first"`` resize each pair as
        :func:`lookalike.pipelines.compare` does (values measured at a scale that
        changes from pair to pair); ``"none"`` records pairs of different sizes
        as failed. Ignored by matching methods and histogram metrics.
    max_keypoints : int, keyword-only
        Keypoints kept per image (matching methods).
    jobs : int, None or concurrent.futures.Executor, keyword-only
        Worker processes; ``None`` uses every available CPU; ``1`` (default)
        runs in this process; an executor (Ray, Dask, loky...) is used as it
        is (:mod:`lookalike.parallel`).
    cache_dir : path, optional, keyword-only
        Keep each image's local features in this folder as ``.npz``, keyed by
        the file's path, size and modification time and the extraction
        settings; a later run reads them instead of extracting again.
    keep_matches : bool, keyword-only
        Keep every pair's :class:`~lookalike.matching.MatchResult` (in
        ``PairScore.result``) and every image's features (to draw the matches).
    exclude : iterable of paths, keyword-only
        Folders not to search (such as the output folder).
    progress : callable, optional, keyword-only
        Called as ``progress(stage, done, total)`` with stage ``"features"``
        (images described) and ``"pairs"`` (pairs compared); ``done=0`` first.
    max_pixels : int or None, keyword-only
        Decompression-bomb limit of each image (:func:`lookalike.io.load_image`);
        None for no limit. A larger file is recorded as unreadable.

    Returns
    -------
    MatrixResult

    Raises
    ------
    ParameterError
        No images to compare (an empty folder), both or an unknown
        ``method`` / ``metric``, a bad ``resize`` or ``jobs``.

    Notes
    -----
    For one set and a matching method, each unordered pair is compared once
    (first image as ``a``) and the matrix is mirrored; the score of a pair is
    nearly but not exactly symmetric in its two images. An asymmetric metric is
    computed in both directions.

    A pair's value is that of :func:`lookalike.matching.compare_features` with
    its defaults (Lowe's ratio 0.75, MAGSAC++ homography). Unlike
    :func:`lookalike.pipelines.match`, no affine-simulation retry is made for
    pairs that fail: on a folder it would cost many times the whole run. The
    random trees of FLANN are seeded (``cv2.setRNGSeed``, as
    :func:`~lookalike.matching.match_descriptors` does), so the matrix does not
    depend on ``jobs`` or on the order of the work; with ``jobs=1`` this resets
    OpenCV's random generator of the calling thread. Each image's FLANN index is
    built once and queried by all its pairs, with results identical to
    ``compare_features``.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from PIL import Image
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> rng = np.random.default_rng(0)
    >>> scene = (rng.random((120, 160)) * 255).astype(np.uint8)
    >>> Image.fromarray(scene).save(folder / "a.png")
    >>> Image.fromarray(scene[::-1].copy()).save(folder / "b.png")
    >>> result = similarity_matrix(folder, metric="mse")
    >>> result.labels, result.values.shape, float(result.values[0, 0])
    (['a.png', 'b.png'], (2, 2), 0.0)
    """
    kind, name, higher_is_better, symmetric, needs_size = _resolve_measure(method, metric)
    fixed = _parse_resize(resize)
    jobs = check_jobs(jobs)
    if isinstance(max_keypoints, bool) or not isinstance(max_keypoints, int) or max_keypoints < 1:
        raise ParameterError(f"max_keypoints must be a positive integer, got {max_keypoints!r}")
    exclude = list(exclude)
    errors: list[MatrixIssue] = []
    rows = _collect(paths_a, recursive=recursive, exclude=exclude, errors=errors)
    square = paths_b is None
    cols = rows if square else _collect(paths_b, recursive=recursive, exclude=exclude, errors=errors)  # type: ignore[arg-type]

    resize_used: str | tuple[int, int] | None = None
    if needs_size:
        resize_used = _decide_resize(fixed, rows if square else rows + cols)
    plan = _Plan(kind=kind, name=name, max_keypoints=max_keypoints,
                 resize=resize_used if resize_used is not None else "none",
                 keep_matches=keep_matches, cache_dir=os.fspath(cache_dir) if cache_dir is not None else None,
                 max_pixels=max_pixels)
    if plan.cache_dir is not None and kind == "matching":
        os.makedirs(plan.cache_dir, exist_ok=True)

    # 1. describe each distinct file once
    items = _describe_files(rows if square else rows + cols, plan, jobs=jobs, progress=progress, errors=errors)
    rows = [f for f in rows if f.path in items]
    cols = rows if square else [f for f in cols if f.path in items]

    # 2. score the pairs
    grid = _grid(len(rows), len(cols), square=square, both_ways=kind == "metric" and not symmetric)
    order = list(items)  # the worker-side index of each file
    index = {path: k for k, path in enumerate(order)}
    # grouped by column: a worker builds each column image's matching index once
    tasks = [(index[rows[i].path], index[cols[j].path]) for i, j in grid]
    scored = _run_pairs([items[p] for p in order], tasks, plan, jobs=jobs, progress=progress)

    values = np.full((len(rows), len(cols)), np.nan, dtype=np.float64)
    if square:
        np.fill_diagonal(values, _identity_value(kind, name))
    pairs: list[PairScore] = []
    for (i, j), (value, matches, inliers, error, result) in zip(grid, scored, strict=True):
        if error is not None:  # the pair was compared as arrays: name the files where the message names "<ndarray>"
            error = error.replace("<ndarray>", rows[i].label, 1).replace("<ndarray>", cols[j].label, 1)
        values[i, j] = value
        if square and (kind == "matching" or symmetric):
            values[j, i] = value
        pairs.append(PairScore(rows[i].label, cols[j].label, i, j, value, matches, inliers, error, result))
        if error is not None:
            errors.append(MatrixIssue(rows[i].path, rows[i].label, "compare", error, skipped=False,
                                      other=cols[j].label))
    pairs.sort(key=_pair_sort_key(higher_is_better))
    errors.sort(key=lambda issue: _STAGES.index(issue.stage))  # stable: file order within a stage
    features = column_features = None
    if keep_matches and kind == "matching":
        features = [items[f.path] for f in rows]
        column_features = features if square else [items[f.path] for f in cols]
    return MatrixResult(
        labels=[f.label for f in rows],
        column_labels=[f.label for f in cols],
        paths=[f.path for f in rows],
        column_paths=[f.path for f in cols],
        values=values,
        pairs=pairs,
        errors=errors,
        measure=name,
        kind=kind,
        higher_is_better=higher_is_better,
        square=square,
        resize=_describe_resize(resize_used),
        features=features,
        column_features=column_features,
    )


def _describe_files(files: Sequence[ImageFile], plan: _Plan, *, jobs: int | Executor, progress: Progress | None,
                    errors: list[MatrixIssue]) -> dict[str, Any]:
    """The features (or pixels) of each distinct file, by path; what could not be read goes to ``errors``."""
    unique = list(dict.fromkeys(f.path for f in files))
    prepared = _run_prepare(unique, plan, jobs=jobs, progress=progress)
    labels_of = {f.path: f.label for f in files}
    items: dict[str, Any] = {}
    for path, (item, stage, reason) in zip(unique, prepared, strict=True):
        if item is None:
            errors.append(MatrixIssue(path, labels_of[path], stage, reason))
            continue
        items[path] = item
        if plan.kind == "matching" and len(item) == 0:
            errors.append(MatrixIssue(path, labels_of[path], "features",
                                      "no keypoints found (a flat, blank or tiny image); it scores 0 "
                                      "against every image", skipped=False))
    return items


def _grid(n_rows: int, n_cols: int, *, square: bool, both_ways: bool) -> list[tuple[int, int]]:
    """The (row, column) cells to score, grouped by column: of a square matrix, the pairs below the
    diagonal (every off-diagonal cell when the measure is not symmetric, ``both_ways``)."""
    if not square:
        return [(i, j) for j in range(n_cols) for i in range(n_rows)]
    if both_ways:
        return [(i, j) for j in range(n_rows) for i in range(n_rows) if i != j]
    return [(i, j) for j in range(n_rows) for i in range(j)]


# -- the measure --------------------------------------------------------------------------------

def _resolve_measure(method: str | None, metric: str | None) -> tuple[str, str, bool, bool, bool]:
    """(kind, name, higher_is_better, symmetric, needs_same_size)."""
    from lookalike.features import LOCAL_METHODS

    if method is not None and metric is not None:
        raise ParameterError(
            f"give a matching method or a metric, not both (got method={method!r}, metric={metric!r})"
        )
    if metric is None:
        name = (method or DEFAULT_MATRIX_METHOD).strip().lower()
        if name not in LOCAL_METHODS:
            raise ParameterError(
                f"unknown matching method {method!r}; choose from {', '.join(LOCAL_METHODS)} "
                "(or pass a metric such as 'ssim' instead)"
            )
        return "matching", name, True, True, False
    from lookalike.metrics import get_metric

    info = get_metric(metric)  # raises with the list of names
    return "metric", info.name, info.higher_is_better, info.symmetric, info.needs_same_size


def _identity_value(kind: str, name: str) -> float:
    if kind == "matching":
        return 1.0
    from lookalike.metrics import get_metric

    return float(get_metric(name).identity)


def _pair_sort_key(higher_is_better: bool) -> Callable[[PairScore], tuple[int, float, int, int]]:
    def key(pair: PairScore) -> tuple[int, float, int, int]:
        if math.isnan(pair.value):
            return (1, 0.0, pair.row, pair.col)
        return (0, -pair.value if higher_is_better else pair.value, pair.row, pair.col)

    return key


# -- inputs -------------------------------------------------------------------------------------

def _collect(
    source: PathLike | Sequence[PathLike], *, recursive: bool, exclude: list[PathLike], errors: list[MatrixIssue]
) -> list[ImageFile]:
    if isinstance(source, str | os.PathLike):
        if not os.path.isdir(source):
            raise ParameterError(
                f"expected a folder of images or a list of files, got {os.fspath(source)!r}, which is not "
                "a folder" + ("" if os.path.exists(source) else " (it does not exist)")
            )
        listing = find_images(source, recursive=recursive, exclude=exclude)
        errors.extend(MatrixIssue(r.path, r.label, "listing", r.reason) for r in listing.rejected)
        if not listing.images:
            found = (f"; {len(listing.rejected)} file(s) looked like images but were rejected"
                     if listing.rejected else "")
            hint = ""
            if not recursive:  # suggest the sub-folders only when they hold images
                below = len(find_images(source, recursive=True, exclude=exclude).images)
                if below:
                    hint = f"; its sub-folders hold {below} image{'s' if below != 1 else ''}: pass recursive=True"
            raise ParameterError(f"no images found in {os.fspath(source)!r}{found}{hint}")
        return listing.images
    files = [ImageFile(os.fspath(p), os.fspath(p)) for p in source]
    if not files:
        raise ParameterError("no images given: the list of paths is empty")
    return list({f.path: f for f in files}.values())


def _parse_resize(resize: str | tuple[int, int]) -> str | tuple[int, int]:
    if isinstance(resize, tuple | list):
        if len(resize) == 2 and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in resize):
            return (int(resize[0]), int(resize[1]))
        raise ParameterError(f"resize size must be (width, height) with positive integers, got {resize!r}")
    if isinstance(resize, str):
        word = resize.strip().lower()
        if word in _RESIZE_WORDS:
            return word
        match = _SIZE_TEXT.match(word)
        if match and int(match.group(1)) > 0 and int(match.group(2)) > 0:
            return (int(match.group(1)), int(match.group(2)))
    raise ParameterError(
        f"resize must be one of {', '.join(_RESIZE_WORDS)} or a size such as '256x256', got {resize!r}"
    )


def _decide_resize(resize: str | tuple[int, int], files: list[ImageFile]) -> str | tuple[int, int]:
    if resize != "auto":
        return resize
    sizes = {_oriented_size(f.path) for f in files}
    sizes.discard(None)
    return "none" if len(sizes) <= 1 else MATRIX_WORKING_SIZE


def _describe_resize(resize: str | tuple[int, int] | None) -> str | None:
    if isinstance(resize, tuple):
        return f"{resize[0]}x{resize[1]}"
    return resize


def _oriented_size(path: str) -> tuple[int, int] | None:
    """(width, height) after EXIF orientation, from the header only; None when unreadable."""
    from lookalike.io import open_image, oriented_size

    try:
        with open_image(path) as image:
            return oriented_size(image)
    except LookalikeError:
        return None


# -- stage 1: one description per image -------------------------------------------------------

def _prepare_one(path: str, plan: _Plan) -> tuple[Any, str, str]:
    """(item, stage, reason): the item (features or pixels), or None with where and why it failed."""
    from lookalike.io import load_image

    if plan.kind == "matching" and plan.cache_dir is not None:
        cached = cache_read(path, plan)
        if cached is not None:
            return cached, "", ""
    stage = "read"
    # A folder run must outlive any one file, whatever the decoder or detector raises on it.
    try:
        pixels = load_image(path, max_pixels=plan.max_pixels)
        stage = "features"
        if plan.kind == "matching":
            from lookalike.features import extract_local

            item = extract_local(pixels, method=plan.name, max_keypoints=plan.max_keypoints)
            if plan.cache_dir is not None:
                cache_write(path, plan, item)
            return item, "", ""
        if isinstance(plan.resize, tuple):
            pixels = _resize_to(pixels, plan.resize)
        return pixels, "", ""
    except LookalikeError as exc:
        return None, stage, getattr(exc, "reason", None) or str(exc)
    except Exception as exc:  # see above: recorded, never raised
        return None, stage, f"{type(exc).__name__}: {exc}"


def _resize_to(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to (width, height): area interpolation when shrinking, cubic when enlarging."""
    import cv2

    width, height = size
    if pixels.shape[1] == width and pixels.shape[0] == height:
        return pixels
    shrinking = width * height < pixels.shape[0] * pixels.shape[1]
    out = cv2.resize(pixels, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)
    return out


def _run_prepare(
    paths: list[str], plan: _Plan, *, jobs: int | Executor, progress: Progress | None
) -> list[tuple[Any, str, str]]:
    total = len(paths)
    if progress is not None:
        progress("features", 0, total)
    if jobs == 1 or total < 2:
        results = []
        for done, path in enumerate(paths, 1):
            results.append(_prepare_one(path, plan))
            if progress is not None:
                progress("features", done, total)
        return results
    out: list[tuple[Any, str, str] | None] = [None] * total
    # a caller's executor is used as it is (worker_count is a number: it made a local pool of that many)
    with process_pool(jobs if isinstance(jobs, Executor) else worker_count(jobs, total),
                      initializer=_init_prepare_worker, preload=_PRELOAD) as pool:
        from concurrent.futures import as_completed

        futures = {pool.submit(_prepare_one, path, plan): k for k, path in enumerate(paths)}
        for done, future in enumerate(as_completed(futures), 1):
            out[futures[future]] = future.result()
            if progress is not None:
                progress("features", done, total)
    return out  # type: ignore[return-value]


# -- stage 2: the pairs -------------------------------------------------------------------------

_PairOut: TypeAlias = "tuple[float, int | None, int | None, str | None, Any]"


class _PairScorer:
    """Scores pairs of one run: every image's item by index, and the matching index of the current column.

    For a matching method, pairs come grouped by their second image (the column),
    so the FLANN index of that image's descriptors is built once and queried by
    every row image, instead of once per pair inside
    :func:`lookalike.matching.compare_features`. :meth:`_match_flann` takes
    ``compare_features``' steps (the same seeded ``FlannIndex`` and ratio test as
    ``match_descriptors``, the same verification and score);
    ``tests/pipelines/test_matrix.py`` checks that both give identical results.
    Pairs small enough for brute force go through ``compare_features`` itself.
    """

    def __init__(self, items: list[Any], plan: _Plan) -> None:
        self.items = items
        self.plan = plan
        self._index: tuple[int, Any] | None = None  # (column item, its FlannIndex)

    def score(self, i: int, j: int) -> _PairOut:
        first, second = self.items[i], self.items[j]
        try:
            if self.plan.kind == "matching":
                result = self._match(first, second, j)
                kept = result if self.plan.keep_matches else None
                return (float(result.similarity), result.n_matches, result.n_inliers, None, kept)
            from lookalike.pipelines._compare import compare

            resize = self.plan.resize if isinstance(self.plan.resize, str) else "none"
            values = compare(first, second, metrics=[self.plan.name], resize=resize)  # type: ignore[arg-type]
            return (float(values[self.plan.name]), None, None, None, None)
        except LookalikeError as exc:
            return (math.nan, None, None, str(exc), None)
        except Exception as exc:  # one bad pair never stops the run; recorded
            return (math.nan, None, None, f"{type(exc).__name__}: {exc}", None)

    def _match(self, a: Any, b: Any, j: int) -> Any:
        from lookalike.matching import compare_features, prefers_flann

        if prefers_flann(a, b):
            return self._match_flann(a, b, j)
        return compare_features(a, b)

    def _match_flann(self, a: Any, b: Any, j: int) -> Any:
        """``compare_features(a, b)`` with the FLANN index of ``b`` built once for all its pairs.

        Same matcher, same seed (so the same random trees), same ratio test as
        :func:`lookalike.matching.match_descriptors`; verification and score by
        :func:`lookalike.matching.result_from_matches`, as ``compare_features`` does.
        """
        from lookalike.matching import FlannIndex, result_from_matches

        if self._index is None or self._index[0] != j:
            self._index = (j, FlannIndex(b.descriptors))  # the trees compare_features builds for this image
        matches = self._index[1].match(a.descriptors, ratio=_RATIO)
        return result_from_matches(a, b, matches)


# Set in each pair worker by _init_pair_worker.
_worker_scorer: _PairScorer | None = None


def _score_chunk(tasks: list[tuple[int, int]]) -> list[_PairOut]:
    if _worker_scorer is None:  # pragma: no cover - the pool's initializer always sets it
        raise RuntimeError("pair worker used before _init_pair_worker")
    return [_worker_scorer.score(i, j) for i, j in tasks]


def _score_chunk_carrying(items: list[Any], plan: _Plan, tasks: list[tuple[int, int]]) -> list[_PairOut]:
    """:func:`_score_chunk` for a caller's executor, whose workers lookalike does not initialise."""
    scorer = _PairScorer(items, plan)
    return [scorer.score(i, j) for i, j in tasks]


def _init_prepare_worker() -> None:
    single_threaded_opencv()


def _init_pair_worker(items: list[Any], plan: _Plan) -> None:
    global _worker_scorer
    single_threaded_opencv()
    _worker_scorer = _PairScorer(items, plan)




def _run_pairs(
    items: list[Any], tasks: list[tuple[int, int]], plan: _Plan, *, jobs: int | Executor, progress: Progress | None
) -> list[tuple[float, int | None, int | None, str | None, Any]]:
    total = len(tasks)
    if progress is not None:
        progress("pairs", 0, total)
    if jobs == 1 or total < 2:
        scorer = _PairScorer(items, plan)
        results = []
        for done, (i, j) in enumerate(tasks, 1):
            results.append(scorer.score(i, j))
            if progress is not None and (done % 16 == 0 or done == total):
                progress("pairs", done, total)
        return results
    # chunks small enough for an even spread and a live progress bar, large enough to be cheap
    carried = isinstance(jobs, Executor)  # a caller's executor: every chunk carries the features
    spread = jobs if isinstance(jobs, int) else available_cpus()
    size = max(1, min(64 if not carried else 512, math.ceil(total / (spread * 8))))
    chunks = [tasks[k:k + size] for k in range(0, total, size)]
    out: list[Any] = [None] * len(chunks)
    done = 0
    with process_pool(jobs if carried else worker_count(jobs, len(chunks)), initializer=_init_pair_worker,
                      initargs=(items, plan), preload=_PRELOAD) as pool:
        from concurrent.futures import as_completed

        futures = {(pool.submit(_score_chunk_carrying, items, plan, chunk) if carried
                    else pool.submit(_score_chunk, chunk)): k for k, chunk in enumerate(chunks)}
        for future in as_completed(futures):
            k = futures[future]
            out[k] = future.result()
            done += len(chunks[k])
            if progress is not None:
                progress("pairs", done, total)
    return [r for chunk in out for r in chunk]


_PRELOAD = ("cv2", "lookalike.pipelines._matrix", "lookalike.features", "lookalike.matching")
