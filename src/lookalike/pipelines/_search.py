"""``search``: find the indexed images that look like a query, with a similarity whose meaning is stated.

Two kinds of similarity (``kind=``):

``"copy"`` (default): the same picture or the same scene, edited: cropped, rotated, mirrored,
re-encoded, resized, recoloured, captioned, framed. Copy detection systems work in two stages
(Douze et al., "Evaluation of GIST descriptors for web-scale image search", CIVR 2009; Philbin et
al., "Object retrieval with large vocabularies and fast spatial matching", CVPR 2007), and so does
this one:

1. Candidates from two sources: the perceptual hash (pHash) of the query under each of the 8
   rotations and flips of the square, searched by Hamming distance against the indexed hashes
   (a 90-degree rotated or mirrored copy is then at distance 0), and the embedding cosine of the
   query and of its mirrored and 90/270-degree rotated views (crops and small rotations, which
   move every hash bit, keep most of the embedding).
2. Verification of a short list (the best candidates by the global evidence): RootSIFT keypoints
   (Arandjelovic and Zisserman, CVPR 2012) of the query and of the candidate, Lowe's ratio test
   and a homography fitted with MAGSAC++ (Barath et al., CVPR 2020) by
   :func:`lookalike.matching.compare_features`; a mirrored copy is tried with the mirrored query.
   The candidates' keypoints are read from the index (descriptor ``rootsift``, stored when the
   files were indexed; :meth:`lookalike.index.Index.local_features`); an index built without
   them has them extracted from the files at query time, several times slower.

The similarity comes from the evidence, three calibrated pieces of it (constants in
:mod:`lookalike.matching._similarity`, fitted by ``benchmarks/calibrate_search.py``)::

    z_hash   = A_HASH + B_HASH * max(0, HASH_MARGIN - hash_distance)
    z_cosine = A_COSINE + B_COSINE * cosine
    z_verify = A_VERIFY + B_VERIFY * log(1 + inliers) + C_VERIFY * matched   (verified candidates only;
               matched: inliers over the keypoints of the image with fewer)
    similarity = 1 / (1 + exp(-max(z_hash, z_cosine, z_verify)))    (1.0 for byte-identical files)

Each line is a logistic regression of "this candidate is the query's original" on the candidates
of a calibration set (``CALIBRATION``); the similarity is the strongest piece of evidence, so it
is monotone in each. On that set, results at >= 0.70 are right with >= 93% precision even
counting every other photo of the same object as wrong; on the separate benchmark of
``benchmarks/bench_neardup.py`` see benchmarks/README.md. ``verify=False`` drops ``z_verify``:
faster, and blind to most crops.

Results are ordered by similarity; where similarities tie (several files at the same hash
distance with nothing to verify, as for a symbol drawn alike in many photos), by the correlation
of small grey thumbnails of query and candidate (:data:`TIE_THUMBNAIL`), then by cosine.

``"semantic"``: pictures of the same kind of thing, as an image search engine's "visually
similar": the embedding cosine of the query, mapped by a logistic fitted on labelled photos
(Caltech-101, 13 classes; ``SEMANTIC_CALIBRATION``) so that >= 0.70 means the same class with
>= 80% precision on that data.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from lookalike.errors import ImageReadError, LookalikeError, ParameterError
from lookalike.io import display_name
from lookalike.matching import (  # noqa: F401 - the calibrated model, once, in matching; named here as before
    CALIBRATION,
    HASH_MARGIN,
    SEMANTIC_CALIBRATION,
    copy_logit,
    copy_similarity,
    flat_hashes,
    matched_share,
    semantic_similarity,
    similarity_from_logit,
)
from lookalike.pipelines._query import _as_list, _Query, _query_name, _read_query, query_embedder
from lookalike.pipelines._verifier import KeypointCache, verify_candidates

if TYPE_CHECKING:
    from lookalike.features import LocalFeatures
    from lookalike.index import Index

__all__ = [
    "CALIBRATION",
    "EMBEDDING_VIEWS",
    "SEARCH_KINDS",
    "SEMANTIC_CALIBRATION",
    "Evidence",
    "SearchHit",
    "SearchResult",
    "copy_similarity",
    "search",
    "search_arrays",
    "semantic_similarity",
]

#: The kinds of similarity :func:`search` computes.
SEARCH_KINDS = ("copy", "semantic")

# -- candidate generation and verification settings -------------------------------------------------

#: Candidates taken from the hash (per dihedral variant) and from the embedding (per view).
HASH_CANDIDATES = 8
EMBEDDING_CANDIDATES = 16
#: The query's embedding views, in the order ``views=n`` takes the first n of: the query, its mirror
#: image, and its 90- and 270-degree rotations (for copies; a semantic search embeds the query only).
EMBEDDING_VIEWS = ("identity", "mirror", "rot90", "rot270")
#: Candidates verified with keypoints (the best by the global evidence).
SHORTLIST = 24
# Keypoints are detected at lookalike.index.VERIFY_SIZE (longest side), at most VERIFY_KEYPOINTS of
# them: lookalike.index._descriptors computes them, for queries and for the index's stored keypoints.
#: Threads that verify the short list (OpenCV's matcher and MAGSAC++ release the GIL).
VERIFY_THREADS = 2
#: Candidates whose similarity ties another's (the same evidence: several files at the same hash
#: distance with nothing to verify, as for a symbol drawn alike in many photos, or a copy too small
#: or too blocky for keypoints) are ordered by the correlation of TIE_THUMBNAIL x TIE_THUMBNAIL grey
#: thumbnails with the query's (the best of its 8 rotations and flips), then by cosine. Only ties
#: at or above TIE_MIN_SIMILARITY among the results shown, at most TIE_MAX files decoded a query.
#: The similarities themselves do not change.
TIE_THUMBNAIL = 32
TIE_MIN_SIMILARITY = 0.5
TIE_MAX = 16

_MISSING = -np.inf


class SearchHit(NamedTuple):
    """One result: an indexed file and its similarity to the query, in [0, 1]."""

    path: str
    similarity: float


@dataclass(frozen=True)
class Evidence:
    """What a result's similarity was computed from.

    Attributes
    ----------
    id : int
        The file's id in the index.
    cosine : float or None
        Embedding cosine (best over the query views), None without an embedding.
    hash_distance : int or None
        pHash Hamming distance in bits (least over the 8 rotations and flips of the query),
        None without a hash.
    inliers : int
        Keypoint matches that agree on one homography (0 when not verified or not tried).
    verified : bool
        Keypoint verification found a sane geometry.
    mirrored : bool
        The verified geometry was found with the mirrored query.
    tried : bool
        Keypoint verification was run on this candidate.
    exact : bool
        The query's bytes equal the file's (same SHA-256).
    matched : float
        Inliers over the keypoints of the image with fewer (0 when not verified).
    flat : bool
        The query or the file has no structure (a flat pHash, :func:`lookalike.matching.flat_hashes`):
        the hash and the cosine are then no evidence of a copy.
    same_pixels : bool
        Both are flat and decode to the same pixels (:func:`lookalike.matching.pixel_digest`): a copy.
    """

    id: int
    cosine: float | None
    hash_distance: int | None
    inliers: int = 0
    verified: bool = False
    mirrored: bool = False
    tried: bool = False
    exact: bool = False
    matched: float = 0.0
    flat: bool = False
    same_pixels: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "cosine": self.cosine, "hash_distance": self.hash_distance,
                "inliers": self.inliers, "verified": self.verified, "mirrored": self.mirrored,
                "exact": self.exact, "matched": self.matched, "flat": self.flat, "same_pixels": self.same_pixels}


@dataclass(frozen=True)
class SearchResult:
    """The results of one query, best first.

    Attributes
    ----------
    query : str
        The query as given (a path), or ``"<array N>"`` / ``"<image N>"`` for in-memory images.
    results : tuple of SearchHit
        ``(path, similarity)`` pairs, highest similarity first.
    evidence : tuple of Evidence
        Aligned with ``results``: what each similarity was computed from.
    kind : str
        ``"copy"`` or ``"semantic"``.
    error : str or None
        Why the query could not be answered (only with ``on_error="record"``); ``results`` is
        then empty.
    missing : tuple of str
        The paths of ``results`` that are no longer on disk (deleted or moved since they
        were indexed: the index is out of date; ``Index.update`` or ``lookalike index
        update`` brings it in line). They stay in ``results``: their stored descriptors matched.
    """

    query: str
    results: tuple[SearchHit, ...] = ()
    evidence: tuple[Evidence, ...] = field(default=(), repr=False)
    kind: str = "copy"
    error: str | None = None
    missing: tuple[str, ...] = ()

    def to_dict(self, *, roots: Iterable[str | None] = (), show_paths: bool = True) -> dict[str, Any]:
        """The JSON form: what ``lookalike search --json`` prints (a line per query) and ``POST /api/v1/search``
        returns (plus a ``thumbnail`` link on each row).

        ``{"query", "kind", "results": [{"id", "name", "path", "similarity", "evidence"}, ...]}`` plus ``"error"``
        and ``"missing"`` (the results no longer on disk) when set. ``id`` is the index's file id; ``name`` the path
        relative to the first of ``roots`` that holds it, else the file name (:func:`lookalike.io.display_name`);
        ``path`` the indexed path, left out with ``show_paths=False`` (a server that does not show its folders);
        ``evidence`` what the similarity was computed from (:class:`Evidence`). ``similarity_scale`` is
        ``"calibrated-copy"`` or ``"calibrated-semantic"``: the calibrated similarity of the module docstring (>=
        0.70: right in >= 90% / 80% of cases on the calibration set), not the inlier score of
        :func:`lookalike.pipelines.match` (``"inliers"``).
        """
        roots = tuple(roots)
        rows: list[dict[str, Any]] = []
        for hit, evidence in zip(self.results, self.evidence, strict=True):
            row: dict[str, Any] = {"id": evidence.id, "name": display_name(hit.path, roots)}
            if show_paths:
                row["path"] = hit.path
            row["similarity"] = round(float(hit.similarity), 6)
            row["evidence"] = evidence.to_dict()
            rows.append(row)
        data: dict[str, Any] = {"query": self.query, "kind": self.kind, "similarity_scale": f"calibrated-{self.kind}",
                                "results": rows}
        if self.error is not None:
            data["error"] = self.error
        if self.missing:
            # results deleted since they were indexed (names only where paths are not shown)
            data["missing"] = [p if show_paths else display_name(p, roots) for p in self.missing]
        return data


# -- the evidence of one candidate ------------------------------------------------------------------

def _logit(e: Evidence, *, use_verify: bool) -> float:
    if e.exact or e.same_pixels:
        return math.inf
    return copy_logit(hash_distance=e.hash_distance, cosine=e.cosine, inliers=e.inliers if use_verify else 0,
                      verified=e.verified and use_verify, matched=e.matched if use_verify else 0.0, flat=e.flat)



# -- the engine --------------------------------------------------------------------------------------

class _Engine:
    """Per-call state: the open index, its descriptors, the embedder and the keypoint cache."""

    def __init__(self, index: Index, kind: str, views: int = len(EMBEDDING_VIEWS)) -> None:
        self.index = index
        self.kind = kind
        self.views = views
        self.hash_spec = self._first(index, "hash", prefer="phash")
        self.embed_spec = self._first(index, "embedding")
        if kind == "semantic" and self.embed_spec is None:
            raise ParameterError(
                f"semantic search needs an index with the 'embedding' descriptor; the index at {index.path!r} "
                f"holds {', '.join(s.name for s in index.descriptors)}: build one with the embedding"
            )
        specs = [s for s in (self.hash_spec, self.embed_spec) if s is not None]
        self.draft = (max(s.draft[0] for s in specs), max(s.draft[1] for s in specs))
        self._embedder: Any = None
        self.keypoints = KeypointCache(index)  # the candidates' keypoints: stored, else extracted
        self._records: dict[int, Any] = {}
        self.stored_keypoints = self.keypoints.stored
        self._pool: Any = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _map(self, function: Any, items: list[Any]) -> list[Any]:
        """``[function(item) for item in items]``, on VERIFY_THREADS threads when there are several."""
        if VERIFY_THREADS <= 1 or len(items) <= 1:
            return [function(item) for item in items]
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(VERIFY_THREADS, thread_name_prefix="lookalike-verify")
        return list(self._pool.map(function, items))

    @staticmethod
    def _first(index: Index, kind: str, *, prefer: str | None = None) -> Any:
        specs = [s for s in index.descriptors if s.kind == kind]
        for spec in specs:
            if spec.name == prefer:
                return spec
        return specs[0] if specs else None

    def embedder(self) -> Any:
        if self._embedder is None:
            self._embedder = _embedder(str(self.embed_spec.params.get("model", "efficientnet-lite0")))
        return self._embedder

    # candidates ----------------------------------------------------------------------------------
    def global_evidence(self, query: _Query, k_hash: int, k_embed: int) -> dict[int, Evidence]:
        """Candidates from the hash and the embedding, each with both pieces of global evidence."""
        from lookalike.features import dihedral_hashes, hamming_distance

        found: set[int] = set()
        hashes = views = None
        if self.hash_spec is not None and self.kind == "copy":
            # the 8 symmetries of one resized grid (exact=False): 1.5 ms instead of 8.6, within 2 bits
            hashes = dihedral_hashes(query.small, method=str(self.hash_spec.params.get("method", "phash")),
                                     hash_size=int(self.hash_spec.params.get("hash_size", 8)), exact=False)
            _d, ids = self.index.search_vectors(hashes, k_hash, descriptor=self.hash_spec.name)
            found.update(int(i) for i in ids.ravel() if i >= 0)
        if self.embed_spec is not None:
            image = query.small
            pictures = [image] if self.kind == "semantic" else [
                image, image[:, ::-1], np.rot90(image), np.rot90(image, 3)][: self.views]
            views = self.embedder().embed([np.ascontiguousarray(p) for p in pictures])
            _c, ids = self.index.search_vectors(views, k_embed, descriptor=self.embed_spec.name)
            found.update(int(i) for i in ids.ravel() if i >= 0)
        ids_array = np.array(sorted(found), dtype=np.int64)
        distance: dict[int, int] = {}
        cosine: dict[int, float] = {}
        flat: set[int] = set()
        if hashes is not None and ids_array.size:
            got, vectors = self.index.vectors(self.hash_spec.name, ids_array)
            d = hamming_distance(hashes[None, :, :], vectors[:, None, :]).min(axis=1)
            distance = {int(i): int(v) for i, v in zip(got, d, strict=True)}
            if str(self.hash_spec.params.get("method", "phash")) == "phash":  # no structure: no evidence
                flat = set(ids_array.tolist()) if bool(flat_hashes(hashes[0])) else {
                    int(i) for i in got[flat_hashes(vectors)]}
        if views is not None and ids_array.size:
            got, vectors = self.index.vectors(self.embed_spec.name, ids_array)
            c = (vectors.astype(np.float32) @ views.T).max(axis=1)
            cosine = {int(i): float(v) for i, v in zip(got, c, strict=True)}
        exact: set[int] = set()
        if query.sha256 is not None and ids_array.size:
            exact = {r.id for r in self.index.records(ids_array) if r.content_hash == query.sha256}
        same = self.same_pixels(query, [i for i in flat if distance.get(i) == 0 and i not in exact]) if (
            hashes is not None and bool(flat_hashes(hashes[0]))) else set()
        return {
            i: Evidence(i, cosine.get(i), distance.get(i), exact=i in exact, flat=i in flat, same_pixels=i in same)
            for i in (int(v) for v in ids_array) if i in distance or i in cosine
        }

    def same_pixels(self, query: _Query, ids: list[int]) -> set[int]:
        """Those of the files ``ids`` (flat, like the flat query) whose decoded pixels equal the query's."""
        from lookalike.matching import pixel_digest

        if not ids:
            return set()
        try:
            mine = pixel_digest(query.data if query.data is not None else query.source)
        except (LookalikeError, OSError, ValueError):
            return set()
        same = set()
        for file_id, path in zip(ids, self.index.paths(ids), strict=True):
            try:
                if path is not None and pixel_digest(path) == mine:
                    same.add(file_id)
            except (LookalikeError, OSError, ValueError):
                pass
        return same

    # verification --------------------------------------------------------------------------------
    def candidate_features(self, file_id: int) -> LocalFeatures | None:
        """The keypoints of an indexed file: stored in the index, else extracted from the file."""
        return self.candidates_features([file_id])[file_id]

    def candidates_features(self, ids: list[int]) -> dict[int, LocalFeatures | None]:
        """:meth:`candidate_features` of several files: one catalogue read for the stored ones."""
        return self.keypoints.many(ids, map=self._map)  # extractions on the verification threads

    def verify(self, query: _Query, e: Evidence) -> Evidence:
        """Verify one candidate (see :meth:`verify_many`)."""
        return self.verify_many(query, [e])[0]

    def verify_many(self, query: _Query, candidates: list[Evidence]) -> list[Evidence]:
        """Keypoint verification of candidates, in order: the query, then (for those that fail) its mirror.

        Each candidate gets exactly what :func:`lookalike.matching.compare_features` gives for the
        query's features and its own (brute-force ratio test, MAGSAC++); the ratio-test matches of
        all candidates come from one matrix product a candidate
        (:func:`~lookalike.pipelines._verifier.verify_candidates`).
        """
        theirs = self.candidates_features([e.id for e in candidates])
        out = list(candidates)
        todo: list[tuple[int, LocalFeatures]] = []
        for j, e in enumerate(candidates):
            features = theirs[e.id]
            if features is None or len(features) == 0:
                out[j] = _replace(e, tried=True)
            else:
                todo.append((j, features))
        if len(todo) > 1:
            # Both query extractions at once (SIFT releases the GIL): nearly every short list has a
            # candidate that fails unmirrored, so the mirrored features are almost always needed.
            self._map(query.features, [False, True])
        for mirrored in (False, True):
            if not todo:
                break
            ours = query.features(mirrored)
            results = verify_candidates(ours, [features for _j, features in todo], map=self._map)
            failed = []
            for (j, features), result in zip(todo, results, strict=True):
                if result.verified:
                    out[j] = _replace(candidates[j], tried=True, verified=True, inliers=result.n_inliers,
                                      matched=matched_share(result.n_inliers, result.keypoints),
                                      mirrored=mirrored)
                else:
                    out[j] = _replace(candidates[j], tried=True)
                    failed.append((j, features))
            todo = failed
        return out

    # one query -----------------------------------------------------------------------------------
    def rank(self, query: _Query, *, top: int, verify: bool, shortlist: int) -> list[tuple[float, float, Evidence]]:
        """``(similarity, logit, evidence)`` of the best candidates, best first."""
        if self.kind == "semantic":
            evidence = self.global_evidence(query, 0, top)
            scored = [(float(semantic_similarity(e.cosine or 0.0)), float(e.cosine or 0.0), e)
                      for e in evidence.values()]
        else:
            evidence = self.global_evidence(query, max(HASH_CANDIDATES, top), max(EMBEDDING_CANDIDATES, top))
            order = sorted(evidence.values(), key=lambda e: (-_logit(e, use_verify=False), -(e.cosine or 0.0), e.id))
            if verify:
                chosen = [rank for rank, e in enumerate(order) if rank < shortlist and not e.exact]
                for rank, e in zip(chosen, self.verify_many(query, [order[r] for r in chosen]), strict=True):
                    order[rank] = e
            scored = []
            for e in order:
                z = _logit(e, use_verify=verify)
                scored.append((1.0 if z == math.inf else similarity_from_logit(z), z, e))
        scored.sort(key=lambda t: (-t[0], -t[1], -(t[2].cosine or 0.0), t[2].id))
        if self.kind == "copy":
            ties = self.tie_breaks(query, scored, top)
            if ties:
                scored.sort(key=lambda t: (-t[0], -t[1], -ties.get(t[2].id, -2.0), -(t[2].cosine or 0.0), t[2].id))
        return scored[:top]

    def tie_breaks(self, query: _Query, scored: list[tuple[float, float, Evidence]], top: int) -> dict[int, float]:
        """Thumbnail correlations (see :data:`TIE_THUMBNAIL`) of the candidates tied among the first ``top``."""
        from collections import Counter

        from lookalike.matching import load_for_descriptors

        keys = [(similarity, z) for similarity, z, _e in scored]
        count = Counter(keys)
        shown = {key for key in keys[:top]
                 if count[key] > 1 and math.isfinite(key[1]) and key[0] >= TIE_MIN_SIMILARITY}
        tied = [e.id for (similarity, z, e) in scored if (similarity, z) in shown][:TIE_MAX]
        if not tied:
            return {}
        mine = np.stack([_thumbnail(np.rot90(view, turn)) for view in (query.small, query.small[:, ::-1])
                         for turn in range(4)])
        draft = (2 * TIE_THUMBNAIL, 2 * TIE_THUMBNAIL)
        correlations: dict[int, float] = {}
        for file_id, path in zip(tied, self.index.paths(tied), strict=True):
            try:
                theirs = _thumbnail(load_for_descriptors(path, draft=draft)) if path is not None else None
            except (LookalikeError, OSError, ValueError):
                theirs = None
            if theirs is not None:
                correlations[file_id] = float((mine @ theirs).max())
        return correlations


