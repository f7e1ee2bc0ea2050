"""``find_duplicates``: groups of exact and near-duplicate images, each with a suggested keeper; safe moves.

How pairs are found, in an index (built for the call when a folder is given):

- exact duplicates: files with the same SHA-256 in the catalogue (similarity 1);
- near-duplicate candidates: for every file, its nearest neighbours by pHash Hamming distance and
  by embedding cosine (``neighbours`` of each);
- each candidate pair gets the ``copy`` similarity of :mod:`lookalike.pipelines._search` from its
  global evidence (hash distance, cosine) and, with ``verify``, RootSIFT + MAGSAC++ verification
  (also mirrored) when the global evidence alone is not enough but the cosine makes a copy
  plausible (crops, small rotations, borders).

Pairs at or above ``min_similarity`` are joined into connected groups (union-find). The keeper
of a group is the member with the most pixels, then the largest file, then the first path; every
other member carries its similarity to the keeper (computed for the pair directly, even where
the group was joined through a third image).

Moving (:func:`move_duplicates`) never deletes and never overwrites: each non-keeper is moved to
a destination folder under its path relative to the folder searched, a manifest (JSON: from, to,
SHA-256) records every move, and :func:`undo_moves` puts the files back from it.
"""

from __future__ import annotations

import datetime
import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from lookalike.errors import LookalikeError, ParameterError

if TYPE_CHECKING:
    from lookalike.features import LocalFeatures
    from lookalike.index import FileError, FileRecord, Index

__all__ = [
    "DEFAULT_DUPLICATE_SIMILARITY",
    "DuplicateGroup",
    "DuplicateMember",
    "DuplicateReport",
    "MoveReport",
    "find_duplicates",
    "move_duplicates",
    "undo_moves",
]

#: Default threshold of :func:`find_duplicates`: stricter than search's 0.70, because what is
#: reported here is offered for moving away.
DEFAULT_DUPLICATE_SIMILARITY = 0.85

#: Pairs whose cosine is below this are never verified with keypoints (not plausible as copies).
VERIFY_MIN_COSINE = 0.5

_MANIFEST_FORMAT = "lookalike-moves"


@dataclass(frozen=True)
class DuplicateMember:
    """One file of a duplicate group.

    Attributes
    ----------
    path : str
    similarity : float
        ``copy`` similarity to the group's keeper (1.0 for the keeper itself and for exact copies).
    exact : bool
        Same bytes (SHA-256) as the keeper.
    width, height : int or None
        Size in pixels (after EXIF orientation).
    size : int or None
        File size in bytes.
    root : int
        Which folder searched it came from: 0, or 1 for the second folder of a two-folder search.
    """

    path: str
    similarity: float
    exact: bool
    width: int | None
    height: int | None
    size: int | None
    root: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "similarity": round(float(self.similarity), 6), "exact": self.exact,
                "width": self.width, "height": self.height, "size": self.size}


@dataclass(frozen=True)
class DuplicateGroup:
    """A keeper and the files that duplicate it, most similar first."""

    keeper: DuplicateMember
    members: tuple[DuplicateMember, ...]

    @property
    def exact(self) -> bool:
        """Every member is a byte-identical copy of the keeper."""
        return all(m.exact for m in self.members)

    @property
    def files(self) -> tuple[DuplicateMember, ...]:
        """The keeper, then the members."""
        return (self.keeper, *self.members)

    def to_dict(self) -> dict[str, Any]:
        return {"keeper": self.keeper.to_dict(), "exact": self.exact,
                "duplicates": [m.to_dict() for m in self.members]}


@dataclass(frozen=True)
class DuplicateReport:
    """What :func:`find_duplicates` found.

    Attributes
    ----------
    groups : tuple of DuplicateGroup
        Largest groups first, then by keeper path.
    roots : tuple of str
        The folder(s) searched (absolute); a member's ``root`` indexes this.
    files : int
        Images considered.
    min_similarity : float
    errors : tuple of FileError
        Files that could not be read (skipped).
    """

    groups: tuple[DuplicateGroup, ...]
    roots: tuple[str, ...]
    files: int
    min_similarity: float
    errors: tuple[FileError, ...] = ()

    @property
    def duplicates(self) -> int:
        """Files that are not keepers."""
        return sum(len(g.members) for g in self.groups)

    def to_dict(self) -> dict[str, Any]:
        return {"roots": list(self.roots), "files": self.files, "min_similarity": self.min_similarity,
                "groups": [g.to_dict() for g in self.groups],
                "errors": [{"path": e.path, "reason": e.reason} for e in self.errors]}


