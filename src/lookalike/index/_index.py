"""The persistent image index: a folder with a manifest, a SQLite catalogue and vector snapshots.

Layout of an index folder::

    manifest.json              format version, descriptors and their parameters, creator
    catalog.sqlite (+ -wal)    files and their descriptors (vectors and keypoints): the source of truth
    vectors/<name>.json        which snapshot file is current, and the catalogue generation it reflects
    vectors/<name>-<gen>-<token>.faiss (or .faissb / .npz)
                               a vector index of one descriptor (a cache, rebuilt from the catalogue)

Every file is written to a temporary name and renamed into place
(``manifest.json`` last when an index is created), so a process killed at any
point leaves either the old or the new version of each file, never a half of
one. A snapshot older than the catalogue is patched from the catalogue's change
log (or rebuilt from it) when it is opened.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from lookalike.errors import IndexFormatError, ParameterError
from lookalike.index._catalog import REBUILD_HINT, Catalog, FileRecord
from lookalike.index._descriptors import DEFAULT_DESCRIPTORS, UPGRADES, DescriptorSpec, descriptor_spec, parse_specs
from lookalike.index._vectors import (
    _BUILT_IN,
    VectorStore,
    _write_atomic,
    backend_info,
    backend_names,
    choose_backend,
    index_params,
    load_store,
    make_store,
    store_state,
    store_suffix,
)
from lookalike.io import UnusableFile, resolve_path

if TYPE_CHECKING:
    from lookalike.features import LocalFeatures
    from lookalike.index._words import Vocabulary
    from lookalike.parallel import Jobs
    from lookalike.pipelines import SearchHit

__all__ = ["FORMAT_VERSION", "FileError", "Index", "IndexInfo", "IndexReport"]

#: The on-disk format this lookalike writes and the newest it reads. 2: the dihedral hashes, the
#: visual words and their vocabulary tree (issue 12); a version-1 index is read as it is and
#: raised to 2 by the ``index update`` that adds them (an older lookalike then refuses it clearly).
FORMAT_VERSION = 2

MANIFEST = "manifest.json"
CATALOG = "catalog.sqlite"
VECTORS = "vectors"
#: The visual-word vocabulary, under VECTORS.
VOCABULARY_FILE = "words-vocabulary.npz"
#: The lock file a process changing the index holds (``flock``); it names that process.
WRITER_LOCK = "writer.lock"
_FORMAT_NAME = "lookalike-index"
_OWN_FILES = frozenset({MANIFEST, CATALOG, CATALOG + "-wal", CATALOG + "-shm", CATALOG + "-journal", VECTORS,
                        WRITER_LOCK})
#: Patching a snapshot beyond this many changes (or half its size) costs more than rebuilding it.
_PATCH_LIMIT = 0.5
#: A snapshot patched on open is written back once it is this many changes behind.
_SAVE_AFTER = 1000
_STALE_TMP_SECONDS = 600

Progress = Callable[[str, int, int], None]


class FileError(UnusableFile):
    """:class:`lookalike.io.UnusableFile` of indexing (a file that could not be indexed, and why), made as
    ``FileError(path, reason)``: the name of the type before there was one; ``stage`` is ``"index"``."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason, stage="index")


@dataclass(frozen=True)
class IndexReport:
    """What :meth:`Index.update` or :meth:`Index.add` did.

    Attributes
    ----------
    added : int
        Files indexed for the first time.
    changed : int
        Files indexed again because their size or modification time changed
        (or because they had failed before and now worked).
    removed : int
        Files dropped because they no longer exist (:meth:`Index.update` only).
    unchanged : int
        Files skipped: same path, size and modification time as indexed.
    processed : int
        Files read and described in this run (successes and failures).
    errors : tuple of FileError
        Files that could not be indexed in this run (recorded in the catalogue
        with status ``'error'``, except paths that do not exist).
    upgraded : int
        Files indexed before that got the descriptors this version adds
        (:data:`~lookalike.index.UPGRADES`, :meth:`Index.update` only).
    upgrade_left : int
        Files that could not get them (moved, changed or unreadable since they were indexed):
        they get them when their folder is updated.
    """

    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    processed: int = 0
    errors: tuple[FileError, ...] = ()
    upgraded: int = 0
    upgrade_left: int = 0