def _thumbnail(image: np.ndarray) -> np.ndarray:
    """A TIE_THUMBNAIL x TIE_THUMBNAIL grey thumbnail (area-averaged), flattened, zero mean and unit norm
    (zeros for a flat image), so that the dot product of two is their correlation."""
    import cv2

    from lookalike.color import rgb2gray

    grey = rgb2gray(image) if image.ndim == 3 else image
    small = cv2.resize(np.ascontiguousarray(grey, dtype=np.float32), (TIE_THUMBNAIL, TIE_THUMBNAIL),
                       interpolation=cv2.INTER_AREA).astype(np.float64).ravel()
    small -= small.mean()
    norm = float(np.linalg.norm(small))
    return small / norm if norm > 1e-9 else small


def _embedder(model: str) -> Any:
    """One embedder per model for the process (:func:`~lookalike.pipelines._query.query_embedder`)."""
    return query_embedder(model)


def _replace(e: Evidence, **changes: Any) -> Evidence:
    from dataclasses import replace

    return replace(e, **changes)


def _check_views(views: Any, verify: bool) -> int:
    if views is None:  # all of them where verification follows, the query's own without (measured: no loss)
        return len(EMBEDDING_VIEWS) if verify else 1
    if isinstance(views, bool) or not isinstance(views, int | np.integer) or not 1 <= views <= len(EMBEDDING_VIEWS):
        raise ParameterError(f"views must be an integer from 1 to {len(EMBEDDING_VIEWS)} (embedding views of the "
                             f"query: {', '.join(EMBEDDING_VIEWS)}, in that order) or None, got {views!r}")
    return int(views)


