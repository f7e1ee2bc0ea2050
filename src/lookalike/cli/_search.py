"""``lookalike search QUERY... --index IDX`` (or ``QUERY... DIR``): the indexed images most like each query."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from typing import Any, TextIO

from lookalike.cli import _options
from lookalike.errors import ParameterError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "search",
        help="find the images of an index (or a folder) that look like a query image",
        description=(
            "Rank the images of an index by their similarity to each query, printed as a percentage. "
            "--kind copy (default): the same picture, edited (cropped, rotated, mirrored, re-encoded, resized, "
            "recoloured, captioned); candidates from the perceptual hash and the deep embedding, verified with "
            "keypoints; at 70% or more, results are true copies or the same object in at least 90% of cases "
            "on the calibration set. --kind semantic: the same kind of thing (embedding only; at 70% or more, "
            "the same class in at least 80% of cases on Caltech-101). This percentage is a calibrated scale "
            "(JSON: \"similarity_scale\": \"calibrated-copy\" or \"calibrated-semantic\"); it is not the "
            "similarity of `lookalike match` (\"inliers\"), which scores only the keypoint evidence: a rotated "
            "crop can read 34% here and 0.80 there. Without --index, the last argument is a "
            "folder: it is indexed into a temporary index, deleted afterwards (for repeated searches build one "
            "with `lookalike index build DIR`). Exit code 0, also when some queries cannot be read (each is "
            "listed, the others answered); 2 when every query fails or the index cannot be used or holds no images."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="QUERY",
                        help="query images; without --index, followed by the folder to search (DIR)")
    parser.add_argument("--index", "-i", metavar="IDX", default=None, help="the index folder to search")
    parser.add_argument("--top", "-k", type=_positive_int, default=10, metavar="K",
                        help="results per query, at most (default: 10)")
    parser.add_argument("--min-similarity", "-s", type=_options.similarity, default=0.0, metavar="S",
                        help="leave out results below this similarity: a fraction from 0 to 1 (0.7) or a "
                        "percentage from 0%% to 100%% (70%%) (default: 0, show the top K)")
    parser.add_argument("--kind", choices=("copy", "semantic"), default="copy",
                        help="copy: the same picture, edited (default); semantic: the same kind of thing")
    parser.add_argument("--no-verify", dest="verify", action="store_false",
                        help="copy search without keypoint verification: faster, misses most crops")
    parser.add_argument("--views", type=_views, default=None, metavar="N",
                        help="copy search: embedding views of the query (1-4: itself, mirrored, turned 90 and 270 "
                        "degrees; each about 10 ms of CPU; default: 4, or 1 with --no-verify)")
    parser.add_argument("--json", action="store_true",
                        help='JSON Lines: one {"query": ..., "kind": ..., "similarity_scale": ..., "results": '
                        '[{"id": ..., "name": ..., "similarity": ..., "path": ..., "evidence": {...}}]} per query '
                        '(the document the web API returns)')
    parser.add_argument("--jobs", "-j", type=_positive_int, default=None,
                        help="worker processes when indexing a folder (default: every CPU)")
    parser.add_argument("--recursive", action=argparse.BooleanOptionalAction, default=True,
                        help="searching a folder DIR: also its sub-folders (default: yes)")
    parser.set_defaults(run=run)


def _views(text: str) -> int:
    value = _positive_int(text)
    if value > 4:
        raise argparse.ArgumentTypeError(f"expected 1 to 4 embedding views, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.index is not None:
        from lookalike.index import Index

        with Index.open(args.index) as index:
            if len(index) == 0:
                raise ParameterError(
                    f"the index {index.path!r} holds no images, so no search can find anything; build it with "
                    f"`lookalike index build DIR --index {args.index}`"
                )
            return _answer(args.paths, index, args, out, err)
    *queries, folder = args.paths
    if not queries or not os.path.isdir(folder):
        what = f"{folder!r} is not a folder" if not os.path.isdir(folder) else f"only the folder {folder!r} was given"
        raise ParameterError(
            "give the index to search with --index IDX, or a folder to search as the last argument "
            f"(`lookalike search QUERY DIR`); {what}"
        )
    from lookalike.cli._progress import ProgressBar
    from lookalike.index import build_index

    with tempfile.TemporaryDirectory(prefix="lookalike-search-") as tmp:
        with ProgressBar(err) as progress:
            index, report = build_index(folder, os.path.join(tmp, "index"), recursive=args.recursive,
                                        jobs=args.jobs, progress=progress)
        with index:
            for item in report.errors:
                err.write(f"lookalike: skipped {_options.skipped_path(item.path)}: "
                          f"{_options.cli_message(item.reason, args)}\n")
            if len(index) == 0:
                raise ParameterError(f"none of the {len(report.errors)} image files of {folder!r} could be read; "
                                     "nothing to search")
            return _answer(queries, index, args, out, err)


def _answer(queries: list[str], index: Any, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from lookalike.io import common_root
    from lookalike.pipelines import search

    roots = (common_root(r.path for r in index.records(status="ok")),) if args.json else ()
    results = search(queries, index, top=args.top, min_similarity=args.min_similarity, kind=args.kind,
                     verify=args.verify, on_error="record", views=args.views)
    failed = 0
    for result in results:
        if result.error is not None:
            failed += 1
            err.write(f"lookalike: error: {_options.cli_message(str(result.error), args)}\n")
            if args.json:  # one record per query, a failed one too: {"query", "results": [], "error"}
                out.write(json.dumps(result.to_dict(roots=roots), allow_nan=False) + "\n")
            continue
        if result.missing:
            n = len(result.missing)
            update = f"`lookalike index update DIR --index {args.index}`" if args.index else "`lookalike index update`"
            err.write(f"lookalike: note: {n} result{'s' if n != 1 else ''} of {_options.shown_path(result.query)} "
                      f"{'are' if n != 1 else 'is'} no longer on disk ({_options.shown_path(result.missing[0])}"
                      f"{', ...' if n > 1 else ''}); the index is out of date: run {update}\n")
        if args.json:
            out.write(json.dumps(result.to_dict(roots=roots), allow_nan=False) + "\n")
            continue
        out.write(f"{_options.shown_path(result.query)}\n")
        if not result.results:
            floor = f" at or above {args.min_similarity:.0%}" if args.min_similarity > 0 else ""
            out.write(f"  no results{floor}\n")
        gone = set(result.missing)
        for rank, (path, similarity) in enumerate(result.results, 1):
            mark = "  (no longer on disk)" if path in gone else ""
            out.write(f"  {rank:>3}  {_percent(similarity):>6}  {_options.shown_path(path)}{mark}\n")
    return 2 if failed == len(results) else 0  # the job ran unless every query failed


def _percent(value: float) -> str:
    """A similarity as a percentage with one decimal; never rounds up to 100% unless it is exactly 1, and below
    1% (nothing matched: no hash, embedding or keypoint evidence to speak of) ``"<1%"``, not a precise-looking
    figure such as 0.6% (the JSON keeps the number)."""
    if value >= 1.0:
        return "100%"
    if value < 0.01:
        return "<1%"
    return f"{min(value * 100, 99.9):.1f}%"
