"""The jobs users run: compare, compare many, matrix, search, duplicates, classify and evaluate."""

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
from lookalike.pipelines._classify_models import DEFAULT_K, KNNClassifier, LogisticClassifier, knn_vote
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
from lookalike.pipelines._match import match
from lookalike.pipelines._matrix import MatrixIssue, MatrixResult, PairScore, similarity_matrix
from lookalike.pipelines._search import SEARCH_KINDS, Evidence, SearchHit, SearchResult, search, search_arrays

__all__ = [
    "CLASSIFY_METHODS",
    "DEFAULT_DUPLICATE_SIMILARITY",
    "DEFAULT_K",
    "DEFAULT_METRICS",
    "DEFAULT_METRIC_SIZE",
    "RESIZE_CHOICES",
    "SEARCH_KINDS",
    "UNKNOWN",
    "ClassifyResult",
    "Comparison",
    "DuplicateGroup",
    "DuplicateMember",
    "DuplicateReport",
    "Evaluation",
    "Evidence",
    "ImageFile",
    "ImageListing",
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
    "classify",
    "compare",
    "compare_many",
    "compare_pairs",
    "evaluate",
    "find_duplicates",
    "find_images",
    "knn_vote",
    "load_labelled",
    "match",
    "move_duplicates",
    "resize_pair",
    "resolve_metrics",
    "score_predictions",
    "search",
    "search_arrays",
    "similarity_matrix",
    "stratified_folds",
    "undo_moves",
]