def _check(top: int, min_similarity: float, kind: str, shortlist: int, on_error: str) -> None:
    if isinstance(top, bool) or not isinstance(top, int | np.integer) or top < 1:
        raise ParameterError(f"top must be a positive integer, got {top!r}")
    if not isinstance(min_similarity, int | float) or not 0.0 <= float(min_similarity) <= 1.0:
        raise ParameterError(f"min_similarity must be a number in [0, 1] (0.7 for 70%), got {min_similarity!r}")
    if kind not in SEARCH_KINDS:
        raise ParameterError(f"kind must be one of {', '.join(SEARCH_KINDS)}, got {kind!r}")
    if isinstance(shortlist, bool) or not isinstance(shortlist, int | np.integer) or shortlist < 0:
        raise ParameterError(f"shortlist must be a non-negative integer, got {shortlist!r}")
    if on_error not in ("raise", "record"):
        raise ParameterError(f"on_error must be 'raise' or 'record', got {on_error!r}")


def _open(index: Any) -> tuple[Index, bool]:
    from lookalike.index import Index

    if isinstance(index, Index):
        return index, False
    if isinstance(index, str | os.PathLike):
        return Index.open(index), True
    raise ParameterError(
        f"index must be a lookalike.index.Index or the path of an index folder, got {type(index).__name__}"
    )


