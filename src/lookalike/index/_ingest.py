"""Build and update an index: find the files, read each once, describe it, commit in batches.

Each file is read into memory once: the bytes give the content hash (SHA-256)
and are decoded once at a reduced size (JPEG DCT scaling to no less than
64 x 64 for an index of hashes, 256 x 256 with the embedding: its 224 crop),
and every global descriptor of the index is computed from that one decode;
keypoints (``rootsift``) come from a second decode of the same bytes at
about 512 pixels (:func:`lookalike.index._keypoints.describe_keypoints`)
and are committed with the file's other descriptors. Files are
spread over worker processes in small chunks; the parent commits each chunk's
results to the catalogue in one transaction as it arrives, so an interrupted
run loses at most the chunks in flight and the next run skips everything
committed (same path, size and modification time).

Bad input never stops a run: unreadable, empty, truncated or non-image files
and symbolic-link loops are recorded with status ``'error'`` and their reason,
and reported; a file whose size or modification time moves while it is read is
read again (up to three times), then recorded as changing.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

import numpy as np

from lookalike.errors import LookalikeError, MissingDependencyError, ParameterError
from lookalike.io import IMAGE_SUFFIXES, find_images, is_url, list_url, read_url, stat_url
from lookalike.parallel import Jobs, available_cpus, check_jobs, process_pool, worker_count

if TYPE_CHECKING:
    from lookalike.index import Index, IndexReport
    from lookalike.index._catalog import FileResult

__all__ = ["DEFAULT_INDEX_NAME", "add_to_index", "build_index", "default_index_path", "derive_words", "update_index"]

#: The index folder ``lookalike index build DIR`` uses when ``--index`` is not given: ``DIR/.lookalike-index``
#: (hidden, so it is never taken for images).
DEFAULT_INDEX_NAME = ".lookalike-index"

Progress = Callable[[str, int, int], None]

_READ_ATTEMPTS = 3
_CHUNK_HASH = 16  # files per worker task when only hashes are computed
_CHUNK_EMBED = 16  # ... with the embedding (one network batch)


def default_index_path(folder: str | os.PathLike[str]) -> str:
    """``folder/.lookalike-index``."""
    return os.path.join(os.fspath(folder), DEFAULT_INDEX_NAME)


def build_index(
    folder: str | os.PathLike[str],
    index: str | os.PathLike[str] | None = None,
    *,
    descriptors: Iterable[str] | None = None,
    backend: str = "auto",
    backend_params: dict[str, Any] | None = None,
    recursive: bool = True,
    jobs: Jobs = None,
    progress: Progress | None = None,
) -> tuple[Index, IndexReport]:
    """Index a folder: create the index (or resume / update an existing one) and fill it.

    Parameters
    ----------
    folder : str or path-like
        The images.
    index : str or path-like, optional
        The index folder; default ``folder/.lookalike-index``.
    descriptors : iterable of str, optional, keyword-only
        For a new index (default ``("phash", "embedding")``). For an existing
        one they must match what it holds (or be None).
    backend : str, keyword-only
        Vector backend of a new index (see :meth:`lookalike.index.Index.create`).
    backend_params : dict, optional, keyword-only
        Its parameters (for ``"milvus"``, as :func:`lookalike.index.vectors_backend` gives them).
    recursive, jobs, progress
        As for :func:`update_index`.

    Returns
    -------
    (Index, IndexReport)
        The open index (close it, or use it as a context manager) and what the run did.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from PIL import Image
    >>> folder = tempfile.mkdtemp()
    >>> Image.fromarray(np.zeros((32, 32), np.uint8)).save(folder + "/black.png")
    >>> index, report = build_index(folder, descriptors=["phash"], jobs=1)
    >>> with index:
    ...     report.added, len(index), os.path.basename(index.path)
    (1, 1, '.lookalike-index')
    """
    from lookalike.index import Index

    folder_text = os.fspath(folder)
    _check_folder(folder_text)
    path = os.fspath(index) if index is not None else default_index_path(folder_text)
    if os.path.exists(os.path.join(path, "manifest.json")):
        opened = Index.open(path)
        if descriptors is not None:
            wanted = [str(d) for d in ([descriptors] if isinstance(descriptors, str) else descriptors)]
            held = [spec.name for spec in opened.descriptors]
            if wanted != held:
                opened.close()
                raise ParameterError(
                    f"the index at {path!r} holds the descriptors {', '.join(held)}, not {', '.join(wanted)}; "
                    "leave the descriptors out to update it, or give a new index folder"
                )
        created: str | None = None
        fresh = False  # an index that was there before this run: never discarded here
    else:
        from lookalike.index import DEFAULT_DESCRIPTORS

        created = None if os.path.exists(path) else path
        fresh = True
        opened = Index.create(path, descriptors=DEFAULT_DESCRIPTORS if descriptors is None else descriptors,
                              backend=backend, backend_params=backend_params)
    try:
        report = opened.update(folder_text, recursive=recursive, jobs=jobs, progress=progress)
    except BaseException as exc:
        nothing_kept = fresh and isinstance(exc, LookalikeError) and opened.catalog.counts() == (0, 0)
        opened.close()
        if nothing_kept:  # a run that failed before reading any file leaves no empty new index behind
            _discard_new_index(opened.path, created)
        raise
    return opened, report


def _list_source(folder: str, recursive: bool, index_path: str) -> Any:
    """The images of a folder, or of an fsspec folder URL (listed by suffix; content is checked when read)."""
    if not is_url(folder):
        return find_images(folder, recursive=recursive, exclude=[index_path])
    from lookalike.io import ImageFile, ImageListing

    urls = list_url(folder, recursive=recursive)
    return ImageListing(folder, [ImageFile(url, url[len(folder.rstrip("/")) + 1:]) for url in urls])


def _stat(path: str) -> Any:
    """``os.stat(path)``, or the same fields of an fsspec URL."""
    return stat_url(path) if is_url(path) else os.stat(path)


def _discard_new_index(path: str, created: str | None) -> None:
    """Delete an index just created: its folder when this run created it, else what it wrote in it.

    ``Index.create`` accepts an existing folder only when it holds nothing but
    index files, so everything in it now is this run's.
    """
    import shutil

    if created is not None:
        shutil.rmtree(path, ignore_errors=True)
        return
    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            os.remove(entry.path)


def _check_folder(folder: str) -> None:
    if is_url(folder):
        return  # listed by fsspec, which says when it is not a folder
    if not os.path.exists(folder):
        raise ParameterError(f"no such folder: {folder!r}; give a folder that holds images")
    if not os.path.isdir(folder):
        raise ParameterError(f"expected a folder of images, got the file {folder!r}; use `index add` for files")


def update_index(
    index: Index,
    folder: str | os.PathLike[str],
    *,
    recursive: bool = True,
    jobs: Jobs = None,
    progress: Progress | None = None,
) -> IndexReport:
    """Bring ``index`` in line with ``folder``: add new images, re-index changed ones, drop deleted ones.

    Only catalogue entries under ``folder`` are considered for removal (and,
    with ``recursive=False``, only those directly in it); hidden files and
    folders are skipped, like the index folder itself.

    Parameters
    ----------
    index : Index
    folder : str or path-like
    recursive : bool, keyword-only
        Also index sub-folders (default).
    jobs : int, None or concurrent.futures.Executor, keyword-only
        Worker processes; default every available CPU. 1 runs in this process; an executor
        (Ray, Dask, loky...) is used as it is (:mod:`lookalike.parallel`).
    progress : callable, optional, keyword-only
        ``progress("indexing", done, total)`` after each committed chunk, and
        ``progress("upgrading", done, total)`` while an upgrade runs.

    Returns
    -------
    IndexReport

    Notes
    -----
    An index written by an earlier lookalike is upgraded in place: the descriptors this version
    adds (:data:`~lookalike.index.UPGRADES`: the dihedral pHashes beside a ``phash``) are recorded
    in its manifest and computed for every file already indexed (read again and checked against
    its content hash; nothing else of the row changes), never by rebuilding the index.

    Raises
    ------
    ParameterError
        ``folder`` is missing or not a folder, or it holds no image and nothing
        under it is indexed (an empty folder is almost always a wrong path).
    """
    from lookalike.index import IndexReport
    from lookalike.index._catalog import FileResult
    from lookalike.index._index import FileError, resolve_path

    folder_text = os.fspath(folder)
    _check_folder(folder_text)
    jobs = check_jobs(jobs)
    upgrade = index.add_descriptors(index.pending_upgrades()) if index.catalog.counts()[0] else ()
    root = resolve_path(folder_text)
    listing = _list_source(folder_text, recursive, index.path)
    known = index.catalog.known(under=root)
    if not recursive:
        known = {p: row for p, row in known.items() if os.path.dirname(p) == root}
    known = {p: row for p, row in known.items() if not _hidden(p, root) and not _inside(p, index.path)}
    if not listing.images and not known:
        raise ParameterError(_no_images_message(folder_text, listing.rejected, recursive))

    seen: set[str] = set()
    todo: list[str] = []
    unchanged = 0
    for image in listing.images:
        key = resolve_path(image.path)
        if key in seen or _inside(key, index.path):
            continue
        seen.add(key)
        if _unchanged(key, known.get(key)):
            unchanged += 1
        else:
            todo.append(key)

    errors: list[FileError] = []
    rejected_results: list[FileResult] = []
    for bad in listing.rejected:
        key = _error_key(bad.path)
        errors.append(FileError(bad.path, bad.reason))
        if key in seen or os.path.isdir(key):
            continue
        seen.add(key)
        row = known.get(key)
        if row is not None and row[3] == "error" and row[4] == bad.reason:
            continue  # already recorded with that reason
        size, mtime_ns = _stat_or_none(key)
        rejected_results.append(FileResult(key, size=size, mtime_ns=mtime_ns, error=bad.reason))
    gone = [p for p in known if p not in seen]
    removed = index.catalog.remove(gone) if gone else 0
    if rejected_results:
        index.catalog.commit(rejected_results)

    added, changed, processed, failed = _process(index, todo, set(known), jobs=jobs, progress=progress)
    errors += failed
    upgraded, left = _upgrade(index, upgrade, jobs=jobs, progress=progress) if upgrade else (0, 0)
    worded = derive_words(index, progress=progress)
    if any(spec.kind == "words" for spec in upgrade):
        upgraded = max(upgraded, worded)
    index.refresh()
    return IndexReport(added=added, changed=changed, removed=removed, unchanged=unchanged, processed=processed,
                       errors=tuple(errors), upgraded=upgraded, upgrade_left=left)


#: Files whose keypoints are read (and quantised) at once while deriving words.
_WORDS_CHUNK = 256
#: The vocabulary is fitted again (and every file's words derived again) when the index holds this
#: many times the descriptors it was fitted on and it has fewer words than it could.
_REFIT_GROWTH = 4
#: Files whose keypoints are sampled to fit the vocabulary.
_VOCABULARY_FILES = 2000


def derive_words(index: Index, *, progress: Progress | None = None) -> int:
    """Quantise the stored keypoints of the files that lack visual words (descriptor ``"words"``); how many.

    The vocabulary is fitted on a sample of the index's own stored descriptors the first time
    (:func:`lookalike.index._words.fit_vocabulary_tree`), and fitted again, with every file's words,
    when the index has grown :data:`_REFIT_GROWTH` times past a vocabulary smaller than
    :data:`~lookalike.index._words.VOCABULARY_WORDS`, or that is flat (fitted before the tree: an upgrade).
    Nothing is decoded. ``progress("words", done, total)``.
    """
    from lookalike.index._keypoints import KEYPOINTS_HEADER_SIZE
    from lookalike.index._words import VOCABULARY_SAMPLE_PER_WORD, VOCABULARY_WORDS, fit_vocabulary_tree, quantise

    spec = next((s for s in index.descriptors if s.kind == "words"), None)
    keypoints = next((s for s in index.descriptors if s.kind == "keypoints"), None)
    if spec is None or keypoints is None:
        return 0
    held, size = index.catalog.descriptor_totals(keypoints.name)
    total = max(0, (size - KEYPOINTS_HEADER_SIZE * held) // 144)  # descriptors stored (144 bytes a keypoint)
    vocabulary = index.vocabulary()
    fitted_on = index._vocabulary_fitted_on()
    # a flat vocabulary (fitted before the tree) is replaced by a tree, with every file's words
    refit = vocabulary is not None and (not vocabulary.is_tree or (
        len(vocabulary) < VOCABULARY_WORDS and total >= _REFIT_GROWTH * fitted_on
        and total // VOCABULARY_SAMPLE_PER_WORD > len(vocabulary)))
    if vocabulary is None or refit:
        if not total:
            return 0
        ids = np.array([r.id for r in index.catalog.records(status="ok")], np.int64)
        if ids.size > _VOCABULARY_FILES:  # a seeded sample of the files: the same index gives the same words
            ids = np.sort(np.random.default_rng(0).choice(ids, _VOCABULARY_FILES, replace=False))
        sample = [f.descriptors for f in index.local_features(ids).values() if len(f)]
        if not sample:
            return 0
        vocabulary = fit_vocabulary_tree(np.concatenate(sample))
        index._save_vocabulary(vocabulary, total)
    todo = [r.id for r in (index.catalog.records(status="ok") if refit else index.catalog.missing(spec.name))]
    if progress is not None:
        progress("words", 0, len(todo))
    stored = 0
    for start in range(0, len(todo), _WORDS_CHUNK):
        chunk = todo[start:start + _WORDS_CHUNK]
        features = index.local_features(chunk)
        if features:  # one quantisation for the chunk: the tree's second level goes node by node
            words = quantise(np.concatenate([f.descriptors for f in features.values()]), vocabulary)
            ends = np.cumsum([len(f) for f in features.values()])
            parts = np.split(words, ends[:-1])
            rows = [(i, w.astype("<u2").tobytes()) for i, w in zip(features, parts, strict=True)]
            stored += index.catalog.put_descriptor(spec.name, rows)
        if progress is not None:
            progress("words", min(len(todo), start + len(chunk)), len(todo))
    return stored


def _upgrade(index: Index, specs: Sequence[Any], *, jobs: int | Executor, progress: Progress | None) -> tuple[int, int]:
    """Compute the new global descriptors ``specs`` for the files that lack them; ``(stored, left)``.

    Each file is read and decoded again as for indexing, with only ``specs``; its result is stored
    only when its content hash is still the indexed one (a file changed since is left for the next
    update of its folder, which re-indexes it whole)."""
    specs = [spec for spec in specs if spec.is_global]  # the words come from the stored keypoints: derive_words
    if not specs:
        return 0, 0
    rows = {r.id: r for spec in specs for r in index.catalog.missing(spec.name)}
    todo = sorted(rows.values(), key=lambda r: r.id)
    if progress is not None:
        progress("upgrading", 0, len(todo))
    by_path = {r.path: r for r in todo}
    spec_data = [spec.to_json() for spec in specs]
    size = _CHUNK_HASH if all(spec.kind != "embedding" for spec in specs) else _CHUNK_EMBED
    chunks = [[r.path for r in todo[i:i + size]] for i in range(0, len(todo), size)]
    stored = done = 0
    for results in _described(chunks, spec_data, jobs=jobs, embedding=False, keypoints=False):
        same = [(by_path[r.path], r) for r in results if r.ok and r.content_hash == by_path[r.path].content_hash]
        counts = [index.catalog.put_descriptor(spec.name, [(row.id, r.vectors[spec.name]) for row, r in same])
                  for spec in specs]
        stored += min(counts)
        done += len(results)
        if progress is not None:
            progress("upgrading", done, len(todo))
    return stored, len(todo) - stored


def add_to_index(
    index: Index,
    paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    jobs: Jobs = None,
    progress: Progress | None = None,
) -> IndexReport:
    """Index the given files (a folder stands for every image under it, recursively).

    Files already indexed and unchanged are skipped. A path that does not
    exist is reported (not recorded); a file that cannot be read is recorded
    with status ``'error'``.
    """
    from lookalike.index import IndexReport
    from lookalike.index._catalog import FileResult
    from lookalike.index._index import FileError, resolve_path

    jobs = check_jobs(jobs)
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    errors: list[FileError] = []
    candidates: list[str] = []
    bad_results: list[FileResult] = []
    for given in paths:
        text = os.fspath(given)
        if os.path.isdir(text):
            listing = find_images(text, recursive=True, exclude=[index.path])
            candidates += [image.path for image in listing.images]
            for bad in listing.rejected:
                errors.append(FileError(bad.path, bad.reason))
                if not os.path.isdir(bad.path):
                    size, mtime_ns = _stat_or_none(bad.path)
                    bad_results.append(FileResult(_error_key(bad.path), size=size, mtime_ns=mtime_ns,
                                                  error=bad.reason))
        elif os.path.lexists(text) and not os.path.exists(text) and not _is_loop(text):
            errors.append(FileError(text, "broken link: the file it points to does not exist"))
        elif not os.path.lexists(text):
            errors.append(FileError(text, "no such file"))
        else:
            candidates.append(text)
    keys = list(dict.fromkeys(resolve_path(p) for p in candidates))
    known = index.catalog.known(keys)
    todo = [k for k in keys if not _unchanged(k, known.get(k))]
    if bad_results:
        index.catalog.commit(bad_results)
    added, changed, processed, failed = _process(index, todo, set(known), jobs=jobs, progress=progress)
    derive_words(index, progress=progress)
    index.refresh()
    return IndexReport(added=added, changed=changed, removed=0, unchanged=len(keys) - len(todo),
                       processed=processed, errors=tuple(errors + failed))


# -- helpers -----------------------------------------------------------------------------------------

def _unchanged(path: str, row: tuple[Any, ...] | None) -> bool:
    """Indexed without error, and the file's size and modification time are the same."""
    if row is None or row[3] != "ok":
        return False
    size, mtime_ns = _stat_or_none(path)
    return size == row[1] and mtime_ns == row[2]


