"""The SQLite catalogue of an index: every file seen, its state, and its descriptors. The source of truth.

Tables
------
``files``
    One row per file: ``id`` (never reused), ``path`` (absolute, symbolic links
    resolved, unique), ``size``, ``mtime_ns``, ``content_hash`` (SHA-256 of the
    bytes, hex), ``width`` and ``height`` (after EXIF orientation), ``status``
    (``'ok'`` or ``'error'``), ``error`` (why it could not be indexed) and
    ``indexed_at`` (Unix time).
``descriptors``
    ``(file_id, name, vector)``: the vectors of ``'ok'`` files, as little-endian
    BLOBs (packed bits for a hash, float32 for an embedding; for keypoints,
    a variable-length BLOB of keypoints and SIFT descriptors, see
    :mod:`lookalike.index._descriptors`), committed with the file's row.
``changes``
    A log of ``(seq, file_id, op)`` with op ``'add'`` or ``'remove'``: what
    happened to the vectors since a snapshot was taken. ``seq`` is the
    catalogue's *generation*; a vector snapshot records the generation it
    reflects and is brought up to date from the log.

A file whose content changed gets a new id (the old one is removed): an id
always names one version of one file, so a snapshot can be patched by ids alone.

Writes happen in one transaction per batch of files (``BEGIN IMMEDIATE`` ...
``COMMIT``), in WAL mode: a process killed mid-batch loses only that batch,
and readers see the last committed state while a build runs.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lookalike.errors import IndexFormatError, IndexReadOnlyError

__all__ = ["REBUILD_HINT", "SCHEMA_VERSION", "Catalog", "FileRecord", "FileResult"]

#: ``PRAGMA user_version`` of the catalogue this code writes.
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    size INTEGER,
    mtime_ns INTEGER,
    content_hash TEXT,
    width INTEGER,
    height INTEGER,
    status TEXT NOT NULL CHECK (status IN ('ok', 'error')),
    error TEXT,
    indexed_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS files_content_hash ON files (content_hash);
CREATE TABLE IF NOT EXISTS descriptors (
    file_id INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (name, file_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS descriptors_file ON descriptors (file_id);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    file_id INTEGER NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('add', 'remove'))
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_RECORD_COLUMNS = "id, path, size, mtime_ns, content_hash, width, height, status, error, indexed_at"


@dataclass(frozen=True)
class FileRecord:
    """One row of the catalogue's ``files`` table (see the module docstring for the fields)."""

    id: int
    path: str
    size: int | None
    mtime_ns: int | None
    content_hash: str | None
    width: int | None
    height: int | None
    status: str
    error: str | None
    indexed_at: float


@dataclass
class FileResult:
    """What reading one file gave, ready to be committed: vectors, or the error."""

    path: str
    size: int | None = None
    mtime_ns: int | None = None
    content_hash: str | None = None
    width: int | None = None
    height: int | None = None
    vectors: dict[str, bytes] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _prefix_range(folder: str) -> tuple[str, str]:
    """``(low, high)`` such that every path inside ``folder`` sorts in ``[low, high)``."""
    low = folder.rstrip(os.sep) + os.sep
    return low, low[:-1] + chr(ord(os.sep) + 1)


