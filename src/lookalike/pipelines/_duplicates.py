"""``find_duplicates``: groups of exact and near-duplicate images, each with a suggested keeper; safe moves.

How pairs are found, in an index (built for the call when a folder is given), in bulk over
arrays (no Python loop per pair until verification):

- exact duplicates: files with the same SHA-256 in the catalogue (similarity 1);
- hash candidates: every pair within a few bits of pHash (:data:`HASH_RADIUS`, more when the
  threshold lets hash evidence alone reach it), by an exact multi-index self-join
  (:func:`hash_pairs`); where the index stores the dihedral pHashes (the default since they were
  added; ``lookalike index update`` adds them to an older index), under any of the 8 rotations and
  flips (:func:`dihedral_pairs`), so a copy turned by 90 degrees or mirrored is a hash pair like
  any other, with the distance search measures (the least over the rotations and flips, which is
  what the ``copy`` similarity was calibrated on);
- embedding candidates: each file's ``neighbours`` nearest by cosine (:func:`embedding_neighbours`:
  brute force up to :data:`EXACT_NEIGHBOURS` files, a PCA + IVF self-join with exact re-ranking
  above);
- every candidate pair gets the ``copy`` similarity of :mod:`lookalike.pipelines._search` from its
  global evidence (hash distance, cosine), computed over arrays;
- with ``verify``, RootSIFT + MAGSAC++ verification (also mirrored) of the pairs that pass a gate:
  global evidence below the threshold, cosine >= :data:`VERIFY_MIN_COSINE`, one file among the
  other's first :data:`VERIFY_RANK` neighbours by cosine; highest cosine first, pairs already
  joined through others skipped, at most
  :data:`VERIFY_MAX_PAIRS` per call. The keypoints come from the index where it stores them
  (``Index.local_features``, read by another thread ahead of the pairs that need them), else from
  the files; the ratio-test matches are brute force's, from one matrix product a pair
  (:func:`lookalike.matching._match.ratio_matches`). The mirrored pass only at cosine >=
  :data:`MIRROR_MIN_COSINE`, first on the mirror image of the stored keypoints
  (:func:`lookalike.features.mirror_features`, no decode); where that
  verifies, the mirrored file is decoded and described, and that verification gives the score
  (the same as extracting the mirrored keypoints for every pair, as before, at a fraction of the
  cost: on the 100,000-file benchmark, 129 decodes instead of 1,754).

Where the gate comes from (measured on the near-duplicate benchmark of
``benchmarks/neardup_data.py``: 44 originals x 12 edits among 611 Caltech-101 same-class
distractors, 1,183 files, every pair among each file's 10 nearest by cosine verified): the copies
that only verification finds (crops, rotations, mirror) have cosines from 0.47 (median 0.85),
while 10% of the same-class non-copies among those neighbours are above 0.84, so the cosine alone
cannot separate them; what bounds the work is the rank and the budget. Against the old rule
(cosine >= 0.5, every one of the 10 neighbours, both passes always; 14,927 keypoint comparisons,
697 s on a loaded 2-core machine), rank < 3 gates 2,131 pairs for 0.735 of the copies joined to
their original instead of 0.744 (simulated from the measured verifications); the mirrored pass at
cosine >= 0.85 runs on 496 instead of 1,975 and loses none. The budget of 2,000 already binds on
that set (its 44 groups of 13 need many): ``find_duplicates`` joins 0.727 of the copies there
(rot90 0.59 instead of 0.75, the lowest cosines come last). On 100,000 files
(``benchmarks/bench_duplicates.py``) it is the budget that keeps verification bounded.

Pairs at or above ``min_similarity`` are joined into connected groups (union-find). The keeper
of a group is the member with the most pixels, then the largest file, then the first path; every
other member carries its similarity to the keeper (computed for the pair directly, even where
the group was joined through a third image; verified with keypoints, whatever its cosine, when
the global evidence alone is below ``min_similarity``). A member still below ``min_similarity``
to the keeper (a copy of a copy: the keeper's crop, and that crop turned, whose embedding is
far from the keeper's and whose keypoints do not verify against it) names the member it joined
through (:attr:`DuplicateMember.via`).

Moving a report's duplicates away, safely, is :mod:`lookalike.pipelines._moves`; the self-joins
are :mod:`lookalike.index._selfjoin`, the similarity model :mod:`lookalike.matching._similarity`,
the verifier and its keypoint cache :mod:`lookalike.pipelines._verifier`.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from lookalike.errors import ParameterError
from lookalike.matching import flat_hashes, global_similarity, hash_reach
from lookalike.parallel import Jobs, check_jobs
from lookalike.pipelines._selection import Selection
from lookalike.pipelines._verifier import KeypointCache, extract_mirrored, verify_candidates

if TYPE_CHECKING:
    from lookalike.features import LocalFeatures
    from lookalike.index import FileError, FileRecord, Index

__all__ = [
    "DEFAULT_DUPLICATE_SIMILARITY",
    "DuplicateGroup",
    "DuplicateMember",
    "DuplicateReport",
    "find_duplicates",
]

_UNSET: Any = object()  # marks a deprecated keyword that was not given

#: Default threshold of :func:`find_duplicates`: stricter than search's 0.70, because what is
#: reported here is offered for moving away.
DEFAULT_DUPLICATE_SIMILARITY = 0.85

#: The keypoint verification gate (calibrated on the near-duplicate benchmark, see the module
#: docstring): a pair is verified only when its global evidence is below the threshold, its
#: cosine is at least this ...
VERIFY_MIN_COSINE = 0.5
#: ... and one file is among the other's first this many neighbours by cosine.
VERIFY_RANK = 3
#: At most this many pairs are verified in one call, the most plausible first (see the module docstring).
VERIFY_MAX_PAIRS = 2000
#: A pair that fails verification is tried mirrored only at or above this cosine (a mirrored
#: copy keeps most of its embedding; the mirrored keypoints are extracted from the file).
MIRROR_MIN_COSINE = 0.85
#: Each file's this many best others by visual-word score are candidates (where the index holds words) ...
WORD_NEIGHBOURS = 5
#: ... and those among its first this many are verified whatever their cosine (ranked by word score).
WORD_RANK = 5
#: Up to this many files the visual words are used (a guard, not a measured limit: their join,
#: :func:`lookalike.index.word_candidates`, reads each file's 16 rarest words' posting lists, none
#: longer than 1,000 files, so it grows with the files times those lists, not with the pairs; the
#: quadratic all-pairs join it replaced was capped at 2,000 files). Figures in benchmarks/README.md.
WORD_MAX_FILES = 200_000
#: Hash pairs within this many bits are always candidates (more when the threshold needs them).
HASH_RADIUS = 3
#: Threads verifying pairs at once.
VERIFY_THREADS = 2

_FEATURE_CACHE = 4096
#: Pairs whose keypoints are read from the index in one go, ahead of their verification.
_LOAD_CHUNK = 256
_CHUNK = 1 << 16
_NOT_RANKED = 1 << 30



@dataclass(frozen=True)
class DuplicateMember:
    """One file of a duplicate group.

    Attributes
    ----------
    path : str
    similarity : float
        ``copy`` similarity to the group's keeper (1.0 for the keeper itself and for exact copies).
    exact : bool
        Same bytes (SHA-256) as the keeper; for the keeper itself: every member of its group is.
    width, height : int or None
        Size in pixels (after EXIF orientation).
    size : int or None
        File size in bytes.
    root : int
        Which folder searched it came from: 0, or 1 for the second folder of a two-folder search.
    hard_link : bool
        The same file as the keeper under another name (same device and inode): not a copy;
        moving it would free no space, so :func:`move_duplicates` leaves it.
    via : str or None
        Set only on a member whose similarity to the keeper is below the threshold (even after
        keypoint verification of the pair): the path of the member it joined the group through
        (its copy at or above the threshold, on the chain of such pairs to the keeper).
    """

    path: str
    similarity: float
    exact: bool
    width: int | None
    height: int | None
    size: int | None
    root: int = 0
    hard_link: bool = False
    via: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "similarity": round(float(self.similarity), 6), "exact": self.exact,
                "hard_link": self.hard_link, "width": self.width, "height": self.height, "size": self.size,
                "via": self.via}


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
    unverified : int
        Plausible pairs (past the verification gate) left unverified because the
        verification budget (``max_verify``) ran out; 0 means every plausible
        pair was verified. Crops and rotated copies among them may be missed.
    """

    groups: tuple[DuplicateGroup, ...]
    roots: tuple[str, ...]
    files: int
    min_similarity: float
    errors: tuple[FileError, ...] = ()
    unverified: int = 0

    @property
    def duplicates(self) -> int:
        """Files that are not keepers."""
        return sum(len(g.members) for g in self.groups)

    def to_dict(self) -> dict[str, Any]:
        return {"roots": list(self.roots), "files": self.files, "min_similarity": self.min_similarity,
                "unverified_pairs": self.unverified,
                "groups": [g.to_dict() for g in self.groups],
                "errors": [{"path": e.path, "reason": e.reason} for e in self.errors]}


