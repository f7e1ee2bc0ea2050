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
from lookalike.pipelines._match import match

__all__ = [
    "DEFAULT_METRICS",
    "RESIZE_CHOICES",
    "Comparison",
    "compare",
    "compare_many",
    "compare_pairs",
    "match",
    "resize_pair",
    "resolve_metrics",
]