def _error_key(path: str) -> str:
    """Where a failed file is recorded: its resolved path, or the link itself when the link leads nowhere."""
    from lookalike.index._index import resolve_path

    return resolve_path(path) if os.path.exists(path) else os.path.abspath(path)


def _stat_or_none(path: str) -> tuple[int | None, int | None]:
    try:
        info = _stat(path)
    except OSError:
        return None, None
    return int(info.st_size), int(info.st_mtime_ns)


def _hidden(path: str, root: str) -> bool:
    relative = os.path.relpath(path, root)
    return any(part.startswith(".") for part in relative.split(os.sep))


def _inside(path: str, folder: str) -> bool:
    folder = os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _is_loop(path: str) -> bool:
    try:
        os.stat(path)
    except OSError as exc:
        import errno

        return exc.errno == errno.ELOOP
    return False


def _no_images_message(folder: str, rejected: Sequence[Any], recursive: bool) -> str:
    suffixes = ", ".join(sorted(s for s in IMAGE_SUFFIXES if s in (".jpg", ".jpeg", ".png", ".webp", ".tif", ".bmp")))
    text = f"found no images in {folder!r} (looked for {suffixes}, ...{', in sub-folders too' if recursive else ''})"
    if rejected:
        first = rejected[0]
        text += (f"; {len(rejected)} file{'s' if len(rejected) != 1 else ''} looked like images but cannot be read, "
                 f"e.g. {first.label}: {first.reason}")
    elif not recursive:
        text += "; to include sub-folders, index recursively"
    return text