# -- finding -------------------------------------------------------------------------------------------

class _Union:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}
        self.links: dict[int, list[int]] = {}  # the pairs that merged two groups: a spanning forest of each group

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
            self.links.setdefault(a, []).append(b)
            self.links.setdefault(b, []).append(a)

    def via(self, start: int, end: int) -> int | None:
        """The file next to ``end`` on the chain of joined pairs from ``start`` to ``end`` (None when they
        were joined directly, or are not in one group): what put ``end`` in ``start``'s group."""
        previous: dict[int, int] = {start: start}
        queue = [start]
        for here in queue:
            if here == end:
                break
            for there in self.links.get(here, ()):
                if there not in previous:
                    previous[there] = here
                    queue.append(there)
        before = previous.get(end)
        return None if before is None or before == start else before

    def members(self) -> set[int]:
        """Every element joined to another (the others are alone)."""
        return set(self.parent) | set(self.parent.values())

    def roots(self, items: np.ndarray) -> np.ndarray:
        """The root of each of ``items`` (an int64 array), in bulk."""
        joined = np.array(sorted(self.members()), dtype=np.int64)
        if not joined.size:
            return items.copy()
        roots = np.array([self.find(int(i)) for i in joined], dtype=np.int64)
        position = np.minimum(np.searchsorted(joined, items), joined.size - 1)
        return np.where(joined[position] == items, roots[position], items)


def _hash_radius(min_similarity: float) -> int:
    """The largest hash distance whose evidence alone reaches ``min_similarity`` (at least :data:`HASH_RADIUS`)."""
    return max(HASH_RADIUS, hash_reach(min_similarity))


@dataclass
class _Candidates:
    """Candidate pairs as parallel arrays over rows of :class:`_Pairs`: ``a < b``."""

    a: np.ndarray
    b: np.ndarray
    distance: np.ndarray  # Hamming bits; -1 without hashes
    cosine: np.ndarray  # NaN without embeddings
    rank: np.ndarray  # 0 = each other's nearest by cosine; a large value when not an embedding neighbour
    words: np.ndarray  # visual-word evidence (query_scores) of a pair that can be verified; NaN otherwise
    word_rank: np.ndarray  # 0 = each other's best by word score; a large value when not a word neighbour


