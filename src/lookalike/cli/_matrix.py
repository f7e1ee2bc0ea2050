"""``lookalike matrix DIR [DIR_B]``: every pair of images of a folder (or of two), as tables and pictures.

Presentation only: :func:`lookalike.pipelines.similarity_matrix` does the work;
this module writes ``matrix.csv``, ``pairs.csv``, ``errors.csv``,
``heatmap.png`` and, on request, one match picture per pair.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import re
import time
from collections.abc import Callable
from typing import Any, TextIO

from lookalike.cli._engine import add_engine_options, engine_jobs
from lookalike.cli._options import add_max_pixels_option, cli_message
from lookalike.cli._progress import ProgressBar
from lookalike.errors import ParameterError
from lookalike.pipelines import MatrixResult, similarity_matrix

DEFAULT_OUT = "lookalike-matrix"
_TOP = 10
_LISTED_ISSUES = 10
_NAME_PART = 80  # characters of each file's label kept in a match picture's name


def register(subparsers: Any) -> None:
    from lookalike.features import LOCAL_METHODS
    from lookalike.metrics import metric_names
    from lookalike.pipelines import DEFAULT_MATRIX_METHOD, MATRIX_WORKING_SIZE

    parser = subparsers.add_parser(
        "matrix",
        help="compare every pair of images of a folder (or of two folders)",
        description=(
            "Compare every pair of images in a folder, or every image of DIR with every image of DIR_B, "
            "with a matching method (local features, ratio test and geometric verification; similarity "
            "in [0, 1]) or any metric of 'lookalike compare'. Writes OUT/matrix.csv, OUT/pairs.csv "
            "(most similar first), OUT/errors.csv and OUT/heatmap.png. Unreadable files are listed and "
            "skipped."
        ),
    )
    parser.add_argument("folder", metavar="DIR", help="folder of images")
    parser.add_argument("folder_b", metavar="DIR_B", nargs="?", default=None,
                        help="second folder: compare every image of DIR with every image of DIR_B")
    measure = parser.add_mutually_exclusive_group()
    measure.add_argument("--method", choices=LOCAL_METHODS, default=None,
                         help=f"local feature matching method (default: {DEFAULT_MATRIX_METHOD})")
    measure.add_argument("--metric", default=None,
                         help=f"a metric instead of matching; one of: {', '.join(metric_names())}")
    parser.add_argument("--out", "-o", default=DEFAULT_OUT,
                        help=f"output folder, created if needed (default: ./{DEFAULT_OUT})")
    parser.add_argument("--draw-matches", action="store_true",
                        help="also draw the matches of every pair into OUT/matches/ (matching methods only)")
    parser.add_argument("--jobs", "-j", type=int, default=None,
                        help="worker processes (default: every available CPU)")
    parser.add_argument("--recursive", "-r", action="store_true", help="also search sub-folders")
    add_engine_options(parser)
    width, height = MATRIX_WORKING_SIZE
    parser.add_argument(
        "--resize", default="auto",
        help="full-reference metrics only: 'auto' (default: as they are when all images have one size, "
        f"else each image resized once to {width}x{height}), a size such as 512x384, or per pair "
        "'smaller', 'larger', 'first'; 'none' records pairs of different sizes as failed",
    )
    parser.add_argument("--max-keypoints", type=int, default=4000,
                        help="keypoints kept per image (matching methods; default 4000)")
    parser.add_argument("--cache", action="store_true",
                        help="keep each image's features in OUT/cache/ (keyed by path, size and time) for "
                        "the next run")
    parser.add_argument("--top", type=int, default=_TOP,
                        help=f"most similar pairs printed (default {_TOP}; 0 prints none)")
    parser.add_argument("--json", action="store_true",
                        help="print the result as one JSON object instead of the summary (the files are written too)")
    add_max_pixels_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.draw_matches and args.metric is not None:
        raise ParameterError("--draw-matches needs a matching method (--method), not a metric")
    if args.jobs is not None and args.jobs < 1:
        raise ParameterError(f"--jobs must be at least 1, got {args.jobs}")
    out_dir = args.out
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ParameterError(f"--out {out_dir!r} is a file; give a folder (it is created if needed)")
    started = time.perf_counter()
    with ProgressBar(err) as progress, engine_jobs(args) as jobs:
        result = similarity_matrix(
            args.folder, args.folder_b,
            method=args.method, metric=args.metric, recursive=args.recursive, resize=args.resize,
            max_keypoints=args.max_keypoints, jobs=jobs,
            cache_dir=os.path.join(out_dir, "cache") if args.cache else None,
            keep_matches=args.draw_matches, exclude=[out_dir], progress=progress, max_pixels=args.max_pixels,
        )
        elapsed = time.perf_counter() - started
        os.makedirs(out_dir, exist_ok=True)
        written = [_write_errors(result, os.path.join(out_dir, "errors.csv"), args)]
        if result.values.size == 0:
            _report_issues(result, out_dir, err, args)
            err.write(
                f"lookalike: error: none of the image files could be read; see "
                f"{os.path.join(out_dir, 'errors.csv')}\n"
            )
            return 2
        written.append(_write_matrix(result, os.path.join(out_dir, "matrix.csv")))
        written.append(_write_pairs(result, os.path.join(out_dir, "pairs.csv")))
        written.append(_write_heatmap(result, os.path.join(out_dir, "heatmap.png"), args))
        if args.draw_matches:
            folder = os.path.join(out_dir, "matches")
            count = _draw_all(result, folder, jobs=args.jobs, progress=progress)
            written.append(f"{folder}{os.sep} ({count} pictures)")
    _report_issues(result, out_dir, err, args)
    if args.json:
        out.write(json.dumps(result.to_dict(), allow_nan=False) + "\n")
    else:
        _summary(result, args, elapsed, written, out)
    if result.pairs and all(pair.error is not None for pair in result.pairs):
        err.write(f"lookalike: error: every one of the {len(result.pairs)} pairs failed; see "
                  f"{os.path.join(out_dir, 'errors.csv')}\n")
        return 2
    return 0


# -- files ----------------------------------------------------------------------------------------

def _number(value: float) -> str:
    if math.isnan(value):
        return ""
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.6g}"


def _write_matrix(result: MatrixResult, path: str) -> str:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", *result.column_labels])
        for label, row in zip(result.labels, result.values, strict=True):
            writer.writerow([label, *(_number(float(v)) for v in row)])
    return path


def _write_pairs(result: MatrixResult, path: str) -> str:
    value_name = "similarity" if result.kind == "matching" else result.measure
    header = ["a", "b", value_name]
    if result.kind == "matching":
        header += ["matches", "inliers"]
    header.append("error")
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for pair in result.pairs:
            row: list[Any] = [pair.a, pair.b, _number(pair.value)]
            if result.kind == "matching":
                row += ["" if pair.matches is None else pair.matches, "" if pair.inliers is None else pair.inliers]
            row.append(pair.error or "")
            writer.writerow(row)
    return path


def _write_errors(result: MatrixResult, path: str, args: argparse.Namespace) -> str:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "other", "stage", "skipped", "reason", "path"])
        for issue in result.errors:
            writer.writerow([issue.label, issue.other or "", issue.stage, "yes" if issue.skipped else "no",
                             cli_message(issue.reason, args), issue.path])
    return path


def _write_heatmap(result: MatrixResult, path: str, args: argparse.Namespace) -> str:
    from PIL import Image

    from lookalike.viz import draw_heatmap

    if result.kind == "matching":
        title = f"{result.measure} similarity (0 = unrelated, 1 = same scene)"
        value_range: tuple[float, float] | None = (0.0, 1.0)
    else:
        direction = "higher" if result.higher_is_better else "lower"
        title = f"{result.measure} ({direction} = more similar)"
        if result.resize not in (None, "none"):
            title += f", resized {result.resize}"
        value_range = None
    n_rows, n_cols = result.shape
    if result.square:
        title += f"; {n_rows} image{'s' if n_rows != 1 else ''}"
    else:
        title += f"; rows {args.folder} ({n_rows}), columns {args.folder_b} ({n_cols})"
    picture = draw_heatmap(result.values, row_labels=result.labels, column_labels=result.column_labels,
                           title=title, higher_is_better=result.higher_is_better, value_range=value_range)
    Image.fromarray(picture).save(path)
    return path


# -- match pictures ------------------------------------------------------------------------------

def _safe(label: str) -> str:
    """A file-name-safe version of a label: folders joined by '__', other odd characters as '_'."""
    text = re.sub(r"[^A-Za-z0-9._-]+", "_", label.replace("/", "__")).strip("._") or "image"
    if len(text) > _NAME_PART:
        digest = hashlib.sha1(label.encode("utf-8", "surrogateescape")).hexdigest()[:8]
        text = f"{text[:_NAME_PART - 9]}-{digest}"
    return text


def match_picture_names(result: MatrixResult) -> list[str]:
    """One unique file name per pair of ``result.pairs``: ``<a>--<b>.jpg`` (sanitised)."""
    names: list[str] = []
    used: set[str] = set()
    for pair in result.pairs:
        stem = f"{_safe(pair.a)}--{_safe(pair.b)}"
        name, k = f"{stem}.jpg", 2
        while name.casefold() in used:
            name, k = f"{stem}-{k}.jpg", k + 1
        used.add(name.casefold())
        names.append(name)
    return names


def _draw_all(result: MatrixResult, folder: str, *, jobs: int | None, progress: Callable[..., None] | None) -> int:
    os.makedirs(folder, exist_ok=True)
    names = match_picture_names(result)
    features_a = result.features or []
    features_b = result.column_features or []
    by_row: dict[int, list[tuple[str, str, Any, Any, str]]] = {}
    for pair, name in zip(result.pairs, names, strict=True):
        if pair.result is None:
            continue
        # the result carries its matched points; the features travel only if it does not
        features = None if getattr(pair.result, "points", None) is not None else (
            features_a[pair.row], features_b[pair.col])
        by_row.setdefault(pair.row, []).append((
            result.paths[pair.row], result.column_paths[pair.col], pair.result, features,
            os.path.join(folder, name),
        ))
    chunks = list(by_row.values())
    total = sum(len(c) for c in chunks)
    if progress is not None:
        progress("drawing", 0, total)
    from lookalike.parallel import check_jobs, worker_count

    workers = worker_count(check_jobs(jobs), len(chunks))
    done = 0
    if workers <= 1:
        for chunk in chunks:
            done += _draw_chunk(chunk)
            if progress is not None:
                progress("drawing", done, total)
        return done
    from concurrent.futures import as_completed

    from lookalike.parallel import process_pool, single_threaded_opencv

    with process_pool(workers, initializer=single_threaded_opencv) as pool:
        for future in as_completed([pool.submit(_draw_chunk, chunk) for chunk in chunks]):
            done += future.result()
            if progress is not None:
                progress("drawing", done, total)
    return done


def _draw_chunk(chunk: list[tuple[str, str, Any, Any, str]]) -> int:
    """Draw one row's pairs; the row image is decoded once. Returns the number of pictures written."""
    from PIL import Image

    from lookalike.errors import LookalikeError
    from lookalike.io import load_image
    from lookalike.viz import draw_matches

    decoded: dict[str, Any] = {}

    def load(path: str) -> Any:
        if path not in decoded:
            if len(decoded) > 4:
                decoded.pop(next(iter(decoded)))
            decoded[path] = load_image(path)
        return decoded[path]

    count = 0
    for path_a, path_b, match, features, target in chunk:
        try:
            picture = draw_matches(load(path_a), load(path_b), match, features=features)
            Image.fromarray(picture).save(target, quality=90)
        except (LookalikeError, OSError, ValueError):  # a picture that cannot be drawn is not fatal
            continue
        count += 1
    return count