def search(
    query_images: Any,
    index: Index | str | os.PathLike[str],
    *,
    top: int = 10,
    min_similarity: float = 0.0,
    kind: str = "copy",
    verify: bool = True,
    shortlist: int = SHORTLIST,
    on_error: str = "raise",
    views: int | None = None,
) -> list[SearchResult]:
    """Find the indexed images most similar to each query.

    Parameters
    ----------
    query_images : path, image, or a sequence of them
        Anything :func:`lookalike.io.load_image` reads (a path, bytes, a PIL
        image, an (H, W[, 3]) array); one or many.
    index : Index or path
        An open :class:`lookalike.index.Index` or the folder of one (built with
        ``lookalike index build`` or :meth:`Index.create` + :meth:`Index.update`;
        the default descriptors, phash, embedding and rootsift, are what ``copy``
        uses; without rootsift, the short list's keypoints are extracted from
        the files at each query, several times slower).
    top : int, keyword-only
        Results per query, at most.
    min_similarity : float, keyword-only
        Leave out results below this similarity (0.7: "up to 70% similar").
    kind : {"copy", "semantic"}, keyword-only
        What similar means (see the module docstring): the same picture edited
        (default), or the same kind of thing.
    verify : bool, keyword-only
        ``copy`` only: verify the short list with keypoints (default). Without
        it, crops are not found reliably, but the query costs tens of
        milliseconds (decoding and embedding the query) instead of hundreds.
    shortlist : int, keyword-only
        Candidates verified with keypoints.
    on_error : {"raise", "record"}, keyword-only
        A query that cannot be read raises :class:`~lookalike.errors.ImageReadError`
        (default), or gives a result with ``error`` set and no results (``"record"``, as
        :func:`compare_many`; ``"report"`` is its deprecated name).
    views : int or None, keyword-only
        ``copy`` only: how many of the query's embedding views (:data:`EMBEDDING_VIEWS`: the
        query, its mirror, its 90- and 270-degree rotations) give candidates and the cosine
        evidence; each costs one network run (about 10 ms of CPU). ``None`` (default): all 4
        with ``verify``, 1 without. On the near-duplicate benchmark (benchmarks/README.md)
        ``verify=False`` has mAP@10 0.963 with 1 view and 0.962 with 4: turned and mirrored
        copies are found by the hashes of the 8 rotations and flips, which every query has.
    Returns
    -------
    list of SearchResult
        One per query, in order; each holds ``(path, similarity)`` pairs, best first.

    Raises
    ------
    ImageReadError
        A query cannot be read (with ``on_error="raise"``).
    IndexFormatError
        ``index`` is not an index.
    ParameterError
        An argument is invalid.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from PIL import Image
    >>> from lookalike.index import Index
    >>> folder = tempfile.mkdtemp()
    >>> rng = np.random.default_rng(0)
    >>> for i in range(3):
    ...     Image.fromarray(rng.integers(0, 256, (64, 64), np.uint8)).save(f"{folder}/{i}.png")
    >>> index = Index.create(tempfile.mkdtemp() + "/idx", descriptors=["phash"])
    >>> _ = index.update(folder, jobs=1)
    >>> query = np.asarray(Image.open(f"{folder}/1.png"))[:, ::-1]  # a mirrored copy
    >>> [result] = search(query, index, top=1, verify=False)
    >>> os.path.basename(result.results[0].path), result.results[0].similarity > 0.9
    ('1.png', True)
    """
    if on_error == "report":
        import warnings

        warnings.warn('search(on_error="report") is deprecated; use on_error="record" (as compare_many)',
                      DeprecationWarning, stacklevel=2)
        on_error = "record"
    _check(top, min_similarity, kind, shortlist, on_error)
    views = _check_views(views, verify)
    sources = _as_list(query_images)
    opened, owned = _open(index)
    engine: _Engine | None = None
    try:
        engine = _Engine(opened, kind, views)
        out: list[SearchResult] = []
        for position, source in enumerate(sources):
            try:
                query = _read_query(source, position, engine.draft)
            except ImageReadError as exc:
                if on_error == "raise":
                    raise
                out.append(SearchResult(_query_name(source, position), kind=kind, error=str(exc)))
                continue
            ranked = engine.rank(query, top=int(top), verify=verify, shortlist=int(shortlist))
            kept = [(s, e) for s, _z, e in ranked if s >= min_similarity]
            paths = opened.paths([e.id for _s, e in kept])
            hits, proofs, missing = [], [], []
            for (s, e), path in zip(kept, paths, strict=True):
                if path is None:
                    continue
                if not os.path.lexists(path):  # deleted since it was indexed: a stale index
                    missing.append(path)
                hits.append(SearchHit(path, float(s)))
                proofs.append(e)
            out.append(SearchResult(query.name, tuple(hits), tuple(proofs), kind, missing=tuple(missing)))
        return out
    finally:
        if engine is not None:
            engine.close()
        if owned:
            opened.close()