class _Pairs:
    """Descriptors of every file as arrays; pair evidence in bulk, keypoint verification on demand."""

    def __init__(self, index: Index, records: dict[int, FileRecord], verify: bool) -> None:
        from lookalike.pipelines._search import _Engine

        self.index = index
        self.records = records
        self.verify = verify
        engine = _Engine(index, "copy")
        self.hash_spec, self.embed_spec = engine.hash_spec, engine.embed_spec
        self.ids = np.array(sorted(records), dtype=np.int64)
        self.row = {int(i): r for r, i in enumerate(self.ids)}
        self.hashes, self.has_hash = self._load(self.hash_spec)
        dihedral_spec = next((s for s in index.descriptors if s.kind == "dihedral"), None)
        dihedral, self.has_dihedral = self._load(dihedral_spec if self.hash_spec is not None else None)
        self.dihedral = None if dihedral is None else dihedral.reshape(dihedral.shape[0], 8, -1)
        self.vectors, self.has_vector = self._load(self.embed_spec)
        self.queries: Any = None
        self.has_words = np.zeros(self.ids.size, dtype=bool)
        if verify and self.ids.size <= WORD_MAX_FILES:  # the words only choose which pairs to verify
            self.queries, self.has_words = self._load_words()
        # images without structure (a flat pHash): their hash and cosine are no evidence, only identical pixels
        self.flat = np.zeros(self.ids.size, dtype=bool)
        if self.hashes is not None and str(self.hash_spec.params.get("method", "phash")) == "phash":
            self.flat = flat_hashes(self.hashes) & self.has_hash
        self.same = self._content_keys()
        codes: dict[str, int] = {}
        self.content = np.array([codes.setdefault(self.same[int(i)], len(codes)) for i in self.ids], dtype=np.int64)
        # keypoints of the files: stored, else extracted (from the paths of the records already read)
        self.keypoints = KeypointCache(index, paths=lambda ids: [records[i].path for i in ids])
        self._scores: dict[tuple[int, int], float] = {}
        self.stats: dict[str, float] = {"verified_pairs": 0, "missing_pairs": 0, "verify_s": 0.0}

    def _content_keys(self) -> dict[int, str]:
        """``{file id: key}``, equal for files that are copies without evidence to weigh: the same bytes
        (SHA-256), or, for flat images, the same decoded pixels (:func:`lookalike.matching.pixel_digest`,
        decoded in full here, once per content; a file that cannot be read keeps its SHA-256)."""
        from lookalike.matching import pixel_digest

        keys = {int(i): self.records[int(i)].content_hash or f"-{i}" for i in self.ids}
        digests: dict[str, str] = {}
        for i in self.ids[self.flat].tolist():
            if keys[i] not in digests:
                try:
                    digests[keys[i]] = "pixels:" + pixel_digest(self.records[i].path)
                except (OSError, ValueError):
                    digests[keys[i]] = keys[i]
            keys[i] = digests[keys[i]]
        return keys

    def flat_pairs(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Which pairs of rows hold an image without structure (their global evidence is none)."""
        return self.flat[a] | self.flat[b]

    def _load(self, spec: Any) -> tuple[np.ndarray | None, np.ndarray]:
        n = self.ids.size
        present = np.zeros(n, dtype=bool)
        if spec is None or n == 0:
            return None, present
        got, array = self.index.vectors(spec.name)
        if got.size == n and np.array_equal(got, self.ids):
            present[:] = True
            return array, present
        position = np.searchsorted(self.ids, got)
        inside = position < n
        inside[inside] = self.ids[position[inside]] == got[inside]
        full = np.zeros((n, array.shape[1]), dtype=array.dtype)
        full[position[inside]] = array[inside]
        present[position[inside]] = True
        return full, present

    def _load_words(self) -> tuple[Any, np.ndarray]:
        """The files' visual-word queries (:func:`lookalike.index.word_queries`, a row per file, empty where a
        file has no words)."""
        from lookalike.index import word_histograms, word_queries

        got, words, n_words = self.index.words()
        present = np.zeros(self.ids.size, dtype=bool)
        if not n_words:
            return None, present
        position = np.searchsorted(self.ids, got)
        inside = position < self.ids.size
        inside[inside] = self.ids[position[inside]] == got[inside]
        full: list[np.ndarray] = [np.zeros(0, np.uint16)] * self.ids.size
        for p, w, ok in zip(position.tolist(), words, inside.tolist(), strict=True):
            if ok:
                full[p] = w
                present[p] = w.size > 0
        return word_queries(word_histograms(full, n_words)), present

    # candidates ------------------------------------------------------------------------------------
    def candidates(self, neighbours: int, min_similarity: float) -> _Candidates:
        """Hash pairs within the radius that can matter, and each file's ``neighbours`` nearest by cosine."""
        from lookalike.index import (
            cosine_rows,
            dihedral_pairs,
            embedding_neighbours,
            hash_pairs,
            query_scores,
            word_candidates,
        )

        n = self.ids.size
        parts_a, parts_b, parts_rank, parts_cos, parts_word_rank = [], [], [], [], []
        radius = _hash_radius(min_similarity)
        plain = self.has_hash & ~self.has_dihedral  # files indexed without the dihedral hashes (an upgrade left them)
        if self.hashes is not None and plain.any():
            rows = np.flatnonzero(self.has_hash)  # they meet every file by the plain hash
            a, b, _d = hash_pairs(np.ascontiguousarray(self.hashes[rows]), radius)
            parts_a.append(rows[a])
            parts_b.append(rows[b])
        if self.dihedral is not None and self.has_dihedral.any():
            rows = np.flatnonzero(self.has_dihedral)
            a, b, _d = dihedral_pairs(np.ascontiguousarray(self.dihedral[rows]), radius)
            parts_a.append(rows[a])
            parts_b.append(rows[b])
        parts_rank += [np.full(a.size, _NOT_RANKED, np.int64) for a in parts_a]
        parts_cos += [np.full(a.size, np.nan) for a in parts_a]
        parts_word_rank += [np.full(a.size, _NOT_RANKED, np.int64) for a in parts_a]
        if self.queries is not None and self.has_words.any():
            found, _scores = word_candidates(self.queries, WORD_NEIGHBOURS)
            k = found.shape[1]
            a, b = np.repeat(np.arange(n), k), found.ravel()
            valid = b >= 0
            a, b = a[valid], b[valid]
            parts_a.append(np.minimum(a, b))
            parts_b.append(np.maximum(a, b))
            parts_word_rank.append(np.tile(np.arange(k), n)[valid])
            parts_rank.append(np.full(a.size, _NOT_RANKED, np.int64))
            parts_cos.append(np.full(a.size, np.nan))
        if self.vectors is not None and self.has_vector.any():
            rows = np.flatnonzero(self.has_vector)
            found, cosines = embedding_neighbours(self.vectors if rows.size == n else self.vectors[rows], neighbours)
            k = found.shape[1]
            a = np.repeat(np.arange(rows.size), k)
            b = found.ravel()
            rank = np.tile(np.arange(k), rows.size)
            valid = b >= 0
            a, b, rank = rows[a[valid]], rows[b[valid]], rank[valid]
            parts_a.append(np.minimum(a, b))
            parts_b.append(np.maximum(a, b))
            parts_rank.append(rank)
            parts_cos.append(cosines.ravel()[valid].astype(np.float64))
            parts_word_rank.append(np.full(a.size, _NOT_RANKED, np.int64))
        if not parts_a:
            empty = np.zeros(0, np.int64)
            return _Candidates(empty, empty, empty, np.zeros(0), empty, np.zeros(0), empty)
        a, b, rank = np.concatenate(parts_a), np.concatenate(parts_b), np.concatenate(parts_rank)
        cosine, word_rank = np.concatenate(parts_cos), np.concatenate(parts_word_rank)
        key = a * n + b
        order = np.lexsort((rank, key))  # per pair, its best rank first (neighbour lists before hash pairs)
        key, rank, cosine, word_rank = key[order], rank[order], cosine[order], word_rank[order]
        start = np.concatenate(([True], key[1:] != key[:-1])) if key.size else np.zeros(0, bool)
        word_rank = np.minimum.reduceat(word_rank, np.flatnonzero(start)) if key.size else word_rank
        key, rank, cosine = key[start], rank[start], cosine[start]
        a, b = key // n, key % n
        distance = self.hash_distances(a, b)
        if self.vectors is not None:  # hash pairs that are not embedding neighbours
            both = np.isnan(cosine) & self.has_vector[a] & self.has_vector[b]
            cosine[both] = cosine_rows(self.vectors, a[both], b[both])
        words = np.full(a.size, np.nan)
        if self.queries is not None:  # the word evidence of the pairs that can be verified (it orders them)
            both = self.has_words[a] & self.has_words[b] & (
                (word_rank < WORD_RANK) | ((cosine >= VERIFY_MIN_COSINE) & (rank < VERIFY_RANK)))
            words[both] = query_scores(self.queries, a[both], b[both])
        return _Candidates(a, b, distance, cosine, rank, words, word_rank)

    def hash_distances(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """pHash distances of rows ``a`` and ``b``: the least over the 8 rotations and flips where both files
        hold the dihedral hashes, else the plain distance; -1 where a file has no hash."""
        from lookalike.index import dihedral_rows, hamming_rows

        distance = np.full(a.size, -1, np.int64)
        if self.hashes is None:
            return distance
        both = self.has_hash[a] & self.has_hash[b]
        turned = both & self.has_dihedral[a] & self.has_dihedral[b]
        if self.dihedral is not None and turned.any():
            distance[turned] = dihedral_rows(self.dihedral, a[turned], b[turned])
        both &= ~turned
        distance[both] = hamming_rows(self.hashes, a[both], b[both])
        return distance

    # verification ----------------------------------------------------------------------------------
    def load_features(self, file_ids: Sequence[int]) -> dict[int, LocalFeatures]:
        """Stored keypoints of ``file_ids`` (one catalogue read; safe in another thread while verification runs)."""
        return self.keypoints.load(file_ids)

    def features(self, file_id: int) -> LocalFeatures | None:
        """The RootSIFT features of a file: loaded, else stored, else extracted (None when it cannot be read)."""
        return self.keypoints.get(file_id)

    def mirrored_features(self, file_id: int) -> LocalFeatures | None:
        """RootSIFT features detected on the mirror image of a file's pixels (None when it cannot be read)."""
        return self.keypoints.mirrored(file_id)

    def forget(self, keep: Iterable[int] = ()) -> None:
        """Drop cached keypoints (they are large), except those of ``keep``."""
        self.keypoints.forget(keep)

    def _verified_score(self, a: int, b: int, distance: int | None, cosine: float | None,
                        score: float) -> tuple[float, bool]:
        """``score`` raised by keypoint verification of files ``a`` and ``b`` (also mirrored), if it succeeds;
        and whether both had keypoints (False: a file could not be read, or has no keypoints).

        The ratio-test matches are brute force's, as ``compare_features`` finds them
        (:func:`~lookalike.pipelines._verifier.verify_candidates`, one matrix product). The mirrored pass first matches
        the mirror image of ``a``'s keypoints (:func:`lookalike.features.mirror_features`: no decode); only
        where that verifies (a mirrored copy, not the many unrelated pairs) is ``a`` decoded, mirrored and
        described, and its verification gives the score, as a search's mirrored query would (the derived
        keypoints share about 70 % of those, so they find the copy but count fewer inliers).
        """
        fa, fb = self.features(a), self.features(b)
        if fa is None or fb is None or not len(fa) or not len(fb):
            return score, False
        flat = bool(self.flat[self.row[a]] or self.flat[self.row[b]])
        return _pair_score(fa, fb, distance, cosine, score, lambda: self.mirrored_features(a), flat), True

    def verified_scores(self, executor: Executor, batch: list[tuple[int, int, int | None, float | None, float]]
                        ) -> list[tuple[float, bool]]:
        """:meth:`_verified_score` of each pair, the verification done by a caller's executor (its workers may
        be processes or other machines: each task carries the two files' keypoints and the first file's path)."""
        out: list[tuple[float, bool] | None] = [None] * len(batch)
        futures = {}
        for k, (a, b, distance, cosine, score) in enumerate(batch):
            fa, fb = self.features(a), self.features(b)
            if fa is None or fb is None or not len(fa) or not len(fb):
                out[k] = (score, False)
            else:
                flat = bool(self.flat[self.row[a]] or self.flat[self.row[b]])
                futures[k] = executor.submit(_pair_score_task, fa, fb, distance, cosine, score, self.records[a].path,
                                             flat)
        for k, future in futures.items():
            out[k] = (future.result(), True)
        return [item for item in out if item is not None]

    def evidence(self, a: int, b: int) -> tuple[int | None, float | None]:
        ra, rb = self.row[a], self.row[b]
        distance = cosine = None
        if self.hashes is not None and self.has_hash[ra] and self.has_hash[rb]:
            distance = int(self.hash_distances(np.array([ra]), np.array([rb]))[0])
        if self.vectors is not None and self.has_vector[ra] and self.has_vector[rb]:
            cosine = float(np.dot(self.vectors[ra].astype(np.float32), self.vectors[rb].astype(np.float32)))
        return distance, cosine

    def known(self, a: int, b: int) -> bool:
        """Whether the score of files ``a`` and ``b`` is remembered."""
        return (min(a, b), max(a, b)) in self._scores

    def remember(self, a: int, b: int, score: float) -> None:
        self._scores[(min(a, b), max(a, b))] = score

    def global_score(self, a: int, b: int) -> tuple[float, int | None, float | None]:
        """``(score, hash distance, cosine)`` of files ``a`` and ``b`` from what is known without keypoints:
        a remembered score, 1 for the same content, else the ``copy`` similarity of the global evidence."""
        from lookalike.pipelines._search import copy_similarity

        key = (min(a, b), max(a, b))
        if key in self._scores:
            return self._scores[key], None, None
        if self.content[self.row[a]] == self.content[self.row[b]]:
            return 1.0, None, None
        distance, cosine = self.evidence(a, b)
        flat = bool(self.flat[self.row[a]] or self.flat[self.row[b]])
        return copy_similarity(hash_distance=distance, cosine=cosine, flat=flat), distance, cosine

    def similarity(self, a: int, b: int) -> float:
        """The remembered (or global) ``copy`` similarity of files ``a`` and ``b``."""
        key = (min(a, b), max(a, b))
        if key not in self._scores:
            self._scores[key] = self.global_score(a, b)[0]
        return self._scores[key]


def _pair_score(fa: LocalFeatures, fb: LocalFeatures, distance: int | None, cosine: float | None, score: float,
                mirrored: Callable[[], LocalFeatures | None], flat: bool = False) -> float:
    """``score`` raised by keypoint verification of two files' features, also mirrored (see
    :meth:`_Pairs._verified_score`); ``mirrored()`` gives the keypoints of the first file's mirrored pixels;
    ``flat``: one file has no structure (its hash and cosine are no evidence)."""
    from lookalike.features import mirror_features
    from lookalike.matching import copy_similarity, matched_share

    [result] = verify_candidates(fa, [fb])
    if not result.verified and (cosine is None or cosine >= MIRROR_MIN_COSINE):
        [result] = verify_candidates(mirror_features(fa), [fb])
        if result.verified:  # a mirrored copy: its score from the keypoints of the mirrored pixels
            extracted = mirrored()
            if extracted is not None and len(extracted):
                [result] = verify_candidates(extracted, [fb])
    if result.verified:
        score = max(score, copy_similarity(hash_distance=distance, cosine=cosine,
                                           inliers=result.n_inliers, verified=True, flat=flat,
                                           matched=matched_share(result.n_inliers, result.keypoints)))
    return score


def _pair_score_task(fa: LocalFeatures, fb: LocalFeatures, distance: int | None, cosine: float | None, score: float,
                     path_a: str, flat: bool = False) -> float:
    """:func:`_pair_score` as a task for any executor (module level, picklable arguments)."""
    return _pair_score(fa, fb, distance, cosine, score, lambda: extract_mirrored(path_a), flat)


def _keeper_key(record: FileRecord) -> tuple[int, int, str]:
    pixels = (record.width or 0) * (record.height or 0)
    return (-pixels, -(record.size or 0), record.path)


def _common_folder(paths: Sequence[str]) -> str:
    """``os.path.commonpath(paths)`` of absolute paths ("" for none), without splitting every path: the
    common prefix of all is that of the first and last in sorted order, cut back to a whole component."""
    if not paths:
        return ""
    prefix = os.path.commonprefix([min(paths), max(paths)])  # noqa: RUF071 (characters, then cut below)
    if not all(len(p) == len(prefix) or p[len(prefix)] == os.sep for p in paths):
        prefix = prefix[:prefix.rfind(os.sep) + 1]
    return os.path.normpath(prefix) if prefix.rstrip(os.sep) else os.sep


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def find_duplicates(
    source: Index | str | os.PathLike[str],
    other: str | os.PathLike[str] | None = None,
    *,
    min_similarity: float = DEFAULT_DUPLICATE_SIMILARITY,
    verify: bool = True,
    neighbours: int = 5,
    max_verify: int | None = VERIFY_MAX_PAIRS,
    index: Index | str | os.PathLike[str] | None = None,
    recursive: bool = True,
    jobs: Jobs = None,
    progress: Callable[[str, int, int], None] | None = None,
    timings: dict[str, float] | None = None,
    max_verified: Any = _UNSET,
    keep: str = "pixels",
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    min_size: int = 0,
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
        Nearest neighbours by embedding cosine examined for each image
        (default 5; verification looks at the first :data:`VERIFY_RANK` of
        them). Hash candidates are every pair within a few bits instead.
    max_verify : int or None, keyword-only
        Most pairs verified with keypoints in one call, the most plausible
        (highest cosine) first (default :data:`VERIFY_MAX_PAIRS`: about 20 s of
        verification on 2 cores; ``None``: no limit). What the budget left
        unverified is counted in :attr:`DuplicateReport.unverified`.
    index : Index or path, optional, keyword-only
        With a folder ``source``: the index to build or update for it (kept).
    recursive : bool, keyword-only
        With folders: also the images of their sub-folders (default, as ``Index.update``).
    jobs, progress : keyword-only
        Passed to the indexing (worker processes, or an executor; progress callback). A
        :class:`concurrent.futures.Executor` (Ray, Dask, loky...: :mod:`lookalike.parallel`) also runs the
        keypoint verification (the same pairs, in the same order, as on the default local threads).
    timings : dict, optional, keyword-only
        Filled with the seconds each stage took and the verification counts
        (for benchmarks; ``benchmarks/bench_duplicates.py`` prints them).
    max_verified : keyword-only
        Deprecated name of ``max_verify`` (a DeprecationWarning).
    keep, include, exclude, min_size : keyword-only
        Which file of a group is kept (``"pixels"``, ``"largest"``, ``"oldest"``, ``"newest"``,
        ``"shortest-path"``, ``"pattern:GLOB"``) and which files are considered (globs, a
        size in bytes): see :mod:`lookalike.pipelines._selection`.

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
    selection = Selection(keep, tuple(include), tuple(exclude), min_size)
    if isinstance(neighbours, bool) or not isinstance(neighbours, int) or neighbours < 1:
        raise ParameterError(f"neighbours must be a positive integer, got {neighbours!r}")
    if max_verified is not _UNSET:
        warnings.warn("find_duplicates(max_verified=...) is deprecated; use max_verify= (as --max-verify)",
                      DeprecationWarning, stacklevel=2)
        max_verify = max_verified
    if max_verify is not None and (isinstance(max_verify, bool) or not isinstance(max_verify, int) or max_verify < 0):
        raise ParameterError(f"max_verify must be a non-negative integer or None (no limit), got {max_verify!r}")
    budget = -1 if max_verify is None else max_verify
    jobs = check_jobs(jobs)
    executor = jobs if isinstance(jobs, Executor) else None
    from lookalike.index import Index

    if isinstance(source, Index):
        if other is not None:
            raise ParameterError("a two-folder search needs two folders; give source and other as folders")
        return _find(source, None, float(min_similarity), verify, neighbours, (), timings, budget=budget,
                     executor=executor, selection=selection)
    folders = [os.fspath(source)] + ([os.fspath(other)] if other is not None else [])
    for folder in folders:
        if not os.path.isdir(folder):
            raise ParameterError(f"expected a folder of images, got {folder!r}: it is not a folder")
    from lookalike.io import resolve_path

    roots = [resolve_path(f) for f in folders]
    if len(roots) == 2 and (_under(roots[0], roots[1]) or _under(roots[1], roots[0])):
        raise ParameterError(f"the two folders must not contain one another: {folders[0]!r} and {folders[1]!r}")
    with tempfile.TemporaryDirectory(prefix="lookalike-duplicates-") as tmp:
        opened, owned = _index_for(index, os.path.join(tmp, "index"))
        try:
            errors: list[FileError] = []
            for folder in folders:
                errors += opened.update(folder, recursive=recursive, jobs=jobs, progress=progress).errors
            return _find(opened, roots, float(min_similarity), verify, neighbours, tuple(errors), timings,
                         budget=budget, executor=executor, recursive=recursive, selection=selection,
                         linked=_linked_files(folders, roots, recursive))
        finally:
            if owned:
                opened.close()


def _linked_files(folders: Sequence[str], roots: Sequence[str], recursive: bool) -> dict[str, int]:
    """``{real path: folder number}`` of the files that symbolic links in the folders point to outside them.

    Listing follows links (as ``index build`` and ``matrix`` do) and the index keeps each file
    under its real path; these files belong to the folder holding the link.
    """
    from lookalike.io import find_images, resolve_path

    linked: dict[str, int] = {}
    for number, folder in enumerate(folders):
        for image in find_images(folder, recursive=recursive, check_content=False).images:
            real = resolve_path(image.path)
            if not any(_under(real, r) for r in roots) and real not in linked:
                linked[real] = number
    return linked


def _index_for(index: Index | str | os.PathLike[str] | None, scratch: str) -> tuple[Index, bool]:
    from lookalike.index import Index

    if isinstance(index, Index):
        return index, False
    path = scratch if index is None else os.fspath(index)
    if os.path.exists(os.path.join(path, "manifest.json")):
        return Index.open(path), True
    return Index.create(path), True


def _find(index: Index, roots: Sequence[str] | None, min_similarity: float, verify: bool, neighbours: int,
          errors: tuple[FileError, ...], timings: dict[str, float] | None = None, *,
          budget: int = VERIFY_MAX_PAIRS, executor: Executor | None = None, recursive: bool = True,
          selection: Selection | None = None, linked: dict[str, int] | None = None) -> DuplicateReport:
    """The report over an index's files (``budget``: most pairs verified, -1 for no limit; ``linked``: files
    outside the roots that links inside them point to, with the number of the root holding the link)."""
    selection = selection or Selection()
    linked = linked or {}
    clock = time.perf_counter()
    stages: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        stages[name] = stages.get(name, 0.0) + now - clock
        clock = now

    records = {r.id: r for r in index.records(status="ok")}
    if roots is not None:
        records = {i: r for i, r in records.items()
                   if r.path in linked or any(_under(r.path, root) if recursive else os.path.dirname(r.path) == root
                                              for root in roots)}
    records = {i: r for i, r in records.items() if selection.wanted(r)}
    two = roots is not None and len(roots) == 2
    side = {i: linked[r.path] if r.path in linked else int(_under(r.path, roots[1]))
            for i, r in records.items()} if two and roots is not None else {}
    pairs = _Pairs(index, records, verify)
    ids = pairs.ids
    side_rows = np.array([side[int(i)] for i in ids], dtype=np.int64) if side else np.zeros(ids.size, np.int64)
    lap("load")
    union = _join_exact(pairs.same, side if two else None)
    lap("exact")
    found = pairs.candidates(neighbours, min_similarity)
    lap("candidates")
    keep = pairs.content[found.a] != pairs.content[found.b]  # exact copies are joined above
    if two:
        keep &= side_rows[found.a] != side_rows[found.b]
    a, b = found.a[keep], found.b[keep]
    distance, cosine, rank = found.distance[keep], found.cosine[keep], found.rank[keep]
    words, word_rank = found.words[keep], found.word_rank[keep]
    scores = global_similarity(distance, cosine, pairs.flat_pairs(a, b))
    accepted = scores >= min_similarity
    for i, j, s in zip(ids[a[accepted]].tolist(), ids[b[accepted]].tolist(), scores[accepted].tolist(), strict=True):
        union.join(i, j)
        pairs.remember(i, j, s)
    lap("scoring")
    if verify:
        # embedding neighbours close by cosine (NaN: False), and the best word neighbours, whatever their cosine
        gate = ~accepted & (((cosine >= VERIFY_MIN_COSINE) & (rank < VERIFY_RANK)) | (word_rank < WORD_RANK))
        candidates = np.flatnonzero(gate)
        # the most plausible first: by word score where the index holds words, then by cosine
        evidence = np.nan_to_num(words[candidates], nan=-1.0)
        order = candidates[np.lexsort((-np.nan_to_num(cosine[candidates], nan=-2.0), -evidence))]
        todo = _PairList(ids[a[order]], ids[b[order]], distance[order], cosine[order], scores[order])
        unverified = _verify_pairs(pairs, union, todo, min_similarity, budget, executor)
        pairs.forget()
    else:
        unverified = 0
    lap("verification")
    groups = _groups(pairs, union, records, side if two else None, min_similarity, verify, executor,
                     keeper_key=selection.keeper_key)
    lap("grouping")
    if timings is not None:
        timings.update(stages)
        timings.update(candidate_pairs=float(found.a.size), accepted_pairs=float(accepted.sum()),
                       verified_pairs=float(pairs.stats["verified_pairs"]), verify_s=float(pairs.stats["verify_s"]),
                       missing_pairs=float(pairs.stats["missing_pairs"]))
    shown_roots = tuple(roots) if roots is not None else (_common_folder([r.path for r in records.values()]),)
    return DuplicateReport(tuple(_with_links(g) for g in groups), tuple(shown_roots), len(records), min_similarity,
                           errors, unverified)


def _with_links(group: DuplicateGroup) -> DuplicateGroup:
    """The group with its hard links marked, and its keeper ``exact`` only when every member is."""
    import dataclasses

    def inode(path: str) -> tuple[int, int] | None:
        try:
            info = os.stat(path)
        except OSError:
            return None
        return (info.st_dev, info.st_ino) if info.st_nlink > 1 else None

    own = inode(group.keeper.path)
    members = tuple(dataclasses.replace(m, hard_link=True) if own is not None and inode(m.path) == own else m
                    for m in group.members)
    keeper = dataclasses.replace(group.keeper, exact=all(m.exact for m in members))
    return DuplicateGroup(keeper, members)


def _join_exact(keys: dict[int, str], side: dict[int, int] | None) -> _Union:
    """Files with the same content key joined (:meth:`_Pairs._content_keys`: the same bytes, or a flat image's
    same pixels; with two folders, ``side``: only across them)."""
    union = _Union()
    by_hash: dict[str, list[int]] = {}
    for i, key in keys.items():
        by_hash.setdefault(key, []).append(i)
    for same in by_hash.values():
        for a in same[1:]:
            if side is None or side.get(a, 0) != side.get(same[0], 0):
                union.join(same[0], a)
        if side is not None:  # an exact copy on each side joins through any pair across
            left = [i for i in same if side.get(i, 0) == 0]
            for b in (i for i in same if side.get(i, 0) == 1):
                if left:
                    union.join(left[0], b)
    return union


def _groups(pairs: _Pairs, union: _Union, records: dict[int, FileRecord], side: dict[int, int] | None,
            min_similarity: float, verify: bool, executor: Executor | None = None, *,
            keeper_key: Callable[[FileRecord], Any] | None = None) -> list[DuplicateGroup]:
    """The groups of the joined files: a keeper each, every other member with its similarity to the keeper
    (verified directly where only keypoints can lift it); with two folders (``side``), kept by the first."""
    import dataclasses

    two = side is not None
    sides = side or {}
    components: dict[int, list[int]] = {}
    for i in sorted(union.members()):  # files in a group of two or more
        components.setdefault(union.find(i), []).append(i)
    plans: list[tuple[int, list[int]]] = []
    needed: list[tuple[int, int, int | None, float | None, float]] = []  # keeper-member pairs only keypoints can lift
    for members in components.values():
        eligible = [i for i in members if sides.get(i, 0) == 0] if two else members
        rule = keeper_key or _keeper_key
        keeper = min(eligible, key=lambda i: rule(records[i]))
        others = [i for i in members if i != keeper and (not two or sides.get(i, 0) == 1)]
        if not others:
            continue
        plans.append((keeper, others))
        for i in others:
            if pairs.known(keeper, i) or _exact(records[keeper], records[i]):
                continue
            score, distance, cosine = pairs.global_score(keeper, i)
            if verify and score < min_similarity:  # whatever the cosine: a rotated crop can embed far from its original
                needed.append((keeper, i, distance, cosine, score))
            else:
                pairs.remember(keeper, i, score)
    if needed:  # joined through others: verified directly, every one (no budget: they are in the report)
        _verify_pairs(pairs, None, _PairList.of(needed), min_similarity, -1, executor)
        pairs.forget()
    groups: list[DuplicateGroup] = []
    for keeper, others in plans:
        rows = []
        for i in others:
            exact = _exact(records[keeper], records[i])
            similarity = 1.0 if exact else pairs.similarity(keeper, i)
            member = _member(records[i], similarity, exact, sides.get(i, 0))
            through = union.via(keeper, i) if similarity < min_similarity else None
            if through is not None:  # below the threshold to the keeper: say what put it in the group
                member = dataclasses.replace(member, via=records[through].path)
            rows.append(member)
        rows.sort(key=lambda m: (-m.similarity, m.path))
        groups.append(DuplicateGroup(_member(records[keeper], 1.0, True, sides.get(keeper, 0)), tuple(rows)))
    groups.sort(key=lambda g: (-len(g.members), g.keeper.path))
    pairs.forget()
    return groups


@dataclass(frozen=True)
class _PairList:
    """Pairs of file ids to verify, in order, as arrays: hash distance -1 and cosine NaN where unknown."""

    a: np.ndarray
    b: np.ndarray
    distance: np.ndarray
    cosine: np.ndarray
    score: np.ndarray

    @classmethod
    def of(cls, items: Sequence[tuple[int, int, int | None, float | None, float]]) -> _PairList:
        a, b, distance, cosine, score = zip(*items, strict=True)
        return cls(np.array(a, np.int64), np.array(b, np.int64),
                   np.array([-1 if d is None else d for d in distance], np.int64),
                   np.array([math.nan if c is None else c for c in cosine], np.float64), np.array(score, np.float64))

    def __len__(self) -> int:
        return int(self.a.size)

    def items(self, start: int, stop: int) -> list[tuple[int, int, int | None, float | None, float]]:
        """Pairs ``start`` to ``stop`` as ``(a, b, distance or None, cosine or None, score)``."""
        part = slice(start, stop)
        return [(a, b, None if d < 0 else d, None if c != c else c, score) for a, b, d, c, score in zip(
            self.a[part].tolist(), self.b[part].tolist(), self.distance[part].tolist(), self.cosine[part].tolist(),
            self.score[part].tolist(), strict=True)]


def _verify_pairs(pairs: _Pairs, union: _Union | None, todo: _PairList, min_similarity: float, budget: int,
                  executor: Executor | None = None) -> int:
    """Verify pairs in order, on a few threads (OpenCV releases the GIL), and remember their scores. With a
    ``union``: skip pairs that earlier joins already put in one group, join those that reach ``min_similarity``,
    and verify at most ``budget`` pairs (-1: all); returns how many pairs the budget left unverified. The
    keypoints of the next :data:`_LOAD_CHUNK` pairs are read from the index by another thread while these are
    verified. With ``executor`` (the caller's), the verification runs there instead of on local threads; the
    pairs and their order are the same."""
    from concurrent.futures import Future, ThreadPoolExecutor
    from contextlib import nullcontext

    workers = max(1, min(VERIFY_THREADS, os.cpu_count() or 1))
    n_chunks = -(-len(todo) // _LOAD_CHUNK)
    chunks: dict[int, list[tuple[int, int, int | None, float | None, float]]] = {}
    loads: dict[int, Future[dict[int, LocalFeatures]]] = {}
    merged: set[int] = set()
    position = 0
    own = executor is None
    local = ThreadPoolExecutor(max_workers=workers) if executor is None else None
    pool: Executor = local if local is not None else executor  # type: ignore[assignment]
    with local if local is not None else nullcontext(), ThreadPoolExecutor(max_workers=1) as loader:

        def chunk_items(k: int) -> list[tuple[int, int, int | None, float | None, float]]:
            if k not in chunks:
                chunks[k] = todo.items(k * _LOAD_CHUNK, (k + 1) * _LOAD_CHUNK)
            return chunks[k]

        def submit(chunk: int) -> None:
            for k in range(chunk, min(n_chunks, chunk + 2)):  # this chunk and the next
                if k not in loads and k not in merged:
                    wanted = {i for item in chunk_items(k) for i in item[:2]} - pairs.keypoints.features.keys()
                    loads[k] = loader.submit(pairs.load_features, sorted(wanted))

        def merge(chunk: int) -> None:
            submit(chunk)
            if chunk not in merged:
                for i, features in loads.pop(chunk).result().items():
                    pairs.keypoints.features.setdefault(i, features)
                merged.add(chunk)

        while position < len(todo) and (budget < 0 or pairs.stats["verified_pairs"] < budget):
            batch: list[tuple[int, int, int | None, float | None, float]] = []
            room = len(todo) if budget < 0 else int(budget - pairs.stats["verified_pairs"])
            first = position
            while position < len(todo) and len(batch) < min(4 * workers, room):
                item = chunk_items(position // _LOAD_CHUNK)[position % _LOAD_CHUNK]
                position += 1
                if union is None or union.find(item[0]) != union.find(item[1]):
                    batch.append(item)
            if not batch:
                continue
            for chunk in range(first // _LOAD_CHUNK, (position - 1) // _LOAD_CHUNK + 1):
                merge(chunk)
            started = time.perf_counter()
            results = (list(pool.map(lambda item: pairs._verified_score(*item), batch)) if own
                       else pairs.verified_scores(pool, batch))
            pairs.stats["verify_s"] += time.perf_counter() - started
            pairs.stats["verified_pairs"] += len(batch)
            pairs.stats["missing_pairs"] += sum(not tried for _score, tried in results)
            for (a, b, *_rest), (score, _tried) in zip(batch, results, strict=True):
                pairs.remember(a, b, score)
                if union is not None and score >= min_similarity:
                    union.join(a, b)
            if len(pairs.keypoints) > _FEATURE_CACHE:  # keep what the next pairs need
                here = position // _LOAD_CHUNK
                pairs.forget(i for k in (here, here + 1) if k in chunks for item in chunks[k] for i in item[:2])
            for k in [k for k in chunks if k < position // _LOAD_CHUNK]:
                del chunks[k]
        for k in list(loads):  # prefetched beyond the budget
            loads.pop(k).cancel()
    if union is None:
        return len(todo) - position
    return int(np.count_nonzero(union.roots(todo.a[position:]) != union.roots(todo.b[position:])))


def _exact(a: FileRecord, b: FileRecord) -> bool:
    return a.content_hash is not None and a.content_hash == b.content_hash


def _member(record: FileRecord, similarity: float, exact: bool, root: int) -> DuplicateMember:
    return DuplicateMember(record.path, float(similarity), exact, record.width, record.height, record.size, root)