# -- terminal output -----------------------------------------------------------------------------

def _report_issues(result: MatrixResult, out_dir: str, err: TextIO, args: argparse.Namespace) -> None:
    errors_csv = os.path.join(out_dir, "errors.csv")
    if result.resize not in (None, "none"):
        if re.match(r"^\d+x\d+$", result.resize or ""):
            err.write(
                f"lookalike: note: the images differ in size; for {result.measure} each was resized once to "
                f"{result.resize} (choose with --resize WxH, smaller, larger or none)\n"
            )
        else:
            err.write(f"lookalike: note: pairs of different sizes were resized to the {result.resize} image "
                      f"of the pair for {result.measure}\n")
    skipped = [e for e in result.errors if e.skipped]
    if skipped:
        err.write(f"lookalike: {len(skipped)} file{'s' if len(skipped) != 1 else ''} skipped "
                  f"(listed in {errors_csv}):\n")
        for issue in skipped[:_LISTED_ISSUES]:
            err.write(f"  {issue.label}: {cli_message(issue.reason, args)}\n")
        if len(skipped) > _LISTED_ISSUES:
            err.write(f"  ... and {len(skipped) - _LISTED_ISSUES} more\n")
    blank = [e.label for e in result.errors if e.stage == "features" and not e.skipped]
    if blank:
        shown = ", ".join(blank[:_LISTED_ISSUES]) + (" ..." if len(blank) > _LISTED_ISSUES else "")
        err.write(f"lookalike: {len(blank)} image{'s have' if len(blank) != 1 else ' has'} no keypoints and "
                  f"score{'' if len(blank) != 1 else 's'} 0 against every image: {shown}\n")
    failed = [e for e in result.errors if e.stage == "compare"]
    if failed:
        err.write(f"lookalike: {len(failed)} pair{'s' if len(failed) != 1 else ''} could not be compared "
                  f"(listed in {errors_csv}), e.g. {failed[0].label} vs {failed[0].other}: "
                  f"{cli_message(failed[0].reason, args)}\n")