def search_arrays(
    query_images: Any,
    index: Index | str | os.PathLike[str],
    k: int = 10,
    *,
    kind: str = "copy",
    verify: bool = True,
    shortlist: int = SHORTLIST,
    views: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`search` in FAISS form: ``(similarities, ids)`` arrays of shape (n_queries, k).

    Best first; where fewer than ``k`` results exist the id is -1 and the
    similarity ``-inf``. Ids are the index's file ids (:meth:`Index.paths`
    turns them into paths). Unreadable queries raise.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from PIL import Image
    >>> from lookalike.index import Index
    >>> folder = tempfile.mkdtemp()
    >>> Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64), np.uint8)).save(folder + "/a.png")
    >>> index = Index.create(tempfile.mkdtemp() + "/idx", descriptors=["phash"])
    >>> _ = index.update(folder, jobs=1)
    >>> sims, ids = search_arrays([folder + "/a.png"], index, 3, verify=False)
    >>> ids.shape, int(ids[0, 1]), float(sims[0, 0])
    ((1, 3), -1, 1.0)
    """
    results = search(query_images, index, top=k, kind=kind, verify=verify, shortlist=shortlist, views=views)
    sims = np.full((len(results), int(k)), _MISSING, dtype=np.float64)
    ids = np.full((len(results), int(k)), -1, dtype=np.int64)
    for row, result in enumerate(results):
        for col, (hit, e) in enumerate(zip(result.results, result.evidence, strict=True)):
            sims[row, col] = hit.similarity
            ids[row, col] = e.id
    return sims, ids
