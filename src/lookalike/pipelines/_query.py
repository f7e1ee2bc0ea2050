"""The queries of a search: read once, decoded as the index decodes, verified as the index's keypoints are.

A query (a path, bytes, a PIL image or an array) is read once: its bytes give
its SHA-256 (an identical indexed file is an exact result), a reduced decode
gives its hashes and embedding, and a verification decode, made once and only
when a candidate needs it, gives its RootSIFT keypoints and those of its mirror
image (thread-safe: the verification threads share a query).
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from lookalike.errors import ImageReadError, ParameterError

if TYPE_CHECKING:
    from lookalike.features import Embedder, LocalFeatures

#: onnxruntime intra-op threads of the embedder queries use (None: onnxruntime's default, one per core).
_query_threads: list[int | None] = [None]


def set_embedding_threads(threads: int | None) -> int | None:
    """The onnxruntime intra-op threads of the network that embeds queries (search, classify), for this process.

    ``None`` (default): one per core, the fastest for one query at a time. A server that runs
    several queries at once gives each fewer threads: ``lookalike serve`` sets
    ``cores // max_decodes``, so its concurrent queries do not compete for the cores (on 2 cores,
    two queries at once each cost about 10.7 ms of CPU a view on one thread each, 12.9 ms on two:
    benchmarks/README.md). The vectors do not depend on it (onnxruntime's CPU kernels give the
    same bits on any number of threads; a test checks it).

    Returns the previous setting.

    Examples
    --------
    >>> previous = set_embedding_threads(1)
    >>> set_embedding_threads(previous)
    1
    """
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ParameterError(f"threads must be a positive integer or None, got {threads!r}")
    previous, _query_threads[0] = _query_threads[0], threads
    return previous


def query_embedder(model: str) -> Embedder:
    """The process's embedder of ``model`` for queries, with the threads of :func:`set_embedding_threads`
    (loading the network costs more than a query: one per model and thread count)."""
    return _cached_embedder(model, _query_threads[0])


@functools.lru_cache(maxsize=4)
def _cached_embedder(model: str, threads: int | None) -> Embedder:
    from lookalike.features import Embedder

    return Embedder(model, threads=threads)


@dataclass
class _Query:
    name: str
    small: np.ndarray  # decoded as the index decodes (draft DECODE_SIZE): hashes and embedding
    source: Any  # for the verification decode
    data: bytes | None
    sha256: str | None
    _features: dict[bool, LocalFeatures] = field(default_factory=dict)
    _pixels: np.ndarray | None = None
    _locks: dict[Any, threading.Lock] = field(
        default_factory=lambda: {key: threading.Lock() for key in ("pixels", False, True)}, repr=False)

    def pixels(self) -> np.ndarray:
        """The query decoded for verification, once (thread-safe)."""
        with self._locks["pixels"]:
            if self._pixels is None:
                self._pixels = _verify_pixels(self.data if self.data is not None else self.source)
            return self._pixels

    def features(self, mirrored: bool) -> LocalFeatures:
        """RootSIFT features of the query (or of its mirror image), computed once (thread-safe)."""
        with self._locks[mirrored]:
            if mirrored not in self._features:
                pixels = self.pixels()
                self._features[mirrored] = _extract(np.ascontiguousarray(pixels[:, ::-1]) if mirrored else pixels)
            return self._features[mirrored]


# The verification decode and keypoints are the recipe's (``lookalike.matching``), so a query is verified
# with exactly what the index stores; imported on use to keep this module light.
def _verify_pixels(source: Any) -> np.ndarray:
    from lookalike.matching import verify_pixels

    return verify_pixels(source)


def _extract(pixels: np.ndarray) -> LocalFeatures:
    from lookalike.matching import verify_features

    return verify_features(pixels)


def _query_name(source: Any, position: int) -> str:
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    if isinstance(source, np.ndarray):
        return f"<array {position}>"
    return f"<image {position}>"


def _read_query(source: Any, position: int, draft: tuple[int, int]) -> _Query:
    from lookalike.matching import load_for_descriptors  # described exactly as the indexed files

    name = _query_name(source, position)
    data: bytes | None = None
    if isinstance(source, str | os.PathLike):
        from lookalike.io import read_bytes

        path = os.fspath(source)
        data = read_bytes(path)
        try:
            small = load_for_descriptors(data, draft=draft)
        except ImageReadError as exc:
            raise ImageReadError(path, exc.reason) from None
    elif isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        small = load_for_descriptors(data, draft=draft)
    else:
        small = load_for_descriptors(source, draft=draft)
    sha = hashlib.sha256(data).hexdigest() if data is not None else None
    return _Query(name, small, source, data, sha)


def _as_list(query_images: Any) -> list[Any]:
    if isinstance(query_images, str | os.PathLike | bytes | bytearray | memoryview):
        return [query_images]
    if isinstance(query_images, np.ndarray):
        return [query_images]
    try:
        from PIL import Image

        if isinstance(query_images, Image.Image):
            return [query_images]
    except ImportError:  # pragma: no cover
        pass
    if isinstance(query_images, Iterable):
        return list(query_images)
    raise ParameterError(
        f"query_images must be a path, an image or a list of them, got {type(query_images).__name__}"
    )