@dataclass(frozen=True)
class IndexInfo:
    """A summary of an index, as ``lookalike index info`` prints it.

    Attributes
    ----------
    path : str
    format_version : int
    created_by : str
        The lookalike version that created the index.
    created_at : str
        ISO 8601 time of creation (UTC).
    descriptors : tuple of str
    files : int
        Files indexed (status ``'ok'``).
    errors : int
        Files recorded as unreadable.
    generation : int
        The catalogue's generation (its number of vector changes so far).
    size_bytes : int
        Everything in the index folder.
    stores : dict
        Per descriptor: ``backend``, ``count``, ``generation`` of the saved
        snapshot (``None`` when there is none yet) and ``stale`` (the snapshot
        is older than the catalogue: patched in memory on first search).
        Keypoints (``rootsift``) live in the catalogue only: backend
        ``"catalogue"``, ``count`` the files that have them, ``bytes`` their
        total size.
    """

    path: str
    format_version: int
    created_by: str
    created_at: str
    descriptors: tuple[str, ...]
    files: int
    errors: int
    generation: int
    size_bytes: int
    stores: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every field (what ``lookalike index info --json`` prints)."""
        return {
            "path": self.path, "format_version": self.format_version, "created_by": self.created_by,
            "created_at": self.created_at, "descriptors": list(self.descriptors), "files": self.files,
            "errors": self.errors, "generation": self.generation, "size_bytes": self.size_bytes,
            "stores": self.stores,
        }


# -- manifest --------------------------------------------------------------------------------------

def _read_manifest(path: str) -> dict[str, Any]:
    if not os.path.exists(path):
        raise IndexFormatError(
            f"no index at {path!r}: the folder does not exist; build one with `lookalike index build DIR --index "
            f"{path}` or lookalike.index.Index.create"
        )
    if not os.path.isdir(path):
        raise IndexFormatError(f"no index at {path!r}: it is a file, an index is a folder")
    manifest_path = os.path.join(path, MANIFEST)
    try:
        with open(manifest_path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise IndexFormatError(
            f"{path!r} is not a lookalike index (it has no {MANIFEST}); build one with `lookalike index build`"
        ) from None
    except (OSError, ValueError) as exc:
        raise IndexFormatError(f"the manifest of the index at {path!r} is damaged ({exc}); {REBUILD_HINT}") from None
    if not isinstance(data, dict) or data.get("format") != _FORMAT_NAME:
        raise IndexFormatError(f"{manifest_path!r} is not a lookalike index manifest")
    version = data.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise IndexFormatError(f"the manifest of the index at {path!r} has no valid format_version: {version!r}")
    if version > FORMAT_VERSION:
        raise IndexFormatError(
            f"index at {path} was written by format version {version}; this lookalike reads up to "
            f"{FORMAT_VERSION}: upgrade lookalike"
        )
    if not isinstance(data.get("descriptors"), list) or not data["descriptors"]:
        raise IndexFormatError(
            f"the manifest of the index at {path!r} lists no descriptors; it is damaged: {REBUILD_HINT}")
    return data


def _write_json(path: str, data: dict[str, Any]) -> None:
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)

    _write_atomic(path, write)


def _folder_size(path: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


# -- the index -------------------------------------------------------------------------------------

def _take_writer_lock(folder: str) -> int | None:
    """An open descriptor of ``folder/writer.lock`` holding an exclusive ``flock`` (None where there is no flock)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: SQLite's own lock still keeps the catalogue consistent
        return None
    from lookalike.errors import IndexBusyError, IndexReadOnlyError

    path = os.path.join(folder, WRITER_LOCK)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as exc:
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise IndexReadOnlyError(f"the index at {folder!r} is read-only ({exc.strerror}): it can be searched "
                                     "but not changed") from None
        raise
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
        finally:
            os.close(fd)
        raise IndexBusyError(
            f"another process is changing the index at {folder!r}{f' ({holder})' if holder else ''}; "
            "one writer at a time: run this again when it has finished (searching the index works meanwhile)"
        ) from None
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"process {os.getpid()}, since {started}\n".encode(), 0)
    return fd


