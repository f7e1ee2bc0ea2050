"""lookalike: find and measure images that look alike, from one pair to millions.

The top-level import is light (numpy and Pillow); OpenCV, FAISS and
onnxruntime load where they are used (``lookalike.Index``, the persistent
image index, loads :mod:`lookalike.index` on first use).

>>> import lookalike
>>> sorted(lookalike.metrics.metric_names())[:3]
['fsim', 'fsimc', 'gmsd']
"""

from typing import TYPE_CHECKING, Any

from lookalike import errors, io, metrics
from lookalike._version import __version__
from lookalike.errors import ImageReadError, ImageSizeError, LookalikeError, ParameterError
from lookalike.io import load_image
from lookalike.pipelines import compare, compare_many, find_duplicates, match, search, similarity_matrix

if TYPE_CHECKING:
    from lookalike.index import Index


__all__ = [
    "ImageReadError",
    "ImageSizeError",
    "Index",
    "LookalikeError",
    "ParameterError",
    "__version__",
    "compare",
    "compare_many",
    "errors",
    "find_duplicates",
    "io",
    "load_image",
    "match",
    "metrics",
    "search",
    "similarity_matrix",
]


def __getattr__(name: str) -> Any:
    """``lookalike.Index`` without importing the index (SQLite, FAISS wrappers) with ``lookalike``."""
    if name == "Index":
        from lookalike.index import Index

        return Index
    raise AttributeError(f"module 'lookalike' has no attribute {name!r}")