# -- reading and describing files --------------------------------------------------------------------

def _process(
    index: Index, todo: list[str], known: set[str], *, jobs: int | Executor, progress: Progress | None
) -> tuple[int, int, int, list[Any]]:
    """Describe ``todo`` (resolved paths) and commit the results chunk by chunk.

    Returns ``(added, changed, processed, errors)``.
    """
    from lookalike.index._index import FileError

    specs = index.descriptors
    total = len(todo)
    if progress is not None:
        progress("indexing", 0, total)
    if not todo:
        return 0, 0, 0, []
    wants_embedding = any(spec.kind == "embedding" for spec in specs)
    wants_keypoints = any(spec.kind == "keypoints" for spec in specs)
    size = _CHUNK_EMBED if wants_embedding else _CHUNK_HASH
    workers = worker_count(jobs, -(-total // size))
    if workers > 1:  # smaller chunks keep every worker busy to the end
        size = max(1, min(size, -(-total // (workers * 4))))
    chunks = [todo[i : i + size] for i in range(0, total, size)]
    added = changed = done = 0
    errors: list[FileError] = []

    def commit(results: list[FileResult]) -> None:
        nonlocal added, changed, done
        index.catalog.commit(results)
        for result in results:
            if result.error is not None:
                errors.append(FileError(result.path, result.error))
            elif result.path in known:
                changed += 1
            else:
                added += 1
        done += len(results)
        if progress is not None:
            progress("indexing", done, total)

    for results in _described(chunks, [spec.to_json() for spec in specs], jobs=jobs, embedding=wants_embedding,
                              keypoints=wants_keypoints):
        commit(results)
    return added, changed, done, errors


def _described(chunks: list[list[str]], spec_data: list[dict[str, Any]], *, jobs: int | Executor, embedding: bool,
               keypoints: bool) -> Iterator[list[FileResult]]:
    """:func:`_describe_chunk` of every chunk, in this process or spread over workers; each chunk's results as
    they come."""
    workers = worker_count(jobs, len(chunks))
    if workers <= 1 and not isinstance(jobs, Executor):
        embedder = _make_embedder(None) if embedding else None
        for chunk in chunks:
            yield _describe_chunk(chunk, spec_data, embedder=embedder)
        return
    if embedding:
        _check_embedding_available()
    # a caller's executor (its workers may be on other machines) keeps its libraries' own thread counts, unless
    # it says how many threads a task gets (RayExecutor: its CPUs per task; else 64 tasks of 32 threads on a node)
    own = not isinstance(jobs, Executor)
    threads = (max(1, available_cpus() // workers) if own else _threads_per_task(jobs)) if (
        embedding or keypoints) else 0
    with process_pool(jobs if isinstance(jobs, Executor) else workers, initializer=_init_worker,
                      initargs=(threads,), preload=_PRELOAD) as pool:
        from concurrent.futures import as_completed

        futures = [pool.submit(_describe_chunk, chunk, spec_data, threads=threads) for chunk in chunks]
        for future in as_completed(futures):
            yield future.result()


def _threads_per_task(executor: object) -> int:
    """The threads an executor's task may use (its ``threads_per_task``; 0: the libraries' defaults)."""
    value = getattr(executor, "threads_per_task", 0)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _make_embedder(threads: int | None) -> Any:
    from lookalike.features import Embedder

    return Embedder(threads=threads)


def _check_embedding_available() -> None:
    """Fail before starting workers when the embedding cannot be computed at all."""
    import importlib.util

    from lookalike.features import weights_path

    if importlib.util.find_spec("onnxruntime") is None:
        raise MissingDependencyError(
            "the 'embedding' descriptor needs onnxruntime; install the index extra: pip install 'lookalike[index]'"
        )
    weights_path()


_worker_embedder: Any = None
_worker_threads = 0
_worker_cv_threads_set = False


def _init_worker(threads: int) -> None:
    global _worker_threads
    _worker_threads = threads


_PRELOAD = ("lookalike.index._ingest", "lookalike.index._descriptors", "lookalike.features._hash", "scipy.fft")


def _describe_chunk(
    paths: Sequence[str], spec_data: Sequence[dict[str, Any]], *, embedder: Any = None, threads: int | None = None
) -> list[FileResult]:
    """Read, decode and describe a chunk of files; one result per path, in order.

    ``threads``: this worker's share of the CPUs (set by the pool's initializer, or carried by the task for an
    executor lookalike did not initialise).
    """
    global _worker_embedder
    if threads is not None:
        _init_worker(threads)
    from lookalike.index._descriptors import DescriptorSpec, describe_pixels

    all_specs = [DescriptorSpec.from_json(d) for d in spec_data]
    specs = [s for s in all_specs if s.is_global]
    keypoint_specs = [s for s in all_specs if s.kind == "keypoints"]
    if keypoint_specs:
        _limit_opencv_threads()
    draft = (max(s.draft[0] for s in specs), max(s.draft[1] for s in specs))
    read = [_read_one(path, draft, keep_data=bool(keypoint_specs)) for path in paths]
    results = [(result, pixels) for result, pixels, _data in read]
    live = [i for i, (result, pixels) in enumerate(results) if pixels is not None]
    if live:
        if embedder is None and any(s.kind == "embedding" for s in specs):
            if _worker_embedder is None:
                _worker_embedder = _make_embedder(_worker_threads or None)
            embedder = _worker_embedder
        described = describe_pixels([results[i][1] for i in live], specs, embedder=embedder)
        by_name = {spec.name: spec for spec in specs}
        for i, entry in zip(live, described, strict=True):
            result = results[i][0]
            if isinstance(entry, str):
                result.error = entry
            else:
                result.vectors = {name: by_name[name].to_bytes(vector) for name, vector in entry.items()}
                _describe_keypoints(result, read[i][2], keypoint_specs)
    return [result for result, _pixels in results]


def _describe_keypoints(result: FileResult, data: bytes | None, specs: Sequence[Any]) -> None:
    """Add the keypoint BLOBs of a file (decoded again from its bytes), or record why they failed."""
    from lookalike.index._keypoints import describe_keypoints

    for spec in specs:
        try:
            result.vectors[spec.name] = describe_keypoints(data, spec)
        except LookalikeError as exc:
            result.error = f"{spec.name}: {getattr(exc, 'reason', None) or exc}"
        except Exception as exc:  # a folder run must outlive any one file (cv2.error, MemoryError, ...)
            result.error = f"{spec.name}: {type(exc).__name__}: {exc}"
        if result.error is not None:
            result.vectors = {}
            return


def _limit_opencv_threads() -> None:
    """In a worker process, OpenCV gets this worker's share of the CPUs (as the embedder does)."""
    global _worker_cv_threads_set
    if _worker_threads and not _worker_cv_threads_set:
        import cv2

        cv2.setNumThreads(_worker_threads)
        _worker_cv_threads_set = True


def _read_one(path: str, draft: tuple[int, int], *, keep_data: bool = False) -> tuple[FileResult, Any, bytes | None]:
    """The file's identity (size, time, SHA-256, size in pixels), its decoded pixels (None on error) and
    its bytes (with ``keep_data``)."""
    from lookalike.index._catalog import FileResult
    from lookalike.io import open_image, oriented_size
    from lookalike.matching import load_for_descriptors

    result = FileResult(path)
    data = b""
    for attempt in range(_READ_ATTEMPTS):
        try:
            before = _stat(path)
            if stat.S_ISDIR(before.st_mode):
                result.error = "it is a folder, not a file"
                return result, None, None
            if not stat.S_ISREG(before.st_mode):
                result.error = "not a regular file (a device, pipe or socket)"
                return result, None, None
            data = _read_bytes(path)
            after = _stat(path)
        except OSError as exc:
            result.error = _os_reason(exc)
            return result, None, None
        result.size, result.mtime_ns = int(after.st_size), int(after.st_mtime_ns)
        if (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns) and len(data) == after.st_size:
            break
        time.sleep(0.05 * (attempt + 1))
    else:
        result.error = (f"the file kept changing while it was read ({_READ_ATTEMPTS} attempts); "
                        "index it again once it is complete")
        return result, None, None
    if not data:
        result.error = "the file is empty (0 bytes)"
        return result, None, None
    result.content_hash = hashlib.sha256(data).hexdigest()
    # A folder run must outlive any one file, whatever the decoder raises on it.
    try:
        with open_image(data) as image:
            result.width, result.height = oriented_size(image)
        pixels = load_for_descriptors(data, draft=draft)
    except LookalikeError as exc:
        result.error = getattr(exc, "reason", None) or str(exc)
        return result, None, None
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        return result, None, None
    return result, pixels, data if keep_data else None


def _read_bytes(path: str) -> bytes:
    if is_url(path):
        return read_url(path)
    with open(path, "rb") as handle:
        return handle.read()


def _os_reason(exc: OSError) -> str:
    import errno

    if isinstance(exc, FileNotFoundError):
        return "no such file (deleted while indexing?)"
    if isinstance(exc, PermissionError):
        return "permission denied: cannot read this file"
    if exc.errno == errno.ELOOP:
        return "symbolic link loop"
    return exc.strerror or str(exc)