def _summary(result: MatrixResult, args: argparse.Namespace, elapsed: float, written: list[str], out: TextIO) -> None:
    n_rows, n_cols = result.shape
    images = f"{n_rows} images" if result.square else f"{n_rows} x {n_cols} images"
    out.write(f"compared {images} with {result.measure}: {len(result.pairs)} pairs in {elapsed:.1f} s\n")
    shown = [p for p in result.pairs if not math.isnan(p.value)]
    if result.kind == "matching":
        shown = [p for p in shown if p.value > 0]  # 0: no verified geometry, nothing to show
        if not shown and result.pairs and args.top > 0:
            out.write("no pair matched: every similarity is 0 (no shared scene found)\n")
    shown = shown[: max(0, args.top)]
    if shown:
        direction = "higher" if result.higher_is_better else "lower"
        value_name = "similarity" if result.kind == "matching" else result.measure
        out.write(f"most similar pairs ({value_name}, {direction} = more similar):\n")
        width_a = max(len(p.a) for p in shown)
        for pair in shown:
            line = f"  {_number(pair.value):>10}  {pair.a:<{width_a}}  {pair.b}"
            if pair.inliers is not None:
                line += f"  ({pair.inliers} inliers of {pair.matches} matches)"
            out.write(line + "\n")
    out.write("wrote " + ", ".join(written) + "\n")
