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
from lookalike.pipelines._duplicates import (
    DEFAULT_DUPLICATE_SIMILARITY,
    DuplicateGroup,
    DuplicateMember,
    DuplicateReport,
    MoveReport,
    find_duplicates,
    move_duplicates,
    undo_moves,
)
from lookalike.pipelines._files import ImageFile, ImageListing, RejectedFile, find_images
from lookalike.pipelines._match import Alignment, align_pair, match
from lookalike.pipelines._matrix import MatrixIssue, MatrixResult, PairScore, similarity_matrix
from lookalike.pipelines._search import SEARCH_KINDS, Evidence, SearchHit, SearchResult, search, search_arrays

__all__ = [
    "DEFAULT_DUPLICATE_SIMILARITY",
    "DEFAULT_METRICS",
    "RESIZE_CHOICES",
    "SEARCH_KINDS",
    "Alignment",
    "Comparison",
    "DuplicateGroup",
    "DuplicateMember",
    "DuplicateReport",
    "Evidence",
    "ImageFile",
    "ImageListing",
    "MatrixIssue",
    "MatrixResult",
    "MoveReport",
    "PairScore",
    "RejectedFile",
    "SearchHit",
    "SearchResult",
    "align_pair",
    "compare",
    "compare_many",
    "compare_pairs",
    "find_duplicates",
    "find_images",
    "match",
    "move_duplicates",
    "resize_pair",
    "resolve_metrics",
    "search",
    "search_arrays",
    "similarity_matrix",
    "undo_moves",
]