class Catalog:
    """``catalog.sqlite``: every method is one statement or one transaction.

    Safe for one writer and many concurrent readers, in threads and in processes:
    the database is in WAL mode (readers see the last committed state and never
    wait for the writer), each thread has a connection of its own, and the
    writes of this process go through one lock (one writer; other processes
    wait on SQLite's own lock, up to a minute).
    """

    def __init__(self, path: str, *, create: bool = False) -> None:
        self.path = path
        if not create and not os.path.isfile(path):
            raise IndexFormatError(f"the index catalogue {path!r} is missing; {REBUILD_HINT}")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._closed = False
        #: How the file is opened: "rw", "ro" (read-only; sees what other processes commit) or "immutable"
        #: (a read-only medium without a write-ahead log, where SQLite cannot create its lock file).
        self.mode = "rw"
        modes = ["rw"] if create else (["rw", "ro", "immutable"] if _can_write(path) else ["ro", "immutable"])
        for mode in modes:
            self.mode = mode
            try:
                version, tables = self._probe(create)
                break
            except sqlite3.DatabaseError as exc:
                self.close()
                self._closed, self._local = False, threading.local()
                last_mode = mode == modes[-1] or (mode == "ro" and _has_log(path))  # immutable would miss the log
                if not _is_permission_error(exc):
                    raise IndexFormatError(f"the index catalogue {path!r} is damaged ({exc}); {REBUILD_HINT}") from None
                if last_mode:
                    raise IndexReadOnlyError(
                        f"the index catalogue {path!r} cannot be opened ({exc}): you may not read it, or it is on "
                        "a read-only medium without the write-ahead log files it needs; copy the index folder to "
                        "a place you can write to"
                    ) from None
        if version > SCHEMA_VERSION:
            raise IndexFormatError(
                f"the index catalogue {path!r} has schema version {version}; this lookalike reads up to "
                f"{SCHEMA_VERSION}: upgrade lookalike"
            )
        missing = {"files", "descriptors", "changes", "meta"} - tables
        if missing:
            raise IndexFormatError(
                f"the index catalogue {path!r} lacks the tables {sorted(missing)}; it is damaged or not a "
                f"lookalike index: {REBUILD_HINT}"
            )

    def _probe(self, create: bool) -> tuple[int, set[str]]:
        """Open this thread's connection (creating the schema when asked): the schema version and tables."""
        db = self._db
        if create:
            db.execute("PRAGMA journal_mode = WAL")
            db.executescript("BEGIN IMMEDIATE;" + _SCHEMA + f"PRAGMA user_version = {SCHEMA_VERSION};" + "COMMIT;")
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return version, tables

    @property
    def readonly(self) -> bool:
        """The catalogue was opened read-only (a read-only medium, or no write permission): it cannot change."""
        return self.mode != "rw"

    def read_only_error(self, reason: str = "") -> IndexReadOnlyError:
        """The error a write to this read-only catalogue raises."""
        folder = os.path.dirname(os.path.abspath(self.path))
        return IndexReadOnlyError(
            f"the index at {folder!r} is read-only{f' ({reason})' if reason else ''}: it can be searched but "
            "not changed; copy the index folder to a place you can write to, or make it writable"
        )

    @property
    def _db(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            if self._closed:
                raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
            if self.mode == "rw":
                db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None, check_same_thread=False)
            else:
                query = "mode=ro" if self.mode == "ro" else "immutable=1"
                uri = f"file:{urllib.parse.quote(os.path.abspath(self.path))}?{query}"
                db = sqlite3.connect(uri, uri=True, timeout=60.0, isolation_level=None, check_same_thread=False)
            try:
                db.execute("PRAGMA busy_timeout = 60000")
                db.execute("PRAGMA foreign_keys = ON")
                # Durable against a killed process (what the kill tests check); a power cut may
                # lose the last batches, never corrupt the file.
                db.execute("PRAGMA synchronous = NORMAL")
            except sqlite3.DatabaseError:
                db.close()
                raise
            with self._connections_lock:
                self._connections.append(db)
            self._local.db = db
        return db

    def close(self) -> None:
        """Close every thread's connection."""
        self._closed = True
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for db in connections:
            db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error); nested calls join the outer one.

        One writer at a time in this process (a lock); readers are not blocked (WAL).
        """
        db = self._db
        if db.in_transaction:
            yield db
            return
        if self.readonly:
            raise self.read_only_error()
        with self._write_lock:
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if _is_permission_error(exc):
                    raise self.read_only_error(str(exc)) from None
                raise
            try:
                yield db
            except sqlite3.OperationalError as exc:
                db.execute("ROLLBACK")
                if _is_permission_error(exc):
                    raise self.read_only_error(str(exc)) from None
                raise
            except BaseException:
                db.execute("ROLLBACK")
                raise
            try:
                db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if _is_permission_error(exc):
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise self.read_only_error(str(exc)) from None
                raise

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees one committed state."""
        db = self._db
        if db.in_transaction:
            yield db
            return
        db.execute("BEGIN")
        try:
            yield db
        finally:
            db.execute("COMMIT")

    # -- state -------------------------------------------------------------------------------------

    def generation(self) -> int:
        """The sequence number of the last change (0 before any)."""
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
        return int(row[0]) if row else 0

    def changes_floor(self) -> int:
        """Changes up to this generation were deleted from the log (a snapshot older than that is rebuilt)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'changes_floor'").fetchone()
        return int(row[0]) if row else 0

    def counts(self) -> tuple[int, int]:
        """``(ok, error)`` file counts."""
        rows = dict(self._db.execute("SELECT status, COUNT(*) FROM files GROUP BY status").fetchall())
        return int(rows.get("ok", 0)), int(rows.get("error", 0))

    def known(self, paths: Iterable[str] | None = None, *, under: str | None = None) -> dict[str, tuple[Any, ...]]:
        """``{path: (id, size, mtime_ns, status, error)}`` for ``paths``, or for every file under a folder."""
        query = "SELECT path, id, size, mtime_ns, status, error FROM files"
        if under is not None:
            low, high = _prefix_range(under)
            rows = self._db.execute(query + " WHERE path >= ? AND path < ?", (low, high)).fetchall()
            return {row[0]: tuple(row[1:]) for row in rows}
        out: dict[str, tuple[Any, ...]] = {}
        for chunk in _chunks(list(paths or ()), 500):
            marks = ",".join("?" * len(chunk))
            for row in self._db.execute(f"{query} WHERE path IN ({marks})", chunk):
                out[row[0]] = tuple(row[1:])
        return out

    def records(self, ids: Sequence[int] | None = None, *, status: str | None = None) -> list[FileRecord]:
        """Catalogue rows, by id (in the order given; unknown ids are left out) or all (by id)."""
        if ids is None:
            where, args = ("WHERE status = ?", (status,)) if status else ("", ())
            rows = self._db.execute(f"SELECT {_RECORD_COLUMNS} FROM files {where} ORDER BY id", args).fetchall()
            return [FileRecord(*row) for row in rows]
        found: dict[int, FileRecord] = {}
        for chunk in _chunks([int(i) for i in ids], 500):
            marks = ",".join("?" * len(chunk))
            for row in self._db.execute(f"SELECT {_RECORD_COLUMNS} FROM files WHERE id IN ({marks})", chunk):
                found[row[0]] = FileRecord(*row)
        return [found[int(i)] for i in ids if int(i) in found]

    def vectors(self, name: str, ids: Sequence[int] | None = None) -> tuple[np.ndarray, list[bytes]]:
        """``(ids, blobs)`` of descriptor ``name`` for ``ids`` (those that have it) or for every file, by id."""
        if ids is None:
            rows = self._db.execute(
                "SELECT file_id, vector FROM descriptors WHERE name = ? ORDER BY file_id", (name,)
            ).fetchall()
        else:
            rows = []
            for chunk in _chunks(sorted({int(i) for i in ids}), 500):
                marks = ",".join("?" * len(chunk))
                rows += self._db.execute(
                    f"SELECT file_id, vector FROM descriptors WHERE name = ? AND file_id IN ({marks})", (name, *chunk)
                ).fetchall()
        return np.array([r[0] for r in rows], np.int64), [r[1] for r in rows]

    def descriptor_totals(self, name: str) -> tuple[int, int]:
        """``(files, bytes)``: how many files hold descriptor ``name`` and the size of their BLOBs."""
        row = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(vector)), 0) FROM descriptors WHERE name = ?", (name,)
        ).fetchone()
        return int(row[0]), int(row[1])

    def changes_since(self, generation: int) -> tuple[np.ndarray, np.ndarray]:
        """``(removed, added)`` file ids since ``generation``; ``added`` excludes ids removed again."""
        rows = self._db.execute("SELECT file_id, op FROM changes WHERE seq > ? ORDER BY seq", (generation,)).fetchall()
        removed = {fid for fid, op in rows if op == "remove"}
        added = {fid for fid, op in rows if op == "add"} - removed
        return np.array(sorted(removed), np.int64), np.array(sorted(added), np.int64)

    # -- writes ------------------------------------------------------------------------------------

    def commit(self, results: Sequence[FileResult]) -> list[int]:
        """Record a batch of files in one transaction (replacing earlier rows of the same paths); their new ids."""
        ids: list[int] = []
        now = time.time()
        with self.transaction() as db:
            for result in results:
                old = db.execute("SELECT id, status FROM files WHERE path = ?", (result.path,)).fetchone()
                if old is not None:
                    self._drop(db, int(old[0]), had_vectors=old[1] == "ok")
                cursor = db.execute(
                    "INSERT INTO files (path, size, mtime_ns, content_hash, width, height, status, error, indexed_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (result.path, result.size, result.mtime_ns, result.content_hash, result.width, result.height,
                     "ok" if result.ok else "error", result.error, now),
                )
                file_id = int(cursor.lastrowid or 0)
                ids.append(file_id)
                if result.ok:
                    db.executemany(
                        "INSERT INTO descriptors (file_id, name, vector) VALUES (?, ?, ?)",
                        [(file_id, name, blob) for name, blob in result.vectors.items()],
                    )
                    db.execute("INSERT INTO changes (file_id, op) VALUES (?, 'add')", (file_id,))
        return ids

    def put_descriptor(self, name: str, rows: Sequence[tuple[int, bytes]]) -> int:
        """Store descriptor ``name`` for files already in the catalogue (an upgrade adding a descriptor), in
        one transaction; rows of files no longer there are ignored. Returns how many were stored. No change
        is logged: it is for descriptors kept in the catalogue only (no vector store follows it)."""
        with self.transaction() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR REPLACE INTO descriptors (file_id, name, vector) "
                "SELECT id, ?, ? FROM files WHERE id = ? AND status = 'ok'",
                [(name, blob, int(file_id)) for file_id, blob in rows],
            )
            return int(db.total_changes - before)

    def missing(self, name: str) -> list[FileRecord]:
        """The files (status ``'ok'``) that do not hold descriptor ``name``, by id."""
        rows = self._db.execute(
            f"SELECT {_RECORD_COLUMNS} FROM files WHERE status = 'ok' AND id NOT IN "
            "(SELECT file_id FROM descriptors WHERE name = ?) ORDER BY id", (name,)
        ).fetchall()
        return [FileRecord(*row) for row in rows]

    def remove(self, paths: Iterable[str] = (), *, under: Iterable[str] = ()) -> int:
        """Delete files by path and every file under the given folders; returns how many rows went."""
        count = 0
        with self.transaction() as db:
            targets: list[tuple[int, str]] = []
            for chunk in _chunks(list(paths), 500):
                marks = ",".join("?" * len(chunk))
                targets += db.execute(f"SELECT id, status FROM files WHERE path IN ({marks})", chunk).fetchall()
            for folder in under:
                low, high = _prefix_range(folder)
                targets += db.execute(
                    "SELECT id, status FROM files WHERE path >= ? AND path < ?", (low, high)
                ).fetchall()
            for file_id, status in dict(targets).items():
                self._drop(db, int(file_id), had_vectors=status == "ok")
                count += 1
        return count

    @staticmethod
    def _drop(db: sqlite3.Connection, file_id: int, *, had_vectors: bool) -> None:
        db.execute("DELETE FROM descriptors WHERE file_id = ?", (file_id,))
        db.execute("DELETE FROM files WHERE id = ?", (file_id,))
        if had_vectors:
            db.execute("INSERT INTO changes (file_id, op) VALUES (?, 'remove')", (file_id,))

    def compact_changes(self, upto: int) -> None:
        """Forget the log up to generation ``upto`` (every snapshot already reflects it)."""
        if upto <= self.changes_floor():
            return
        with self.transaction() as db:
            db.execute("DELETE FROM changes WHERE seq <= ?", (upto,))
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('changes_floor', ?)", (str(upto),))


#: What an error message about a damaged index tells the user to do.
REBUILD_HINT = ("rebuild the index: `lookalike index build DIR --index IDX --force` replaces it "
                "(in Python, Index.create in a new folder)")

#: SQLite results that mean "you may not write (or open) this file", not "this file is damaged".
_PERMISSION_ERRORS = frozenset({"SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH"})


def _is_permission_error(exc: sqlite3.Error) -> bool:
    """``SQLITE_READONLY_*``, ``SQLITE_CANTOPEN``, ...: the file may not be written or opened; it is not damaged."""
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    return "_".join(name.split("_")[:2]) in _PERMISSION_ERRORS


def _can_write(path: str) -> bool:
    """Whether this process may change ``path`` and create its lock files beside it."""
    folder = os.path.dirname(os.path.abspath(path))
    return os.access(path, os.W_OK) and os.access(folder, os.W_OK)


def _has_log(path: str) -> bool:
    """Whether a write-ahead log with content lies beside the catalogue (opening it immutable would miss it)."""
    try:
        return os.path.getsize(path + "-wal") > 0
    except OSError:
        return False


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