@dataclass(frozen=True)
class MoveReport:
    """What :func:`move_duplicates` or :func:`undo_moves` did."""

    moved: tuple[tuple[str, str], ...] = ()
    manifest: str | None = None
    problems: tuple[str, ...] = field(default=())


# -- finding -------------------------------------------------------------------------------------------

class _Union:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, a: int) -> int:
        root = a
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while self.parent.get(a, a) != root:
            self.parent[a], a = root, self.parent[a]
        return root

    def join(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


class _Pairs:
    """Pair evidence from the index's vectors, with keypoint verification on demand (cached features)."""

    def __init__(self, index: Index, records: dict[int, FileRecord], verify: bool) -> None:
        from lookalike.pipelines._search import _Engine

        self.index = index
        self.records = records
        self.verify = verify
        engine = _Engine(index, "copy")
        self.hash_spec, self.embed_spec = engine.hash_spec, engine.embed_spec
        ids = np.array(sorted(records), dtype=np.int64)
        self.ids = ids
        self.hashes: dict[int, np.ndarray] = {}
        self.vectors: dict[int, np.ndarray] = {}
        if self.hash_spec is not None:
            got, array = index.vectors(self.hash_spec.name, ids)
            self.hashes = {int(i): v for i, v in zip(got, array, strict=True)}
        if self.embed_spec is not None:
            got, array = index.vectors(self.embed_spec.name, ids)
            self.vectors = {int(i): v for i, v in zip(got, array, strict=True)}
        self._features: dict[tuple[int, bool], LocalFeatures | None] = {}
        self._scores: dict[tuple[int, int], float] = {}

    def candidates(self, neighbours: int) -> set[tuple[int, int]]:
        pairs: set[tuple[int, int]] = set()
        for spec, table in ((self.hash_spec, self.hashes), (self.embed_spec, self.vectors)):
            if spec is None or not table:
                continue
            ids = np.array(list(table), dtype=np.int64)
            queries = np.stack([table[int(i)] for i in ids])
            _d, found = self.index.search_vectors(queries, min(neighbours + 1, len(self.index)), descriptor=spec.name)
            for a, row in zip(ids, found, strict=True):
                for b in row:
                    b = int(b)
                    if b >= 0 and b != a and b in self.records:
                        pairs.add((min(int(a), b), max(int(a), b)))
        return pairs

    def features(self, file_id: int, mirrored: bool) -> LocalFeatures | None:
        from lookalike.pipelines._search import _extract, _verify_pixels

        key = (file_id, mirrored)
        if key not in self._features:
            features = None
            try:
                pixels = _verify_pixels(self.records[file_id].path)
                features = _extract(np.ascontiguousarray(pixels[:, ::-1]) if mirrored else pixels)
            except (LookalikeError, OSError, ValueError):
                features = None
            self._features[key] = features
        return self._features[key]

    def similarity(self, a: int, b: int, floor: float) -> float:
        """The ``copy`` similarity of files ``a`` and ``b`` (verification only when it can lift it to ``floor``)."""
        from lookalike.features import hamming_distance
        from lookalike.matching import compare_features
        from lookalike.pipelines._search import copy_similarity

        key = (min(a, b), max(a, b))
        if key in self._scores:
            return self._scores[key]
        ra, rb = self.records[a], self.records[b]
        if ra.content_hash is not None and ra.content_hash == rb.content_hash:
            self._scores[key] = 1.0
            return 1.0
        distance = None
        if a in self.hashes and b in self.hashes:
            distance = int(hamming_distance(self.hashes[a], self.hashes[b]))
        cosine = None
        if a in self.vectors and b in self.vectors:
            cosine = float(self.vectors[a].astype(np.float32) @ self.vectors[b].astype(np.float32))
        score = copy_similarity(hash_distance=distance, cosine=cosine)
        if self.verify and score < floor and (cosine is None or cosine >= VERIFY_MIN_COSINE):
            fa, fb = self.features(a, False), self.features(b, False)
            if fa is not None and fb is not None and len(fa) and len(fb):
                result = compare_features(fa, fb)
                if not result.verified:
                    fm = self.features(a, True)
                    if fm is not None and len(fm):
                        result = compare_features(fm, fb)
                if result.verified:
                    score = max(score, copy_similarity(hash_distance=distance, cosine=cosine,
                                                       inliers=result.n_inliers, verified=True))
        self._scores[key] = score
        return score


def _keeper_key(record: FileRecord) -> tuple[int, int, str]:
    pixels = (record.width or 0) * (record.height or 0)
    return (-pixels, -(record.size or 0), record.path)


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def find_duplicates(
    source: Index | str | os.PathLike[str],
    other: str | os.PathLike[str] | None = None,
    *,
    min_similarity: float = DEFAULT_DUPLICATE_SIMILARITY,
    verify: bool = True,
    neighbours: int = 10,
    index: Index | str | os.PathLike[str] | None = None,
    jobs: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> DuplicateReport:
    """Find groups of exact and near-duplicate images, each with a suggested keeper.

    Parameters
    ----------
    source : Index, or folder
        An open index (every indexed file is considered), or a folder of
        images (indexed first: into ``index`` when given, else into a
        temporary index deleted afterwards).
    other : folder, optional
        A second folder: only images of ``other`` that duplicate an image of
        ``source`` are reported, in groups kept by a ``source`` image (the
        reference folder is never a duplicate of itself here). Needs ``source``
        to be a folder.
    min_similarity : float, keyword-only
        Pairs at or above this ``copy`` similarity are duplicates (default
        0.85; 0.70 is where search results are right 90% of the time).
    verify : bool, keyword-only
        Verify plausible pairs with keypoints (finds crops and rotated copies;
        slower). Without it, only the hash and the embedding decide.
    neighbours : int, keyword-only
        Nearest neighbours of each image examined, per descriptor.
    index : Index or path, optional, keyword-only
        With a folder ``source``: the index to build or update for it (kept).
    jobs, progress : keyword-only
        Passed to the indexing (worker processes; progress callback).

    Returns
    -------
    DuplicateReport

    Examples
    --------
    >>> import tempfile, shutil, numpy as np
    >>> from PIL import Image
    >>> folder = tempfile.mkdtemp()
    >>> rng = np.random.default_rng(0)
    >>> for i in range(2):
    ...     Image.fromarray(rng.integers(0, 256, (64, 64), np.uint8)).save(f"{folder}/{i}.png")
    >>> shutil.copy(f"{folder}/1.png", f"{folder}/1-copy.png")  # doctest: +ELLIPSIS
    '...'
    >>> report = find_duplicates(folder, verify=False, jobs=1)
    >>> [(os.path.basename(g.keeper.path), [os.path.basename(m.path) for m in g.members]) for g in report.groups]
    [('1-copy.png', ['1.png'])]
    """
    if not isinstance(min_similarity, int | float) or not 0.0 < float(min_similarity) <= 1.0:
        raise ParameterError(f"min_similarity must be a number in (0, 1] (0.85 for 85%), got {min_similarity!r}")
    if isinstance(neighbours, bool) or not isinstance(neighbours, int) or neighbours < 1:
        raise ParameterError(f"neighbours must be a positive integer, got {neighbours!r}")
    from lookalike.index import Index

    if isinstance(source, Index):
        if other is not None:
            raise ParameterError("a two-folder search needs two folders; give source and other as folders")
        return _find(source, None, float(min_similarity), verify, neighbours, ())
    folders = [os.fspath(source)] + ([os.fspath(other)] if other is not None else [])
    for folder in folders:
        if not os.path.isdir(folder):
            raise ParameterError(f"expected a folder of images, got {folder!r}: it is not a folder")
    from lookalike.index._index import resolve_path

    roots = [resolve_path(f) for f in folders]
    if len(roots) == 2 and (_under(roots[0], roots[1]) or _under(roots[1], roots[0])):
        raise ParameterError(f"the two folders must not contain one another: {folders[0]!r} and {folders[1]!r}")
    with tempfile.TemporaryDirectory(prefix="lookalike-duplicates-") as tmp:
        opened, owned = _index_for(index, os.path.join(tmp, "index"))
        try:
            errors: list[FileError] = []
            for folder in folders:
                errors += opened.update(folder, jobs=jobs, progress=progress).errors
            return _find(opened, roots, float(min_similarity), verify, neighbours, tuple(errors))
        finally:
            if owned:
                opened.close()


def _index_for(index: Index | str | os.PathLike[str] | None, scratch: str) -> tuple[Index, bool]:
    from lookalike.index import Index

    if isinstance(index, Index):
        return index, False
    path = scratch if index is None else os.fspath(index)
    if os.path.exists(os.path.join(path, "manifest.json")):
        return Index.open(path), True
    return Index.create(path), True


def _find(index: Index, roots: Sequence[str] | None, min_similarity: float, verify: bool, neighbours: int,
          errors: tuple[FileError, ...]) -> DuplicateReport:
    records = {r.id: r for r in index.records(status="ok")}
    if roots is not None:
        records = {i: r for i, r in records.items() if any(_under(r.path, root) for root in roots)}
    side = {i: (1 if roots is not None and len(roots) == 2 and _under(r.path, roots[1]) else 0)
            for i, r in records.items()}
    two = roots is not None and len(roots) == 2
    pairs = _Pairs(index, records, verify)
    union = _Union()
    by_hash: dict[str, list[int]] = {}
    for i, r in records.items():
        if r.content_hash:
            by_hash.setdefault(r.content_hash, []).append(i)
    linked: set[tuple[int, int]] = set()
    for same in by_hash.values():
        for a in same[1:]:
            if not two or side[a] != side[same[0]]:
                union.join(same[0], a)
                linked.add((min(same[0], a), max(same[0], a)))
        if two:  # an exact copy on each side joins through any pair across
            left = [i for i in same if side[i] == 0]
            right = [i for i in same if side[i] == 1]
            for b in right:
                if left:
                    union.join(left[0], b)
    for a, b in sorted(pairs.candidates(neighbours)):
        if (two and side[a] == side[b]) or (a, b) in linked:
            continue
        if pairs.similarity(a, b, min_similarity) >= min_similarity:
            union.join(a, b)
    components: dict[int, list[int]] = {}
    for i in records:
        components.setdefault(union.find(i), []).append(i)
    groups: list[DuplicateGroup] = []
    for members in components.values():
        if len(members) < 2:
            continue
        eligible = [i for i in members if side[i] == 0] if two else members
        keeper = min(eligible, key=lambda i: _keeper_key(records[i]))
        others = [i for i in members if i != keeper and (not two or side[i] == 1)]
        if not others:
            continue
        rows = []
        for i in others:
            exact = records[i].content_hash is not None and records[i].content_hash == records[keeper].content_hash
            rows.append(_member(records[i], 1.0 if exact else pairs.similarity(keeper, i, 1.0), exact, side[i]))
        rows.sort(key=lambda m: (-m.similarity, m.path))
        groups.append(DuplicateGroup(_member(records[keeper], 1.0, True, side[keeper]), tuple(rows)))
    groups.sort(key=lambda g: (-len(g.members), g.keeper.path))
    shown_roots = tuple(roots) if roots is not None else (os.path.commonpath([r.path for r in records.values()])
                                                          if records else "",)
    return DuplicateReport(tuple(groups), tuple(shown_roots), len(records), min_similarity, errors)


def _member(record: FileRecord, similarity: float, exact: bool, root: int) -> DuplicateMember:
    return DuplicateMember(record.path, float(similarity), exact, record.width, record.height, record.size, root)


# -- moving --------------------------------------------------------------------------------------------

def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _move_no_overwrite(src: str, dst: str) -> None:
    """Move ``src`` to ``dst``; fails with FileExistsError rather than replace anything at ``dst``."""
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    try:
        os.link(src, dst)  # fails if dst exists: no window in which a file could be replaced
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        with open(src, "rb") as reader, open(dst, "xb") as writer:  # "x": never replaces
            shutil.copyfileobj(reader, writer, 1 << 20)
            writer.flush()
            os.fsync(writer.fileno())
        shutil.copystat(src, dst)
    os.unlink(src)


def _write_manifest(path: str, moves: list[dict[str, str]], roots: Sequence[str]) -> None:
    data = {"format": _MANIFEST_FORMAT, "version": 1,
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "roots": list(roots), "moves": moves,
            "undo": f"lookalike duplicates --undo {path}"}
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")
    os.replace(tmp, path)


def move_duplicates(
    report: DuplicateReport, destination: str | os.PathLike[str], *, manifest: str | os.PathLike[str] | None = None
) -> MoveReport:
    """Move every non-keeper of ``report`` into ``destination``, keeping its path relative to its folder.

    Nothing is deleted and nothing is overwritten: if any target already
    exists, or a file changed since it was indexed (its SHA-256 differs), no
    file is moved and :class:`~lookalike.errors.ParameterError` names it. The
    manifest (default ``destination/lookalike-moves-<time>.json``) lists
    ``from``, ``to`` and ``sha256`` of every move, and is written even if a
    move fails part-way; :func:`undo_moves` reverses it.

    In a two-folder report only files of the second folder are moved.

    Returns
    -------
    MoveReport
    """
    dest = os.path.abspath(os.fspath(destination))
    plan: list[tuple[str, str]] = []
    for group in report.groups:
        for member in group.members:
            root = report.roots[member.root] if member.root < len(report.roots) else ""
            if len(report.roots) == 2 and member.root != 1:
                continue
            relative = os.path.relpath(member.path, root) if root and _under(member.path, root) else (
                member.path.lstrip(os.sep))
            plan.append((member.path, os.path.join(dest, relative)))
    for src, _dst in plan:
        if _under(dest, src):
            raise ParameterError(f"cannot move {src!r} into a folder inside itself")
    targets = [dst for _src, dst in plan]
    if len(set(targets)) != len(targets):
        raise ParameterError("two files would be moved to the same place; move the groups of each folder separately")
    clashes = [dst for dst in targets if os.path.lexists(dst)]
    if clashes:
        raise ParameterError(
            f"refusing to move: {clashes[0]!r} already exists"
            + (f" (and {len(clashes) - 1} more targets)" if len(clashes) > 1 else "")
            + "; nothing was moved. Choose an empty --move-to folder, or move those files away first"
        )
    missing = [src for src, _dst in plan if not os.path.isfile(src)]
    if missing:
        raise ParameterError(f"refusing to move: {missing[0]!r} no longer exists (update the index); nothing was moved")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    manifest_path = os.path.abspath(os.fspath(manifest)) if manifest is not None else os.path.join(
        dest, f"lookalike-moves-{stamp}.json")
    if os.path.lexists(manifest_path):
        raise ParameterError(f"refusing to overwrite the existing manifest {manifest_path!r}; nothing was moved")
    os.makedirs(os.path.dirname(manifest_path), exist_ok=True)
    moves: list[dict[str, str]] = []
    done: list[tuple[str, str]] = []
    try:
        for src, dst in plan:
            digest = _sha256(src)
            _move_no_overwrite(src, dst)
            moves.append({"from": src, "to": dst, "sha256": digest})
            done.append((src, dst))
    finally:
        _write_manifest(manifest_path, moves, report.roots)
    return MoveReport(tuple(done), manifest_path)


def undo_moves(manifest: str | os.PathLike[str]) -> MoveReport:
    """Move the files listed in a manifest of :func:`move_duplicates` back where they came from.

    A file is put back only when its original place is free and its SHA-256
    still matches; anything else is left where it is and listed in
    ``problems``. Nothing is deleted or overwritten. The manifest is kept.
    """
    path = os.fspath(manifest)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise ParameterError(f"no such manifest: {path!r}") from None
    except (OSError, ValueError) as exc:
        raise ParameterError(f"cannot read the manifest {path!r}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != _MANIFEST_FORMAT or not isinstance(data.get("moves"), list):
        raise ParameterError(f"{path!r} is not a manifest written by lookalike duplicates --move-to")
    restored: list[tuple[str, str]] = []
    problems: list[str] = []
    for entry in reversed(data["moves"]):
        try:
            src, dst, digest = str(entry["from"]), str(entry["to"]), str(entry["sha256"])
        except (KeyError, TypeError):
            problems.append(f"a damaged entry in the manifest: {entry!r}")
            continue
        if os.path.lexists(src):
            problems.append(f"{src}: something is already there; {dst} left where it is")
        elif not os.path.isfile(dst):
            problems.append(f"{dst}: no longer there; cannot put back {src}")
        elif _sha256(dst) != digest:
            problems.append(f"{dst}: changed since it was moved (SHA-256 differs); left where it is")
        else:
            try:
                _move_no_overwrite(dst, src)
            except OSError as exc:
                problems.append(f"{dst}: cannot move back to {src}: {exc.strerror or exc}")
                continue
            restored.append((dst, src))
    return MoveReport(tuple(restored), path, tuple(problems))
