"""The matrix's on-disk feature cache: each image's local features kept as ``.npz`` between runs.

An entry is keyed by the file's real path, size and modification time and the
extraction settings (method, keypoints kept), so a changed file or setting is
extracted again; a damaged entry is ignored and rewritten; writing is atomic.
(For images in an index, the index's stored keypoints serve the same purpose.)
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from lookalike.pipelines._matrix import _Plan

__all__ = ["cache_read", "cache_write"]

#: Bumped when the entries' content changes, so old entries are ignored.
_CACHE_VERSION = 1


def _cache_path(path: str, plan: _Plan) -> str | None:
    if plan.cache_dir is None:
        return None
    try:
        info = os.stat(path)
    except OSError:
        return None
    key = "\0".join([
        str(_CACHE_VERSION), os.path.realpath(path), str(info.st_size), str(info.st_mtime_ns),
        plan.name, str(plan.max_keypoints),
    ])
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return os.path.join(plan.cache_dir, f"{plan.name}-{digest}.npz")


def cache_read(path: str, plan: _Plan) -> Any:
    from lookalike.features import LocalFeatures

    target = _cache_path(path, plan)
    if target is None or not os.path.exists(target):
        return None
    try:
        return LocalFeatures.from_npz(target)
    except (OSError, ValueError, KeyError, EOFError):  # a damaged entry: extract again
        return None


def cache_write(path: str, plan: _Plan, features: Any) -> None:
    target = _cache_path(path, plan)
    if target is None:
        return
    temporary = f"{target}.{os.getpid()}.tmp"
    try:
        with open(temporary, "wb") as handle:
            np.savez(handle, **features.to_arrays())
        os.replace(temporary, target)
    except OSError:  # a cache that cannot be written only costs time
        try:
            os.remove(temporary)
        except OSError:
            pass
