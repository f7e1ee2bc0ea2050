"""``lookalike classify --train REFDIR QUERY...``: the label of each query from its nearest labelled references."""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from lookalike.cli._engine import add_engine_options, engine_jobs
from lookalike.cli._options import cli_message, shown_path, skipped_path
from lookalike.cli._options import similarity as _similarity
from lookalike.cli._search import _positive_int


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """The options ``classify`` and ``evaluate`` share (one name and one default in both)."""
    from lookalike.pipelines import DEFAULT_K, DEFAULT_METRIC_SIZE

    parser.add_argument("--train", "-t", required=True, metavar="REFDIR",
                        help="labelled references: a folder with one sub-folder per class, or a CSV of path,label")
    parser.add_argument("--method", "-m", default="knn", metavar="NAME",
                        help="knn (default: nearest neighbours by the deep embedding), logistic (a logistic "
                             "regression on the same embedding), or a metric (ssim, fsim, gmsd, ...: nearest "
                             "neighbours by that metric, every query against every reference; slow, and near "
                             "chance on photos)")
    parser.add_argument("--k", "-k", type=_positive_int, default=DEFAULT_K, metavar="K",
                        help=f"neighbours that vote, weighted by 1/distance (default: {DEFAULT_K})")
    parser.add_argument("--unknown-below", type=_confidence, default=0.0, metavar="P",
                        help="label 'unknown' a query whose confidence is below P (0.6 or 60%%; default: never)")
    parser.add_argument("--cache-dir", default=None, metavar="DIR",
                        help="keep the embeddings' indexes here instead of in FOLDER/.lookalike-index "
                             "(for read-only folders)")
    parser.add_argument("--size", type=_positive_int, default=DEFAULT_METRIC_SIZE, metavar="PX",
                        help=f"metric methods: side of the grey squares compared (default: {DEFAULT_METRIC_SIZE})")
    parser.add_argument("--jobs", "-j", type=_positive_int, default=None,
                        help="worker processes computing embeddings (default: every CPU)")
    add_engine_options(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _confidence(text: str) -> float:
    """``0.6`` or ``60%``: read as a similarity is (``lookalike search --min-similarity``)."""
    try:
        return _similarity(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a confidence such as 0.6 or 60%, got {text!r}") from None


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "classify",
        help="label images by their nearest labelled reference images",
        description=(
            "Label each query (an image, or every image of a folder) by its K nearest labelled references, "
            "their votes weighted by 1/distance; the confidence is the winning label's share of the votes. "
            "References' embeddings are computed once and kept in REFDIR/.lookalike-index (or --cache-dir): "
            "a second run decodes nothing. Files that cannot be read are listed on stderr and skipped. "
            "Exit code 0, or 2 when a query cannot be read or the references cannot be used."
        ),
    )
    parser.add_argument("queries", nargs="+", metavar="QUERY", help="images or folders to label")
    add_model_options(parser)
    parser.set_defaults(run=run)


def report_skipped(skipped: Any, err: TextIO, args: argparse.Namespace) -> None:
    """The skip list as every command writes it: real absolute paths, escaped, one line each."""
    for item in skipped:
        err.write(f"lookalike: skipped {skipped_path(item.path)}: {cli_message(item.reason, args)}\n")


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import os

    from lookalike.cli._progress import ProgressBar
    from lookalike.pipelines import classify, load_labelled

    labelled = load_labelled(args.train)
    for name in labelled.empty_classes:
        err.write(f"lookalike: warning: class folder {os.path.join(args.train, name)!r} holds no image; ignored\n")
    with engine_jobs(args) as jobs, ProgressBar(err) as progress:
        result = classify(args.queries, labelled, method=args.method, k=args.k, unknown_below=args.unknown_below,
                          cache_dir=args.cache_dir, size=args.size, jobs=jobs, progress=progress)
    report_skipped(result.skipped, err, args)
    queries = {os.path.abspath(p) for p in args.queries}
    failed = any(os.path.abspath(s.path) in queries for s in result.skipped)
    if args.json:
        out.write(json.dumps(result.to_dict(roots=(args.train,)), allow_nan=False, ensure_ascii=False) + "\n")
        return 2 if failed else 0
    for prediction in result.predictions:
        out.write(f"{shown_path(prediction.path)}\t{shown_path(prediction.label)}\t"
                  f"{prediction.confidence * 100:.1f}%\n")
        for n in prediction.neighbours:
            out.write(f"    {n.similarity:8.4f}  {shown_path(n.label)}  {shown_path(n.path)}\n")
    return 2 if failed else 0
