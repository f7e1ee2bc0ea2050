"""Labelled reference sets for classification: reading them, describing them once, splitting them.

A labelled set is a folder with one sub-folder per class (the sub-folder's name is the label; images
anywhere under it belong to it), or a CSV file of ``path,label`` rows (paths relative to the CSV's
folder, an optional ``path,label`` header). :func:`load_labelled` reads either into a
:class:`LabelledSet`; :func:`embed_files` gives the deep embedding of every file through an index
(:class:`lookalike.index.Index`), so a second run over the same files decodes nothing;
:func:`stratified_folds` splits a set for cross-validation, keeping byte-identical files together.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lookalike.errors import LookalikeError, ParameterError
from lookalike.io import RejectedFile, find_images
from lookalike.parallel import Jobs

if TYPE_CHECKING:
    from lookalike.index import Index

__all__ = [
    "FEATURE_INDEX_NAME",
    "EmbeddedFiles",
    "LabelledSet",
    "embed_files",
    "feature_index_path",
    "load_labelled",
    "stratified_folds",
]

#: The index that caches a folder's embeddings when no cache folder is given: ``FOLDER/.lookalike-index``,
#: the folder ``lookalike index build FOLDER`` makes (one is reused if it holds the embedding).
FEATURE_INDEX_NAME = ".lookalike-index"
#: What a new feature index holds: the embedding, and the pHash (nearly free from the same decode) so
#: that ``lookalike search`` and ``duplicates`` can use the index too.
_FEATURE_DESCRIPTORS = ("phash", "embedding")

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class LabelledSet:
    """Image files and their class labels.

    Attributes
    ----------
    paths : tuple of str
        The image files, in a stable order (classes in natural order, then files).
    labels : tuple of str
        The label of each path.
    source : str
        The folder or CSV file the set was read from ("" when built from lists).
    rejected : tuple of RejectedFile
        Files that look like images but cannot be (empty, not an image, missing CSV entries).
    empty_classes : tuple of str
        Class folders that hold no image (their label is not among ``labels``).
    """

    paths: tuple[str, ...]
    labels: tuple[str, ...]
    source: str = ""
    rejected: tuple[RejectedFile, ...] = ()
    empty_classes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.paths) != len(self.labels):
            raise ParameterError(f"{len(self.paths)} paths but {len(self.labels)} labels; give one label per path")

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def classes(self) -> tuple[str, ...]:
        """The distinct labels, sorted (the order of confusion matrices and per-class tables)."""
        return tuple(sorted(set(self.labels)))

    def counts(self) -> dict[str, int]:
        """Images per class, in the order of :attr:`classes`."""
        found = dict.fromkeys(self.classes, 0)
        for label in self.labels:
            found[label] += 1
        return found

    def subset(self, keep: Sequence[int] | np.ndarray) -> LabelledSet:
        """The set restricted to positions ``keep`` (in that order)."""
        picks = [int(i) for i in np.asarray(keep, dtype=np.int64).ravel()]
        return LabelledSet(tuple(self.paths[i] for i in picks), tuple(self.labels[i] for i in picks),
                           self.source, self.rejected, self.empty_classes)


def load_labelled(source: str | os.PathLike[str]) -> LabelledSet:
    """Read a labelled set: a folder of class sub-folders, or a ``path,label`` CSV file.

    Parameters
    ----------
    source : str or path-like
        A folder whose sub-folders are the classes (images at any depth under a
        class folder belong to it; images directly in the folder belong to no
        class and are listed in ``rejected``; hidden folders, such as the
        feature index ``.lookalike-index``, are skipped), or a ``.csv`` file of
        ``path,label`` rows (paths relative to the CSV's folder; a first row
        ``path,label`` is a header).

    Returns
    -------
    LabelledSet

    Raises
    ------
    ParameterError
        The source does not exist, holds no class folder, or a CSV row is malformed.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from PIL import Image
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for label in ("cats", "dogs"):
    ...     (root / label).mkdir()
    ...     Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / label / "a.png")
    >>> labelled = load_labelled(root)
    >>> labelled.classes, len(labelled)
    (('cats', 'dogs'), 2)
    """
    text = os.fspath(source)
    if os.path.isfile(text):
        return _load_csv(text)
    if not os.path.isdir(text):
        raise ParameterError(
            f"no labelled set at {text!r}: give a folder with one sub-folder per class, or a CSV of path,label rows"
        )
    paths: list[str] = []
    labels: list[str] = []
    rejected: list[RejectedFile] = []
    empty: list[str] = []
    top = find_images(text, recursive=False)
    rejected += [RejectedFile(f.path, f.label, "not in a class folder: put it in the folder of its class")
                 for f in top.images]
    rejected += top.rejected
    classes = sorted(entry.name for entry in os.scandir(text) if entry.is_dir() and not entry.name.startswith("."))
    for name in classes:
        listing = find_images(os.path.join(text, name), recursive=True)
        rejected += [RejectedFile(r.path, f"{name}/{r.label}", r.reason) for r in listing.rejected]
        if not listing.images:
            empty.append(name)
            continue
        paths += listing.paths
        labels += [name] * len(listing.images)
    if not classes:
        raise ParameterError(
            f"{text!r} has no class folders: put the images of each class in a sub-folder named after it "
            "(cats/, dogs/), or give a CSV of path,label rows"
        )
    return LabelledSet(tuple(paths), tuple(labels), text, tuple(rejected), tuple(empty))


def _load_csv(path: str) -> LabelledSet:
    base = os.path.dirname(os.path.abspath(path))
    paths: list[str] = []
    labels: list[str] = []
    rejected: list[RejectedFile] = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError) as exc:
        raise ParameterError(f"cannot read the labelled set {path!r}: {exc}") from None
    for number, row in enumerate(rows, 1):
        if not row or all(not cell.strip() for cell in row):
            continue
        if number == 1 and [cell.strip().lower() for cell in row[:2]] == ["path", "label"]:
            continue
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise ParameterError(f"{path}, line {number}: expected 'path,label', got {','.join(row)!r}")
        file, label = row[0].strip(), row[1].strip()
        full = file if os.path.isabs(file) else os.path.join(base, file)
        if not os.path.isfile(full):
            rejected.append(RejectedFile(full, file, "no such file (listed in the CSV)"))
            continue
        paths.append(full)
        labels.append(label)
    return LabelledSet(tuple(paths), tuple(labels), path, tuple(rejected), ())


# -- the embedding, cached in an index --------------------------------------------------------------

@dataclass(frozen=True)
class EmbeddedFiles:
    """The deep embedding of files, read from (and kept in) an index.

    Attributes
    ----------
    paths : tuple of str
        The files that could be embedded, in the order asked for.
    vectors : ndarray
        float32 (len(paths), 1280), unit rows.
    content_hashes : tuple of str
        SHA-256 of each file (byte-identical files share it).
    positions : ndarray
        For each path, its position in the list that was asked for.
    failed : tuple of RejectedFile
        Files that could not be read, with the reason.
    index_path : str
        The index the vectors live in.
    decoded : int
        Files read and described in this run (0 when everything was cached).
    """

    paths: tuple[str, ...]
    vectors: np.ndarray
    content_hashes: tuple[str, ...]
    positions: np.ndarray
    failed: tuple[RejectedFile, ...] = ()
    index_path: str = ""
    decoded: int = 0


def feature_index_path(source: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None) -> str:
    """The index that caches the embeddings of a labelled set or image folder.

    ``SOURCE/.lookalike-index`` for a folder (``CSVDIR/.lookalike-index`` for a
    CSV), or, with ``cache_dir``, ``CACHE_DIR/<name>-<12 hex digits of the
    absolute path>`` so read-only folders can be classified too.
    """
    text = os.path.abspath(os.fspath(source))
    folder = text if os.path.isdir(text) else os.path.dirname(text)
    if cache_dir is None:
        return os.path.join(folder, FEATURE_INDEX_NAME)
    digest = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    name = os.path.basename(text.rstrip(os.sep)) or "root"
    return os.path.join(os.fspath(cache_dir), f"{name}-{digest}")


def open_feature_index(path: str) -> Index:
    """Open the feature index at ``path``, or create it (pHash and embedding) when there is none."""
    from lookalike.index import Index

    if os.path.exists(os.path.join(path, "manifest.json")):
        index = Index.open(path)
        if not any(spec.kind == "embedding" for spec in index.descriptors):
            held = ", ".join(spec.name for spec in index.descriptors)
            index.close()
            raise ParameterError(
                f"the index at {path!r} holds no embedding ({held}); classification needs one: pass another "
                "cache folder (--cache-dir DIR) or rebuild that index with the embedding"
            )
        return index
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.isdir(parent) and os.path.dirname(parent) != parent:  # the nearest folder that exists
        parent = os.path.dirname(parent)
    if not os.access(parent, os.W_OK):
        raise ParameterError(
            f"cannot keep the embeddings in {path!r}: {parent!r} is not writable; pass a cache folder "
            "(--cache-dir DIR, or cache_dir=...)"
        )
    return Index.create(path, descriptors=_FEATURE_DESCRIPTORS)


def embed_files(
    paths: Sequence[str],
    index_path: str,
    *,
    jobs: Jobs = None,
    progress: Progress | None = None,
) -> EmbeddedFiles:
    """The embedding of ``paths``, computed once and kept in the index at ``index_path``.

    Files already in the index with the same size and modification time are
    not read again (:meth:`lookalike.index.Index.add`): a second call over the
    same files decodes nothing. Unreadable files are returned in ``failed``.
    """
    from lookalike.errors import ImageReadError

    with open_feature_index(index_path) as index:
        spec = next(s for s in index.descriptors if s.kind == "embedding")
        try:
            report = index.add(list(paths), jobs=jobs, progress=progress) if paths else None
        except (ImageReadError, OSError) as exc:  # pragma: no cover - add reports, it does not raise per file
            raise ParameterError(f"cannot index the images: {exc}") from None
        reasons = {os.path.realpath(e.path): e.reason for e in (report.errors if report else ())}
        ids = index.ids_of(paths)
        found = [i for i, file_id in enumerate(ids) if file_id >= 0]
        _ids, vectors = index.vectors(spec.name, ids[found])
        records = {r.id: r for r in index.records(ids[found])}
        failed = []
        for i, file_id in enumerate(ids):
            if file_id < 0:
                reason = reasons.get(os.path.realpath(paths[i]), "could not be read")
                failed.append(RejectedFile(paths[i], os.path.basename(paths[i]), reason))
        if len(vectors) != len(found):  # pragma: no cover - a file indexed without its embedding
            raise LookalikeError(f"the index at {index_path!r} lacks embeddings of indexed files; rebuild it")
        hashes = tuple(str(records[int(ids[i])].content_hash or f"id{int(ids[i])}") for i in found)
        return EmbeddedFiles(tuple(paths[i] for i in found), np.ascontiguousarray(vectors, np.float32), hashes,
                             np.asarray(found, np.int64), tuple(failed), index.path,
                             report.processed if report else 0)


# -- cross-validation splits ------------------------------------------------------------------------

def stratified_folds(
    labels: Sequence[str], n_folds: int, *, groups: Sequence[str] | None = None, seed: int = 0
) -> list[np.ndarray]:
    """Test positions of each fold: every class spread evenly over the folds, groups never split.

    Like scikit-learn's ``StratifiedGroupKFold(shuffle=True)``: files of one group
    (byte-identical copies share their SHA-256) all land in one fold, so a query
    is never among its own references nor are its copies. Within each class the
    groups are shuffled (``seed``) and dealt to the fold that holds the fewest
    of that class so far.

    Raises
    ------
    ParameterError
        ``n_folds`` is below 2 or above the number of groups.
    """
    if isinstance(n_folds, bool) or not isinstance(n_folds, int) or n_folds < 2:
        raise ParameterError(f"cross-validation needs at least 2 folds, got {n_folds!r}")
    keys = list(groups) if groups is not None else [str(i) for i in range(len(labels))]
    members: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        members.setdefault(key, []).append(i)
    if len(members) < n_folds:
        raise ParameterError(f"{n_folds} folds need at least {n_folds} distinct images, got {len(members)}")
    by_class: dict[str, list[str]] = {}
    for key, items in members.items():  # a group goes with the label of its first member
        by_class.setdefault(labels[items[0]], []).append(key)
    rng = np.random.default_rng(seed)
    folds: list[list[int]] = [[] for _ in range(n_folds)]
    for label in sorted(by_class):
        keys_of = by_class[label]
        order = rng.permutation(len(keys_of))
        counts = [0] * n_folds
        for j in order:
            items = members[keys_of[int(j)]]
            target = min(range(n_folds), key=lambda f: (counts[f], len(folds[f])))
            counts[target] += len(items)
            folds[target] += items
    return [np.array(sorted(f), np.int64) for f in folds]

