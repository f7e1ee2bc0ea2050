"""The jobs users run: compare, compare many, (and later) matrix, search, duplicates."""

from lookalike.pipelines._compare import (
    DEFAULT_METRICS,
    RESIZE_CHOICES,
    Comparison,
    compare,
    compare_many,
    compare_pairs,
    resize_pair,
    resolve_metrics,
)
from lookalike.pipelines._files import ImageFile, ImageListing, RejectedFile, find_images
from lookalike.pipelines._match import match
from lookalike.pipelines._matrix import MatrixIssue, MatrixResult, PairScore, similarity_matrix

__all__ = [
    "DEFAULT_METRICS",
    "RESIZE_CHOICES",
    "Comparison",
    "ImageFile",
    "ImageListing",
    "MatrixIssue",
    "MatrixResult",
    "PairScore",
    "RejectedFile",
    "compare",
    "compare_many",
    "compare_pairs",
    "find_images",
    "match",
    "resize_pair",
    "resolve_metrics",
    "similarity_matrix",
]
