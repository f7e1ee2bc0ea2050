"""lookalike: find and measure images that look alike, from one pair to millions.

The top-level import is light (numpy and Pillow); OpenCV, FAISS and
onnxruntime load where they are used.

>>> import lookalike
>>> sorted(lookalike.metrics.metric_names())[:3]
['fsim', 'fsimc', 'gmsd']
"""

from lookalike import errors, io, metrics
from lookalike.errors import ImageReadError, ImageSizeError, LookalikeError, ParameterError
from lookalike.io import load_image
from lookalike.pipelines import compare, compare_many, find_duplicates, match, search, similarity_matrix

__version__ = "0.1.0"

__all__ = [
    "ImageReadError",
    "ImageSizeError",
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
