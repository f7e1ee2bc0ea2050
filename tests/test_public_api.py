"""The public API: what each subpackage promises in ``__all__`` exists, is documented, and does not vanish.

``PUBLIC`` is the frozen list (kornia fails a test when a public name
disappears; httpx keeps a test on ``__all__``). Removing a name on purpose means
removing it here in the same commit, which makes the break visible in review;
a new public name is added here when it lands.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
from types import ModuleType

import pytest

PUBLIC: dict[str, frozenset[str]] = {
    "lookalike": frozenset({
        "ImageReadError", "ImageSizeError", "Index", "LookalikeError", "ParameterError", "__version__", "compare",
        "compare_many", "errors", "io", "load_image", "metrics", "find_duplicates", "match", "search",
        "similarity_matrix",
    }),
    "lookalike.errors": frozenset({
        "CheckpointFormatError", "ImageReadError", "ImageSizeError", "IndexBusyError", "IndexFormatError",
        "IndexReadOnlyError", "LookalikeError", "MissingDependencyError", "ParameterError", "ServiceError",
    }),
    "lookalike.io": frozenset({
        "DEFAULT_MAX_PIXELS", "ImageSource", "load_image", "open_image", "IMAGE_SUFFIXES", "ImageFile", "ImageListing",
        "RejectedFile", "find_images", "read_bytes", "resolve_path", "sniff_image_format", "exif_orientation",
        "oriented_size", "UnusableFile", "common_root", "display_name",
        "SourceStat", "is_url", "list_url", "read_url", "stat_url",
    }),
    "lookalike.parallel": frozenset({
        "Jobs", "available_cpus", "check_jobs", "process_pool", "single_threaded_opencv", "worker_count",
    }),
    "lookalike.engines": frozenset({"ENGINES", "RayExecutor", "default_temp_dir", "make_engine"}),
    "lookalike.color": frozenset({"rgb2gray", "rgb2yiq"}),
    "lookalike.metrics": frozenset({
        "SSIM_CONVENTIONS", "MetricInfo", "fsim", "fsimc", "get_metric", "gmsd", "hist_bhattacharyya",
        "hist_chisq", "hist_correlation", "hist_emd", "hist_intersection", "histogram", "metric_names", "ms_ssim",
        "mse", "psnr", "rmse", "ssim", "check_pair", "describe_shape", "infer_data_range",
    }),
    "lookalike.features": frozenset({
        "EMBEDDING_MODELS", "HASH_METHODS", "LOCAL_METHODS", "Embedder", "LocalFeatures", "dihedral_hashes",
        "embed_images", "extract_local", "hamming_distance", "hash_many", "hash_similarity", "hash_to_hex",
        "hex_to_hash", "image_hash", "mirror_features", "root_sift", "weights_path",
    }),
    "lookalike.matching": frozenset({
        "MATCHERS", "MIN_INLIERS", "MODELS", "MatchResult", "Verification", "compare_features",
        "homography_is_sane", "match_descriptors", "similarity_from_inliers", "verify", "CHANCE_INLIERS",
        "HALF_SCORE_INLIERS", "result_from_matches", "FlannIndex", "match_many", "prefers_flann", "ratio_matches",
        "VERIFY_KEYPOINTS", "VERIFY_SIZE", "verify_features", "verify_pixels", "CALIBRATION", "HASH_MARGIN",
        "SEMANTIC_CALIBRATION", "copy_logit", "copy_similarity", "global_similarity", "hash_reach",
        "semantic_similarity", "similarity_from_logit", "DESCRIPTOR_ALPHA", "load_for_descriptors",
        "matched_share", "FLAT_HASH_BITS", "flat_hashes", "pixel_digest",
    }),
    "lookalike.index": frozenset({
        "BACKENDS", "BinaryFlatStore", "DEFAULT_DESCRIPTORS", "DESCRIPTORS", "DescriptorSpec", "EXACT_MAX",
        "FORMAT_VERSION", "FileError", "FileRecord", "FlatStore", "HNSWStore", "HNSW_MAX", "IVFStore", "Index",
        "IndexInfo", "IndexReport", "NumpyBinaryStore", "NumpyFlatStore", "VERIFY_KEYPOINTS", "VERIFY_SIZE",
        "VectorStore", "choose_backend", "descriptor_spec", "load_store", "make_store", "INDEX_IVF_STORAGE",
        "index_params", "DEFAULT_INDEX_NAME", "build_index", "default_index_path", "EXACT_NEIGHBOURS", "FileResult",
        "cosine_rows", "describe_keypoints", "Backend", "PersistentStore", "backend_info", "backend_names",
        "register_backend", "unregister_backend", "embedding_neighbours", "hamming_rows", "hash_pairs",
        "DESCRIPTOR_ALPHA", "load_for_descriptors",
        "MilvusStore", "vectors_backend", "EXPORT_VERSION", "export_index", "import_index",
        "UPGRADES", "dihedral_pairs", "dihedral_rows", "VOCABULARY_WORDS", "fit_vocabulary", "quantise",
        "word_histograms", "word_neighbours", "word_scores", "derive_words", "Vocabulary", "WordQueries",
        "fit_vocabulary_tree", "query_scores", "word_candidates", "word_queries",
    }),
    "lookalike.pipelines": frozenset({
        "DEFAULT_METRICS", "RESIZE_CHOICES", "Comparison", "ImageFile", "ImageListing", "MatrixIssue",
        "MatrixResult", "PairScore", "RejectedFile", "compare", "compare_many", "compare_pairs", "find_images",
        "match", "resize_pair", "resolve_metrics", "similarity_matrix", "DEFAULT_DUPLICATE_SIMILARITY",
        "PROGRESS_LABELS", "KEEP_RULES",
        "DuplicateGroup", "DuplicateMember", "DuplicateReport", "Evidence", "MoveReport", "SEARCH_KINDS",
        "SearchHit", "SearchResult", "find_duplicates", "move_duplicates", "search", "search_arrays", "undo_moves",
        "check_destination", "DEFAULT_MATRIX_METHOD", "MATRIX_WORKING_SIZE", "VERIFY_MAX_PAIRS", "harmonise_pair",
        "CLASSIFY_METHODS", "DEFAULT_K", "DEFAULT_METRIC_SIZE", "UNKNOWN", "ClassifyResult", "Evaluation",
        "KNNClassifier", "LabelledSet", "LogisticClassifier", "Neighbour", "Prediction", "classify", "evaluate",
        "IndexClassifier", "EMBEDDING_VIEWS", "set_embedding_threads",
        "knn_vote", "load_labelled", "score_predictions", "stratified_folds",
        "Alignment", "align_pair", "DIFF_THRESHOLD", "DiffAnalysis", "diff_analysis", "diff_regions",
    }),
    "lookalike.cli": frozenset({"main"}),
    "lookalike.web": frozenset({
        "ServeConfig", "create_app",
    }),
    "lookalike.viz": frozenset({
        "HEATMAP_COLORMAPS", "DiffAnalysis", "diff_analysis", "diff_image", "diff_regions", "draw_heatmap",
        "render_diff", "draw_matches", "DIFF_THRESHOLD",
        "duplicates_html", "thumbnail_data_uri", "write_duplicates_html",
        "draw_confusion", "evaluation_html", "write_evaluation_html",
    }),
}

#: Metrics every release must be able to compute by name (issue 2).
METRIC_NAMES = frozenset({
    "mse", "rmse", "psnr", "ssim", "ms_ssim", "fsim", "fsimc", "gmsd", "hist_correlation", "hist_chisq",
    "hist_intersection", "hist_bhattacharyya", "hist_emd",
})


def _module(name: str) -> ModuleType:
    return importlib.import_module(name)


def _own_docstring(obj: object) -> str | None:
    doc = vars(obj).get("__doc__") if inspect.isclass(obj) else getattr(obj, "__doc__", None)
    return doc if isinstance(doc, str) else None


def _public(kind: str) -> list[tuple[str, str]]:
    """(module, name) of the frozen public names that are documentable (functions, classes, modules) or
    that carry docstring examples; constants and type aliases are documented where they are defined."""
    found = []
    for module, names in sorted(PUBLIC.items()):
        for name in sorted(names):
            obj = getattr(_module(module), name, None)
            if kind == "documented" and (inspect.ismodule(obj) or inspect.isclass(obj) or inspect.isroutine(obj)):
                found.append((module, name))
            elif kind == "examples" and (inspect.isclass(obj) or inspect.isroutine(obj)) and _examples(obj, name):
                found.append((module, name))
    return found


def _examples(obj: object, name: str) -> list[doctest.DocTest]:
    defined_in = inspect.getmodule(obj)
    globs = dict(vars(defined_in)) if defined_in is not None else {}
    return [t for t in doctest.DocTestFinder(recurse=False).find(obj, name, globs=globs) if t.examples]


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_no_public_name_disappears(module: str) -> None:
    declared = set(getattr(_module(module), "__all__", ()))
    missing = PUBLIC[module] - declared
    assert not missing, f"{module}.__all__ lost {sorted(missing)}; if on purpose, remove them from PUBLIC too"


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_no_public_name_appears_unlisted(module: str) -> None:
    declared = set(getattr(_module(module), "__all__", ()))
    extra = declared - PUBLIC[module]
    assert not extra, f"{module}.__all__ has new names {sorted(extra)}: add them to PUBLIC in this test"


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_all_names_exist_and_are_unique(module: str) -> None:
    mod = _module(module)
    names = list(mod.__all__)
    assert len(names) == len(set(names)), f"{module}.__all__ lists a name twice"
    for name in names:
        assert hasattr(mod, name), f"{module}.__all__ names {name!r}, which {module} does not define"


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_every_subpackage_has_a_docstring(module: str) -> None:
    doc = _module(module).__doc__
    assert doc and doc.strip(), f"{module} has no module docstring"


@pytest.mark.parametrize(("module", "name"), _public("documented"))
def test_public_functions_and_classes_are_documented(module: str, name: str) -> None:
    doc = _own_docstring(getattr(_module(module), name))
    assert doc and len(doc.strip()) >= 10, f"{module}.{name} has no docstring of its own"


def test_the_main_entry_points_show_an_example() -> None:
    examples = set(_public("examples"))
    for entry in [("lookalike", "load_image"), ("lookalike", "compare"), ("lookalike", "compare_many"),
                  ("lookalike.metrics", "psnr"), ("lookalike.metrics", "ssim")]:
        assert entry in examples, f"{'.'.join(entry)} has no example in its docstring"


@pytest.mark.parametrize(("module", "name"), _public("examples"))
def test_docstring_examples_run(module: str, name: str) -> None:
    obj = getattr(_module(module), name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    for test in _examples(obj, name):
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)


def test_top_level_shortcuts_are_the_same_objects() -> None:
    import lookalike

    assert lookalike.load_image is lookalike.io.load_image
    assert lookalike.compare is importlib.import_module("lookalike.pipelines").compare
    assert lookalike.ImageReadError is lookalike.errors.ImageReadError
    assert lookalike.Index is importlib.import_module("lookalike.index").Index


def test_errors_refine_the_builtins() -> None:
    from lookalike import errors

    assert issubclass(errors.ImageReadError, OSError)
    assert issubclass(errors.ImageSizeError, ValueError)
    assert issubclass(errors.ParameterError, ValueError)
    assert issubclass(errors.MissingDependencyError, ImportError)
    assert issubclass(errors.IndexFormatError, OSError)
    assert issubclass(errors.IndexReadOnlyError, PermissionError)
    assert issubclass(errors.IndexBusyError, BlockingIOError)
    assert issubclass(errors.CheckpointFormatError, ValueError)
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.LookalikeError)


def test_every_metric_is_reachable_by_name() -> None:
    from lookalike.metrics import get_metric, metric_names

    missing = METRIC_NAMES - set(metric_names())
    assert not missing, f"metrics not registered: {sorted(missing)}"
    for name in metric_names():
        info = get_metric(name)
        assert isinstance(info.higher_is_better, bool) and info.kind in ("full-reference", "histogram")
