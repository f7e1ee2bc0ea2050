"""The jobs users run: compare, compare many, match, the matrix of a folder, search, duplicates,
classify and evaluate.

Each is a function over files or an index that returns a result type with a
``to_dict()`` (the CLI's ``--json``). They build on the layers below: images and
folder listings from :mod:`lookalike.io`, the similarity model and the
verification recipe from :mod:`lookalike.matching`, ingestion, stores and
self-joins from :mod:`lookalike.index`, parallel work from :mod:`lookalike.parallel`.
``ImageFile``, ``ImageListing``, ``RejectedFile`` and ``find_images`` are
:mod:`lookalike.io`'s, named here too.
"""

from lookalike.io import ImageFile, ImageListing, RejectedFile, find_images
from lookalike.pipelines._classify import (
    CLASSIFY_METHODS,
    DEFAULT_METRIC_SIZE,
    UNKNOWN,
    ClassifyResult,
    Neighbour,
    Prediction,
    classify,
)
from lookalike.pipelines._classify_data import LabelledSet, load_labelled, stratified_folds
from lookalike.pipelines._classify_eval import Evaluation, evaluate, score_predictions
from lookalike.pipelines._classify_index import IndexClassifier
from lookalike.pipelines._classify_models import DEFAULT_K, KNNClassifier, LogisticClassifier, knn_vote
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
from lookalike.pipelines._diff import DEFAULT_THRESHOLD as DIFF_THRESHOLD
from lookalike.pipelines._diff import DiffAnalysis, diff_analysis, diff_regions
from lookalike.pipelines._duplicates import (
    DEFAULT_DUPLICATE_SIMILARITY,
    VERIFY_MAX_PAIRS,
    DuplicateGroup,
    DuplicateMember,
    DuplicateReport,
    find_duplicates,
)
from lookalike.pipelines._match import Alignment, align_pair, match
from lookalike.pipelines._matrix import (
    DEFAULT_MATRIX_METHOD,
    MATRIX_WORKING_SIZE,
    MatrixIssue,
    MatrixResult,
    PairScore,
    similarity_matrix,
)
from lookalike.pipelines._moves import MoveReport, check_destination, move_duplicates, undo_moves
from lookalike.pipelines._progress import PROGRESS_LABELS
from lookalike.pipelines._query import set_embedding_threads
from lookalike.pipelines._search import (
    EMBEDDING_VIEWS,
    SEARCH_KINDS,
    Evidence,
    SearchHit,
    SearchResult,
    search,
    search_arrays,
)
from lookalike.pipelines._selection import KEEP_RULES

__all__ = [
    "CLASSIFY_METHODS",
    "DEFAULT_DUPLICATE_SIMILARITY",
    "DEFAULT_K",
    "DEFAULT_MATRIX_METHOD",
    "DEFAULT_METRICS",
    "DEFAULT_METRIC_SIZE",
    "DIFF_THRESHOLD",
    "EMBEDDING_VIEWS",
    "KEEP_RULES",
    "MATRIX_WORKING_SIZE",
    "PROGRESS_LABELS",
    "RESIZE_CHOICES",
    "SEARCH_KINDS",
    "UNKNOWN",
    "VERIFY_MAX_PAIRS",
    "Alignment",
    "ClassifyResult",
    "Comparison",
    "DiffAnalysis",
    "DuplicateGroup",
    "DuplicateMember",
    "DuplicateReport",
    "Evaluation",
    "Evidence",
    "ImageFile",
    "ImageListing",
    "IndexClassifier",
    "KNNClassifier",
    "LabelledSet",
    "LogisticClassifier",
    "MatrixIssue",
    "MatrixResult",
    "MoveReport",
    "Neighbour",
    "PairScore",
    "Prediction",
    "RejectedFile",
    "SearchHit",
    "SearchResult",
    "align_pair",
    "check_destination",
    "classify",
    "compare",
    "compare_many",
    "compare_pairs",
    "diff_analysis",
    "diff_regions",
    "evaluate",
    "find_duplicates",
    "find_images",
    "harmonise_pair",
    "knn_vote",
    "load_labelled",
    "match",
    "move_duplicates",
    "resize_pair",
    "resolve_metrics",
    "score_predictions",
    "search",
    "search_arrays",
    "set_embedding_threads",
    "similarity_matrix",
    "stratified_folds",
    "undo_moves",
]
