"""One keypoint verifier and its feature cache, shared by search and duplicates.

:class:`KeypointCache` holds the RootSIFT keypoints of indexed files by id:
read from the index where it stores them (``Index.local_features``), else
extracted from the files with the verification recipe
(:func:`lookalike.matching.verify_features` of :func:`~lookalike.matching.verify_pixels`);
``None`` for a file that cannot be read (moved or changed since it was indexed:
no keypoint evidence). It also keeps keypoints detected on the mirror image of
a file, for mirrored copies.

:func:`verify_candidates` verifies one image's keypoints against several
candidates': brute force's ratio-test matches (one matrix product a candidate,
:func:`lookalike.matching.match_many`) and MAGSAC++
(:func:`lookalike.matching.result_from_matches`), exactly what
:func:`lookalike.matching.compare_features` gives for each pair.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from lookalike.errors import LookalikeError

if TYPE_CHECKING:
    from lookalike.features import LocalFeatures
    from lookalike.index import Index
    from lookalike.matching import MatchResult

__all__ = ["KeypointCache", "verify_candidates"]

Map = Callable[[Callable[[Any], Any], list[Any]], list[Any]]


def _serial(function: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    return [function(item) for item in items]


def extract_file(path: str | None) -> LocalFeatures | None:
    """The verification keypoints of a file read from disk (None when it cannot be read)."""
    from lookalike.matching import verify_features, verify_pixels

    if path is None:
        return None
    try:
        return verify_features(verify_pixels(path))
    except (LookalikeError, OSError, ValueError):
        return None  # moved or changed since it was indexed: no keypoint evidence


def extract_mirrored(path: str | None) -> LocalFeatures | None:
    """The verification keypoints of the mirror image of a file's pixels (None when it cannot be read)."""
    from lookalike.matching import verify_features, verify_pixels

    if path is None:
        return None
    try:
        return verify_features(np.ascontiguousarray(verify_pixels(path)[:, ::-1]))
    except (LookalikeError, OSError, ValueError):
        return None


class KeypointCache:
    """Keypoints of an index's files by id: stored, else extracted; mirrored ones on demand (see the module)."""

    def __init__(self, index: Index, *, paths: Callable[[list[int]], list[str | None]] | None = None) -> None:
        self.index = index
        self.stored = any(s.kind == "keypoints" for s in index.descriptors)
        self._paths = paths if paths is not None else index.paths
        self.features: dict[int, LocalFeatures | None] = {}
        self.mirrored_features: dict[int, LocalFeatures | None] = {}

    def load(self, ids: Sequence[int]) -> dict[int, LocalFeatures]:
        """The stored keypoints of ``ids`` (one catalogue read); touches nothing here, so it may run in
        another thread while verification reads the cache."""
        if not ids:
            return {}
        return dict(self.index.local_features(list(ids)))

    def add(self, loaded: dict[int, LocalFeatures]) -> None:
        """Keep keypoints read by :meth:`load` (those already cached win)."""
        for i, features in loaded.items():
            self.features.setdefault(i, features)

    def many(self, ids: Sequence[int], *, map: Map = _serial) -> dict[int, LocalFeatures | None]:
        """The keypoints of ``ids``: cached, else stored (one catalogue read), else extracted (``map`` spreads
        the extractions: decoding and SIFT release the GIL)."""
        missing = [i for i in dict.fromkeys(ids) if i not in self.features]
        if missing and self.stored:
            self.features.update(self.load(missing))
            missing = [i for i in missing if i not in self.features]
        if missing:
            extracted = map(extract_file, self._paths(missing))
            self.features.update(zip(missing, extracted, strict=True))
        return {i: self.features[i] for i in ids}

    def get(self, file_id: int) -> LocalFeatures | None:
        """The keypoints of one file: cached, else stored, else extracted."""
        if file_id not in self.features:
            stored = self.load([file_id])
            self.features[file_id] = stored[file_id] if file_id in stored else extract_file(
                self._paths([file_id])[0])
        return self.features[file_id]

    def mirrored(self, file_id: int) -> LocalFeatures | None:
        """Keypoints detected on the mirror image of the file's pixels (kept: a mirrored copy is usually
        verified against several members of its group)."""
        if file_id not in self.mirrored_features:
            self.mirrored_features[file_id] = extract_mirrored(self._paths([file_id])[0])
        return self.mirrored_features[file_id]

    def forget(self, keep: Iterable[int] = ()) -> None:
        """Drop cached keypoints (they are large), except those of ``keep``."""
        kept = {i: self.features[i] for i in keep if i in self.features}
        self.features.clear()
        self.features.update(kept)
        self.mirrored_features.clear()

    def __len__(self) -> int:
        return len(self.features)


def verify_candidates(ours: LocalFeatures, theirs: Sequence[LocalFeatures], *, map: Map = _serial
                      ) -> list[MatchResult]:
    """Keypoint verification of ``ours`` against each of ``theirs`` (see the module docstring), in order."""
    from lookalike.matching import match_many, result_from_matches

    matches = match_many(ours, list(theirs))
    return map(lambda pair: result_from_matches(ours, pair[0], pair[1]), list(zip(theirs, matches, strict=True)))
