"""The jobs users run: compare, compare many, match, the matrix of a folder, search, duplicates.

Each is a function over files or an index that returns a result type with a
``to_dict()`` (the CLI's ``--json``). They build on the layers below: images and
folder listings from :mod:`lookalike.io`, the similarity model and the
verification recipe from :mod:`lookalike.matching`, ingestion, stores and
self-joins from :mod:`lookalike.index`, parallel work from :mod:`lookalike.parallel`.
``ImageFile``, ``ImageListing``, ``RejectedFile`` and ``find_images`` are
:mod:`lookalike.io`'s, named here too.
"""

from lookalike.io import ImageFile, ImageListing, RejectedFile, find_images
from lookalike.pipelines._compare import (
    DEFAULT_METRICS,
    RESIZE_CHOICES,
    Comparison,
    compare,
    compare_many,
    compare_pairs,
    harmonise_pair,
    resize_pair,
    resolve_metrics,
)
from lookalike.pipelines._duplicates import (
    DEFAULT_DUPLICATE_SIMILARITY,
    VERIFY_MAX_PAIRS,
    DuplicateGroup,
    DuplicateMember,
    DuplicateReport,
    find_duplicates,
)
from lookalike.pipelines._match import match
from lookalike.pipelines._matrix import (
    DEFAULT_MATRIX_METHOD,
    MATRIX_WORKING_SIZE,
    MatrixIssue,
    MatrixResult,
    PairScore,
    similarity_matrix,
)
from lookalike.pipelines._moves import MoveReport, move_duplicates, undo_moves
from lookalike.pipelines._search import SEARCH_KINDS, Evidence, SearchHit, SearchResult, search, search_arrays

__all__ = [
    "DEFAULT_DUPLICATE_SIMILARITY",
    "DEFAULT_MATRIX_METHOD",
    "DEFAULT_METRICS",
    "MATRIX_WORKING_SIZE",
    "RESIZE_CHOICES",
    "SEARCH_KINDS",
    "VERIFY_MAX_PAIRS",
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
    "compare",
    "compare_many",
    "compare_pairs",
    "find_duplicates",
    "find_images",
    "harmonise_pair",
    "match",
    "move_duplicates",
    "resize_pair",
    "resolve_metrics",
    "search",
    "search_arrays",
    "similarity_matrix",
    "undo_moves",
]