class Index:
    """A persistent, updatable index of image files: their descriptors in SQLite, searchable vector snapshots.

    Create one with :meth:`create`, open one with :meth:`open`; both return an
    object usable as a context manager. Files are added with :meth:`update`
    (a whole folder, kept in sync) or :meth:`add`, dropped with :meth:`remove`,
    and searched in bulk with :meth:`search_vectors`, FAISS-style.

    Ids are the catalogue's file ids: an id names one version of one file (a
    file whose content changes is indexed again under a new id); :meth:`paths`
    and :meth:`records` turn ids back into files.

    :meth:`search` answers a query with calibrated similarities
    (:func:`lookalike.search`); :meth:`local_features` gives the stored
    RootSIFT keypoints that verification uses.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from PIL import Image
    >>> folder = tempfile.mkdtemp()
    >>> for i in range(3):
    ...     Image.fromarray(np.random.default_rng(i).integers(0, 256, (64, 64), np.uint8)).save(f"{folder}/{i}.png")
    >>> with Index.create(tempfile.mkdtemp() + "/idx", descriptors=["phash"]) as index:
    ...     report = index.update(folder, jobs=1)
    ...     query = index.vectors("phash", index.ids_of([f"{folder}/1.png"]))[1]
    ...     distances, ids = index.search_vectors(query, 1)
    ...     (report.added, len(index), int(distances[0, 0]), index.paths(ids[0])[0].endswith("1.png"))
    (3, 3, 0, True)
    """

    def __init__(self, path: str, manifest: dict[str, Any], catalog: Catalog) -> None:
        self.path = path
        self._manifest = manifest
        self._catalog: Catalog | None = catalog
        self.descriptors: tuple[DescriptorSpec, ...] = tuple(
            DescriptorSpec.from_json(d) for d in manifest["descriptors"]
        )
        self.backend = str(manifest.get("vector_backend", "auto"))
        self._backend_params: dict[str, Any] = dict(manifest.get("backend_params", {}))
        self._stores: dict[str, tuple[VectorStore, int]] = {}
        self._saved: dict[str, int] = {}
        # the in-memory stores are patched in place: one thread at a time uses or refreshes them
        self._stores_lock = threading.RLock()
        self._writer_depth = 0
        self._writer_fd: int | None = None
        self._writer_guard = threading.Lock()

    # -- opening -----------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        *,
        descriptors: Iterable[str] = DEFAULT_DESCRIPTORS,
        backend: str = "auto",
        backend_params: dict[str, Any] | None = None,
    ) -> Index:
        """Create an empty index in a new (or empty) folder.

        Parameters
        ----------
        path : str or path-like
            The index folder; created (with its parents) if needed. It must be
            empty or not exist.
        descriptors : iterable of str, keyword-only
            What to compute for each file: any of :data:`lookalike.index.DESCRIPTORS`.
            The default ``("phash", "dihedral", "embedding", "rootsift", "words")``:
            phash, embedding and rootsift are what the default search uses; the
            embedding needs the ``index`` extra (onnxruntime and the EfficientNet-Lite0
            weights). ``rootsift`` stores the keypoints that verify search candidates
            (about 24 + 144 bytes per keypoint, at most 1000 keypoints: up to 141 KB per
            image); without it, search extracts them from the candidate files at query
            time, several times slower. ``dihedral`` (64 bytes) and ``words`` (2 bytes a
            keypoint, from the stored keypoints) let :func:`lookalike.find_duplicates` pair
            rotated, mirrored and cropped copies (benchmarks/README.md, issue 12).
        backend : str, keyword-only
            Vector index for embeddings: ``"auto"`` (exact up to
            :data:`~lookalike.index.EXACT_MAX` vectors, HNSW up to
            :data:`~lookalike.index.HNSW_MAX`, IVF with fast-scan codes re-ranked on 8-bit ones
            beyond), ``"flat"``,
            ``"hnsw"``, ``"ivf"``, ``"numpy"``, ``"milvus"`` (parameters from
            :func:`~lookalike.index.vectors_backend`) or any registered backend. Hashes are always
            searched exactly.
        backend_params : dict, optional, keyword-only
            Parameters of the backend (``ef_search``, ``m`` for HNSW; ``nprobe``, ``nlist``, ``storage``,
            ``rerank`` for IVF: see :class:`~lookalike.index.IVFStore`).

        Raises
        ------
        ParameterError
            An index already exists there, the folder holds other files, the
            folder cannot be created (a read-only place, a missing drive), or an
            argument is invalid.
        """
        specs = parse_specs(descriptors)
        floats = [name for name in backend_names() if not backend_info(name).binary]
        if backend != "auto" and (backend not in floats or backend_info(backend).binary):
            raise ParameterError(f"backend must be one of auto, {', '.join(floats)}; got {backend!r}")
        text = os.path.abspath(os.fspath(path))
        if os.path.exists(text):
            if not os.path.isdir(text):
                raise ParameterError(f"cannot create an index at {text!r}: it is a file; give a folder")
            if os.path.exists(os.path.join(text, MANIFEST)):
                raise ParameterError(
                    f"an index already exists at {text!r}; open it with Index.open (or `lookalike index update`)"
                )
            others = set(os.listdir(text)) - _OWN_FILES
            if others:
                raise ParameterError(
                    f"cannot create an index in {text!r}: the folder holds other files ({sorted(others)[0]!r}, ...); "
                    "give a new or empty folder"
                )
        try:
            os.makedirs(os.path.join(text, VECTORS), exist_ok=True)
        except (OSError, ValueError) as exc:  # ValueError: "embedded null byte"
            reason = (exc.strerror or str(exc)) if isinstance(exc, OSError) else (
                "the path contains a NUL character (\\0), which no folder name can hold")
            raise ParameterError(
                f"cannot create the index folder {text!r}: {reason}; give a place where you can create folders"
            ) from None
        catalog = Catalog(os.path.join(text, CATALOG), create=True)
        from lookalike._version import __version__

        manifest = {
            "format": _FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "created_by": f"lookalike {__version__}",
            "created_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "descriptors": [spec.to_json() for spec in specs],
            "vector_backend": backend,
            "backend_params": dict(backend_params or {}),
            # the upgrades this version knows were decided at creation: update never adds them later
            "upgrades": sorted({name for names in UPGRADES.values() for name in names}),
        }
        _write_json(os.path.join(text, MANIFEST), manifest)  # last: its presence marks a complete index
        return cls(text, manifest, catalog)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Index:
        """Open an existing index.

        Raises
        ------
        IndexFormatError
            The folder is missing, is not an index, is damaged, or was written
            by a newer format version than this lookalike reads.
        """
        text = os.path.abspath(os.fspath(path))
        manifest = _read_manifest(text)
        catalog = Catalog(os.path.join(text, CATALOG))
        return cls(text, manifest, catalog)

    @staticmethod
    def discard(path: str | os.PathLike[str]) -> None:
        """Delete the index at ``path`` (a damaged one too) so a new one can be created there.

        Only what an index writes is deleted (its manifest first, so a half-deleted
        folder is never taken for an index; then the catalogue and the vector
        snapshots); other files in the folder, and the folder, stay. The writer lock
        is held meanwhile (its file stays), so an index another process is changing
        is never deleted under it.

        Raises
        ------
        IndexReadOnlyError
            The folder is read-only.
        IndexBusyError
            Another process is changing the index.
        """
        import shutil

        from lookalike.errors import IndexReadOnlyError

        text = os.path.abspath(os.fspath(path))
        if not os.path.isdir(text):
            return
        lock = _take_writer_lock(text) if os.path.exists(os.path.join(text, WRITER_LOCK)) else None
        try:
            for name in (MANIFEST, *sorted(_OWN_FILES - {MANIFEST, WRITER_LOCK})):
                target = os.path.join(text, name)
                if os.path.isdir(target) and not os.path.islink(target):
                    shutil.rmtree(target)
                elif os.path.lexists(target):
                    os.unlink(target)
        except PermissionError as exc:
            raise IndexReadOnlyError(f"cannot replace the index at {text!r}: {exc.strerror}") from None
        except OSError as exc:
            if exc.errno == errno.EROFS:
                raise IndexReadOnlyError(f"cannot replace the index at {text!r}: {exc.strerror}") from None
            raise
        finally:
            if lock is not None:
                os.close(lock)

    def close(self) -> None:
        """Close the catalogue (snapshots were saved by the operations that changed them)."""
        if self._catalog is not None:
            self._catalog.close()
            self._catalog = None
        self._stores.clear()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        names = ", ".join(spec.name for spec in self.descriptors)
        return f"Index({self.path!r}, descriptors=[{names}], files={len(self) if self._catalog else 'closed'})"

    @property
    def catalog(self) -> Catalog:
        """The SQLite catalogue (for the indexing pipeline and advanced use)."""
        if self._catalog is None:
            raise ParameterError(f"the index at {self.path!r} is closed; open it again with Index.open")
        return self._catalog

    @property
    def format_version(self) -> int:
        return int(self._manifest["format_version"])

    @property
    def created_by(self) -> str:
        return str(self._manifest.get("created_by", ""))

    def descriptor(self, name: str | None = None) -> DescriptorSpec:
        """The spec of descriptor ``name`` (default: the first embedding, else the first vector descriptor)."""
        if name is None:
            embeddings = [s for s in self.descriptors if s.kind == "embedding"]
            return embeddings[0] if embeddings else self._vector_specs()[0]
        for spec in self.descriptors:
            if spec.name == name:
                return spec
        held = ", ".join(s.name for s in self.descriptors)
        raise ParameterError(f"the index at {self.path!r} holds no {name!r} descriptor; it holds: {held}")

    def _vector_specs(self) -> tuple[DescriptorSpec, ...]:
        """The descriptors with a vector store (all but keypoints)."""
        return tuple(spec for spec in self.descriptors if spec.is_vector)

    def _vector_spec(self, name: str | None) -> DescriptorSpec:
        spec = self.descriptor(name)
        if not spec.is_vector:
            how = {"keypoints": "holds keypoints, not vectors: read them with Index.local_features",
                   "words": "holds visual words, not vectors: read them with Index.words",
                   "dihedral": "is kept in the catalogue only, with no vector store: read it with Index.vectors"}
            raise ParameterError(
                f"{spec.name!r} {how.get(spec.kind, 'has no vector store')}; "
                f"vector descriptors of this index: {', '.join(s.name for s in self._vector_specs())}"
            )
        return spec

    def __len__(self) -> int:
        return self.catalog.counts()[0]

    # -- changing ----------------------------------------------------------------------------------

    def pending_upgrades(self) -> list[str]:
        """The descriptors of :data:`~lookalike.index.UPGRADES` that :meth:`update` will add: those beside
        a descriptor this index holds, on an index written before they existed (its manifest does not list
        them under ``"upgrades"``; an index created by this version lists them all, so one created without
        them on purpose keeps its descriptors)."""
        held = {spec.name for spec in self.descriptors}
        decided = set(self._manifest.get("upgrades", ()))
        return [name for key, names in UPGRADES.items() if key in held for name in names
                if name not in held and name not in decided]

    def add_descriptors(self, names: Iterable[str]) -> tuple[DescriptorSpec, ...]:
        """Record new descriptors in the manifest (the ones not held yet); the specs added.

        Nothing is computed here: rows indexed before hold none of them until
        :func:`lookalike.index.update_index` (``lookalike index update``) computes them, which is
        what it does for the descriptors of :data:`~lookalike.index.UPGRADES`.
        """
        held = {spec.name for spec in self.descriptors}
        fresh = [name for name in dict.fromkeys(names) if name not in held]
        if not fresh:
            return ()
        if not self._writable():
            raise ParameterError(f"cannot add descriptors to the index at {self.path!r}: it is read-only")
        # a new global descriptor is computed from the decode the others were (the largest draft they need)
        common = max((spec.draft for spec in self.descriptors if spec.is_global), default=None)
        added = tuple(replace(spec, draft=max(common, spec.draft)) if spec.is_global and common else spec
                      for spec in map(descriptor_spec, fresh))
        manifest = dict(self._manifest, format_version=max(FORMAT_VERSION, int(self._manifest["format_version"])))
        manifest["descriptors"] = [*manifest["descriptors"], *(spec.to_json() for spec in added)]
        manifest["upgrades"] = sorted({*manifest.get("upgrades", ()), *(spec.name for spec in added)})
        _write_json(os.path.join(self.path, MANIFEST), manifest)
        self._manifest = manifest
        self.descriptors = (*self.descriptors, *added)
        return added

    def update(
        self,
        folder: str | os.PathLike[str],
        *,
        recursive: bool = True,
        jobs: Jobs = None,
        progress: Progress | None = None,
    ) -> IndexReport:
        """Bring the index in line with a folder: add new files, re-index changed ones, drop deleted ones.

        A file is unchanged, and skipped, when its path, size and modification
        time (nanoseconds) match the catalogue and it was indexed without error.
        Work is committed in batches: if the run is interrupted, the next one
        starts where it stopped. See :func:`lookalike.index._ingest.update_index`.

        Parameters
        ----------
        folder : str or path-like
        recursive : bool, keyword-only
            Also index sub-folders (default).
        jobs : int, None or concurrent.futures.Executor, keyword-only
            Worker processes (default: every available CPU), or an executor (:mod:`lookalike.parallel`).
        progress : callable, optional, keyword-only
            Called as ``progress("indexing", done, total)``.

        Raises
        ------
        ParameterError
            ``folder`` is not a folder, or holds no image and nothing of it is indexed.
        """
        from lookalike.index._ingest import update_index

        with self.writing():
            return update_index(self, folder, recursive=recursive, jobs=jobs, progress=progress)

    def add(
        self, paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str], *, jobs: Jobs = None,
        progress: Progress | None = None,
    ) -> IndexReport:
        """Index files (a folder stands for every image under it); unchanged files are skipped."""
        from lookalike.index._ingest import add_to_index

        with self.writing():
            return add_to_index(self, paths, jobs=jobs, progress=progress)

    def remove(self, paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str]) -> int:
        """Drop files from the index (a folder drops everything indexed under it); returns how many went.

        Nothing on disk is touched. Paths not in the index are ignored.
        """
        if isinstance(paths, str | os.PathLike):
            paths = [paths]
        files: list[str] = []
        folders: list[str] = []
        for path in paths:
            key = resolve_path(path)
            (folders if os.path.isdir(key) else files).append(key)
        with self.writing():
            count = self.catalog.remove(files, under=folders)
            if count:
                self.refresh()
        return count

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the index's writer lock: one process changes an index at a time (readers are never blocked).

        :meth:`update`, :meth:`add` and :meth:`remove` take it; nested uses in this
        process join the outer one. A read-only index takes no lock (its writes fail
        with :class:`~lookalike.errors.IndexReadOnlyError`).

        Raises
        ------
        IndexBusyError
            Another process holds the lock: it is updating the index now.
        """
        if self.catalog.readonly:
            yield
            return
        with self._writer_guard:
            if self._writer_depth == 0:
                self._writer_fd = _take_writer_lock(self.path)
            self._writer_depth += 1
        try:
            yield
        finally:
            with self._writer_guard:
                self._writer_depth -= 1
                if self._writer_depth == 0 and self._writer_fd is not None:
                    os.close(self._writer_fd)  # closing the descriptor releases the flock
                    self._writer_fd = None

    def held(self, paths: Iterable[str | os.PathLike[str]]) -> list[int]:
        """How many catalogue rows each path stands for: a file 1 or 0, a folder every file indexed under it.

        What :meth:`remove` would drop for each path (unreadable files recorded in the
        catalogue count too), so a caller can say which paths were not in the index.
        """
        counts: list[int] = []
        for path in paths:
            key = resolve_path(path)
            known = self.catalog.known(under=key) if os.path.isdir(key) else self.catalog.known([key])
            counts.append(len(known))
        return counts

    def refresh(self, *, save: bool = True) -> None:
        """Bring every vector snapshot up to date with the catalogue and (by default) save it."""
        for spec in self._vector_specs():
            self._store(spec.name)
            if save:
                self._save(spec.name)
        if save:
            self._compact_log()

    # -- reading -----------------------------------------------------------------------------------

    def search_vectors(
        self, queries: Any, k: int = 10, *, descriptor: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Nearest indexed files of each query vector, FAISS-style.

        Parameters
        ----------
        queries : array
            (n, d) float vectors for an embedding (unit length, as
            :class:`lookalike.features.Embedder` gives them), or (n, 8) packed
            uint8 hashes for a 64-bit hash. One vector of shape (d,) also works.
        k : int
            Results per query.
        descriptor : str, optional, keyword-only
            Which descriptor to search (default: the embedding if the index has
            one, else its first descriptor).

        Returns
        -------
        distances, ids : ndarray
            Shape (n_queries, k), best first; id -1 where fewer than k files
            exist. For an embedding the distances are inner products (cosine;
            higher is more similar, ``-inf`` when missing); for a hash, Hamming
            distances in bits (lower is more similar, ``2**31 - 1`` when missing).
        """
        spec = self._vector_spec(descriptor)
        with self._stores_lock:
            return self._store(spec.name).search(queries, k)

    def search(
        self, query: Any, *, k: int = 10, min_similarity: float | None = None, kind: str = "copy", verify: bool = True
    ) -> list[SearchHit]:
        """Deprecated: use ``lookalike.search(query, index, top=k)``, the search entry point.

        Kept for one release as a thin shim (it warns): the index layer does not
        depend on the search pipeline above it (``tests/test_layers.py``).

        Parameters
        ----------
        query : path, bytes, file object, PIL image or ndarray
            The image (anything :func:`lookalike.io.load_image` reads).
        k : int, keyword-only
            Most results returned.
        min_similarity : float, optional, keyword-only
            Leave out results below this similarity (0.7 for "up to 70% similar").
        kind : {"copy", "semantic"}, keyword-only
            The same picture edited (default), or the same kind of thing; see
            :func:`lookalike.search` for what each similarity means.
        verify : bool, keyword-only
            ``copy`` only: verify the short list with keypoints (default).

        Returns
        -------
        list of lookalike.pipelines.SearchHit
            ``(path, similarity)`` pairs, similarity in [0, 1], highest first.

        Raises
        ------
        ImageReadError
            The query cannot be read.
        ParameterError
            An argument is invalid.

        Examples
        --------
        >>> index = Index.open("photos/.lookalike-index")  # doctest: +SKIP
        >>> [(hit.path, round(hit.similarity, 2)) for hit in index.search("query.jpg", k=3)]  # doctest: +SKIP
        [('/photos/beach.jpg', 1.0), ('/photos/beach-crop.jpg', 0.97), ('/photos/dune.jpg', 0.04)]
        """
        import warnings

        from lookalike.pipelines import search

        warnings.warn("Index.search(query, k=...) is deprecated; use lookalike.search(query, index, top=k)",
                      DeprecationWarning, stacklevel=2)
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ParameterError(f"k must be a positive integer, got {k!r}")
        [result] = search([query], self, top=int(k), min_similarity=0.0 if min_similarity is None else min_similarity,
                          kind=kind, verify=verify)
        return list(result.results)

    def local_features(self, ids: Sequence[int] | np.ndarray) -> dict[int, LocalFeatures]:
        """The stored RootSIFT keypoints of indexed files, by id.

        Stored when the index holds the ``"rootsift"`` descriptor (the default):
        exactly what :func:`lookalike.features.extract_local` gives on the
        verification decode of the file (``method="rootsift"``, longest side
        :data:`~lookalike.index.VERIFY_SIZE`, at most
        :data:`~lookalike.index.VERIFY_KEYPOINTS` keypoints), as it was when
        indexed, ready for :func:`lookalike.matching.compare_features`. One
        catalogue read for all ids, no image decoded: about 0.3 ms per file.

        Parameters
        ----------
        ids : sequence of int or ndarray
            File ids (as :meth:`search_vectors` and :meth:`ids_of` give them); -1 is ignored.

        Returns
        -------
        dict of int to LocalFeatures
            In the order of ``ids``. Ids without stored features are absent (an
            index built without ``"rootsift"``, an id not or no longer in the
            index): the caller extracts those itself.

        Examples
        --------
        >>> import tempfile, numpy as np
        >>> from PIL import Image
        >>> folder = tempfile.mkdtemp()
        >>> Image.fromarray(np.random.default_rng(0).integers(0, 256, (96, 128), np.uint8)).save(folder + "/a.png")
        >>> with Index.create(tempfile.mkdtemp() + "/idx", descriptors=["phash", "rootsift"]) as index:
        ...     _ = index.update(folder, jobs=1)
        ...     features = index.local_features([*index.ids_of([folder + "/a.png"]), 99])
        >>> [(f.method, f.image_size) for f in features.values()]
        [('rootsift', (128, 96))]
        """
        id_list = [int(i) for i in np.asarray(ids, dtype=np.int64).ravel() if int(i) >= 0]
        spec = next((s for s in self.descriptors if s.kind == "keypoints"), None)
        if spec is None or not id_list:
            return {}
        found, blobs = self.catalog.vectors(spec.name, id_list)
        by_id = dict(zip((int(i) for i in found), blobs, strict=True))
        return {i: spec.features_from_bytes(by_id[i]) for i in dict.fromkeys(id_list) if i in by_id}

    def words(self, ids: Sequence[int] | np.ndarray | None = None) -> tuple[np.ndarray, list[np.ndarray], int]:
        """The stored visual words (descriptor ``"words"``): ``(ids, words, n_words)``.

        ``words[i]`` holds one ``uint16`` word a keypoint of file ``ids[i]`` (those that have
        them, by id, or in the order of ``ids``); ``n_words`` is the size of the index's
        vocabulary (0 and nothing found when the index holds no words). See
        :mod:`lookalike.index._words`.
        """
        spec = next((s for s in self.descriptors if s.kind == "words"), None)
        vocabulary = self.vocabulary()
        if spec is None or vocabulary is None:
            return np.zeros(0, np.int64), [], 0
        id_list = None if ids is None else [int(i) for i in np.asarray(ids).ravel() if int(i) >= 0]
        found, blobs = self.catalog.vectors(spec.name, id_list)
        words = [np.frombuffer(blob, dtype="<u2").astype(np.uint16) for blob in blobs]
        if id_list is not None:
            order = {int(i): j for j, i in enumerate(found)}
            keep = [order[i] for i in id_list if i in order]
            found, words = found[keep], [words[j] for j in keep]
        return found, words, len(vocabulary)

    def vocabulary(self) -> Vocabulary | None:
        """The visual-word vocabulary the index fitted on its own descriptors, or None (see
        :class:`lookalike.index.Vocabulary`: a tree, or the flat one of an index fitted before the tree)."""
        from lookalike.index._words import Vocabulary

        path = os.path.join(self.path, VECTORS, VOCABULARY_FILE)
        if not os.path.exists(path):
            return None
        try:
            with np.load(path) as data:
                centroids = np.asarray(data["centroids"], dtype=np.float32)
                if "top" not in data.files:
                    return Vocabulary(centroids)
                return Vocabulary(centroids, np.asarray(data["top"], dtype=np.float32),
                                  np.asarray(data["offsets"], dtype=np.int64))
        except (OSError, ValueError, KeyError) as exc:
            raise IndexFormatError(f"the visual-word vocabulary of the index at {self.path!r} is damaged ({exc}); "
                                   "delete it and run `lookalike index update` to fit it again") from None

    def _vocabulary_fitted_on(self) -> int:
        """How many descriptors the vocabulary was fitted from (0 without one)."""
        path = os.path.join(self.path, VECTORS, VOCABULARY_FILE)
        if not os.path.exists(path):
            return 0
        with np.load(path) as data:
            return int(data["fitted_on"])

    def _save_vocabulary(self, vocabulary: Vocabulary, fitted_on: int) -> None:
        def write(tmp: str) -> None:
            centroids, fitted = vocabulary.centroids.astype(np.float32), np.int64(fitted_on)
            with open(tmp, "wb") as handle:
                if vocabulary.top is None or vocabulary.offsets is None:
                    np.savez(handle, centroids=centroids, fitted_on=fitted)
                else:
                    np.savez(handle, centroids=centroids, fitted_on=fitted, top=vocabulary.top.astype(np.float32),
                             offsets=vocabulary.offsets.astype(np.int64))

        self._raise_format_version()  # an older lookalike would read the tree as a flat vocabulary
        _write_atomic(os.path.join(self.path, VECTORS, VOCABULARY_FILE), write)

    def _raise_format_version(self) -> None:
        """Mark the manifest with this version's format, before the index gets what only it can read (the
        descriptors of :data:`~lookalike.index.UPGRADES`, the vocabulary tree), so an older lookalike refuses
        it with "upgrade lookalike" instead of misreading it."""
        if int(self._manifest["format_version"]) >= FORMAT_VERSION:
            return
        manifest = dict(self._manifest, format_version=FORMAT_VERSION)
        _write_json(os.path.join(self.path, MANIFEST), manifest)
        self._manifest = manifest

    def ids_of(self, paths: Iterable[str | os.PathLike[str]]) -> np.ndarray:
        """The ids of indexed files, in the order given (-1 for a path that is not indexed)."""
        keys = [resolve_path(p) for p in paths]
        known = self.catalog.known(keys)
        return np.array([known[k][0] if k in known and known[k][3] == "ok" else -1 for k in keys], np.int64)

    def paths(self, ids: Sequence[int] | np.ndarray) -> list[str | None]:
        """The paths of ``ids`` (``None`` for -1 or an id no longer in the index)."""
        flat = [int(i) for i in np.asarray(ids).ravel()]
        found = {r.id: r.path for r in self.catalog.records([i for i in flat if i >= 0])}
        return [found.get(i) for i in flat]

    def records(self, ids: Sequence[int] | np.ndarray | None = None, *, status: str | None = None) -> list[FileRecord]:
        """Catalogue rows of ``ids`` (in that order; unknown ids left out), or of every file (``status`` filters)."""
        if ids is None:
            return self.catalog.records(status=status)
        return self.catalog.records([int(i) for i in np.asarray(ids).ravel()])

    def vectors(self, descriptor: str, ids: Sequence[int] | np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, vectors)`` of a descriptor straight from the catalogue: for ``ids`` (those indexed), or all.

        Any fixed-size descriptor: hashes, embeddings, and the dihedral hashes (kept in the
        catalogue only; (n, 64) bytes, the 8 packed hashes of a file one after the other).
        """
        spec = self.descriptor(descriptor) if descriptor == "dihedral" else self._vector_spec(descriptor)
        id_list = None if ids is None else [int(i) for i in np.asarray(ids).ravel() if int(i) >= 0]
        found, blobs = self.catalog.vectors(spec.name, id_list)
        array = spec.from_bytes(blobs)
        if id_list is not None:  # the order asked for
            order = {int(i): j for j, i in enumerate(found)}
            keep = [order[i] for i in id_list if i in order]
            found, array = found[keep], array[keep]
        return found, array

    def info(self) -> IndexInfo:
        """Counts, descriptors, format version, size on disk and the state of each vector snapshot."""
        ok, errors = self.catalog.counts()
        generation = self.catalog.generation()
        stores: dict[str, dict[str, Any]] = {}
        for spec in self.descriptors:
            if not spec.is_vector:
                count, size = self.catalog.descriptor_totals(spec.name)
                stores[spec.name] = {"backend": "catalogue", "count": count, "generation": generation,
                                     "stale": False, "bytes": size}
                continue
            meta = self._snapshot_meta(spec.name)
            if meta is None:
                stores[spec.name] = {"backend": None, "count": None, "generation": None, "stale": True}
            else:
                stores[spec.name] = {
                    "backend": meta.get("backend"), "count": meta.get("count"),
                    "generation": meta.get("generation"), "stale": int(meta.get("generation", -1)) < generation,
                }
        return IndexInfo(
            path=self.path, format_version=self.format_version, created_by=self.created_by,
            created_at=str(self._manifest.get("created_at", "")),
            descriptors=tuple(s.name for s in self.descriptors), files=ok, errors=errors, generation=generation,
            size_bytes=_folder_size(self.path), stores=stores,
        )

    # -- snapshots ---------------------------------------------------------------------------------

    def _snapshot_meta(self, name: str) -> dict[str, Any] | None:
        try:
            with open(os.path.join(self.path, VECTORS, f"{name}.json"), encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None  # damaged: rebuilt from the catalogue
        return data if isinstance(data, dict) else None

    def _load_snapshot(self, spec: DescriptorSpec) -> tuple[VectorStore, int] | None:
        """The saved store and its generation, or None (absent, damaged, or of another shape)."""
        for _attempt in range(3):  # a writer may replace the file between reading the json and the file
            meta = self._snapshot_meta(spec.name)
            if meta is None:
                return None
            try:
                store = load_store(str(meta["backend"]), os.path.join(self.path, VECTORS, str(meta["file"])),
                                   **dict(meta.get("params", {})))
                generation = int(meta["generation"])
            except (IndexFormatError, KeyError, TypeError, ValueError):
                continue
            if store.dim != spec.dim or store.metric != spec.metric:
                return None
            self._saved[spec.name] = generation
            return store, generation
        return None

    def _desired_backend(self, spec: DescriptorSpec, n: int) -> str:
        if spec.metric == "hamming":
            return choose_backend(n, metric="hamming")
        if self.backend != "auto":
            return self.backend
        return choose_backend(n, metric=spec.metric)

    def _fits(self, store: VectorStore, spec: DescriptorSpec, n: int) -> bool:
        if spec.metric == "hamming" or self.backend != "auto":
            return store.backend == self._desired_backend(spec, n)
        # some slack around the thresholds, so an index near one does not flip back and forth
        return store.backend in {choose_backend(int(n * 1.25), metric=spec.metric),
                                 choose_backend(int(n * 0.8), metric=spec.metric)}

    def _new_store(self, spec: DescriptorSpec, n: int) -> VectorStore:
        backend = self._desired_backend(spec, n)
        # a registered backend that is not built in (Milvus: uri, collection) takes every parameter
        allowed = {"hnsw": ("m", "ef_construction", "ef_search"),
                   "ivf": ("nlist", "nprobe", "storage", "rerank")}.get(backend, () if backend in _BUILT_IN else None)
        params = {} if spec.metric == "hamming" else {
            k: v for k, v in self._backend_params.items() if allowed is None or k in allowed
        }
        if spec.metric != "hamming":
            params = {**index_params(backend), **params}
        return make_store(backend, spec.dim, metric=spec.metric, **params)

    def _store(self, name: str) -> VectorStore:
        """The store of descriptor ``name``, up to date with the catalogue (patched or rebuilt as needed)."""
        with self._stores_lock:
            return self._current_store(name)

    def _current_store(self, name: str) -> VectorStore:
        spec = self.descriptor(name)
        catalog = self.catalog
        cached = self._stores.get(name)
        if cached is not None and cached[1] == catalog.generation():
            return cached[0]
        with catalog.reading():
            generation = catalog.generation()
            if cached is None:
                cached = self._load_snapshot(spec)
            store: VectorStore | None = None
            if cached is not None and cached[1] >= catalog.changes_floor():
                store, base = cached
                removed, added = catalog.changes_since(base)
                expected = len(store) - removed.size + added.size
                if removed.size + added.size > max(_SAVE_AFTER, _PATCH_LIMIT * len(store)) or not self._fits(
                    store, spec, expected
                ):
                    store = None
                elif removed.size or added.size:
                    store.remove(removed)
                    ids, blobs = catalog.vectors(name, added.tolist())
                    store.add(ids, spec.from_bytes(blobs))
            if store is None:
                ids, blobs = catalog.vectors(name)
                store = self._new_store(spec, len(ids))
                store.add(ids, spec.from_bytes(blobs))
                self._saved.pop(name, None)
        self._stores[name] = (store, generation)
        if generation - self._saved.get(name, -(10**12)) >= _SAVE_AFTER and self._writable():
            self._save(name)
        return store

    def _writable(self) -> bool:
        return not self.catalog.readonly and os.access(self.path, os.W_OK)

    def _save(self, name: str) -> None:
        """Write the in-memory store of ``name`` as the current snapshot (if it is newer than the saved one)."""
        cached = self._stores.get(name)
        if cached is None or not self._writable():
            return
        store, generation = cached
        saved = self._snapshot_meta(name)
        current = saved is not None and saved.get("backend") == store.backend
        if current and saved is not None and int(saved.get("generation", -1)) == generation:
            self._saved[name] = generation
            return
        folder = os.path.join(self.path, VECTORS)
        os.makedirs(folder, exist_ok=True)
        suffix = store_suffix(store.backend)
        if suffix is None:  # persistence is optional: this store is rebuilt from the catalogue when opened
            self._saved[name] = generation
            return
        if store.backend == "ivf" and len(store) == 0:
            store = self._new_store(self.descriptor(name), 0)  # an untrained IVF cannot be saved: save it flat
            self._stores[name] = (store, generation)
        filename = f"{name}-{generation}-{secrets.token_hex(4)}{store_suffix(store.backend) or suffix}"
        store.save(os.path.join(folder, filename))  # type: ignore[attr-defined]
        spec = self.descriptor(name)
        _write_json(os.path.join(folder, f"{name}.json"), {
            "descriptor": name, "backend": store.backend, "file": filename, "generation": generation,
            "count": len(store), "dim": spec.dim, "metric": spec.metric, "params": store_state(store),
            "format_version": FORMAT_VERSION,
        })
        self._saved[name] = generation
        self._clean_vectors(name, keep=filename)

    def _clean_vectors(self, name: str, *, keep: str) -> None:
        """Delete old snapshot files of ``name`` (never the one the current json names: another process
        may have replaced the json since we wrote ours) and temporary files left by killed writers."""
        folder = os.path.join(self.path, VECTORS)
        current = self._snapshot_meta(name)
        keep_files = {keep, str(current.get("file")) if current else keep}
        now = time.time()
        for entry in os.scandir(folder):
            stale_data = (entry.name.startswith(f"{name}-") and entry.name not in keep_files
                          and not entry.name.endswith(".json"))
            stale_tmp = entry.name.startswith(".tmp-")
            try:
                if stale_data or (stale_tmp and now - entry.stat().st_mtime > _STALE_TMP_SECONDS):
                    os.unlink(entry.path)
            except OSError:
                pass

    def _compact_log(self) -> None:
        if not self._writable():
            return
        generations = []
        for spec in self._vector_specs():
            meta = self._snapshot_meta(spec.name)
            if meta is None:
                return
            generations.append(int(meta.get("generation", 0)))
        if generations:
            self.catalog.compact_changes(min(generations))

