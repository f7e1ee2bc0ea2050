"""``lookalike evaluate --train DIR (--test DIR | --cv K)``: how accurate a classification method is."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any, TextIO

from lookalike.cli._classify import add_model_options, report_skipped
from lookalike.cli._engine import engine_jobs
from lookalike.cli._search import _positive_int
from lookalike.errors import ParameterError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="measure a classification method on labelled images (test set or cross-validation)",
        description=(
            "Classify a labelled test set (--test DIR) with the references of --train, or cross-validate over "
            "--train (--cv K: stratified K-fold; a query is never among its own references, nor are its "
            "byte-identical copies), and print accuracy, balanced accuracy and per-class precision, recall, F1 "
            "and support. --out DIR also writes confusion.png, misclassified.html (each wrong query beside its "
            "nearest references) and evaluation.json."
        ),
    )
    add_model_options(parser)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--test", metavar="TESTDIR", help="labelled queries (class sub-folders or a CSV)")
    group.add_argument("--cv", type=_folds, metavar="K", help="stratified K-fold cross-validation over --train")
    parser.add_argument("--out", "-o", metavar="OUTDIR", default=None,
                        help="write confusion.png, misclassified.html and evaluation.json here")
    parser.set_defaults(run=run)


def _folds(text: str) -> int:
    value = _positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"cross-validation needs at least 2 folds, got {text!r}")
    return value


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from lookalike.cli._progress import ProgressBar
    from lookalike.pipelines import evaluate, load_labelled

    if args.out is not None and os.path.exists(args.out) and not os.path.isdir(args.out):
        raise ParameterError(f"--out {args.out!r} is a file; give a folder (it is created if needed)")
    labelled = load_labelled(args.train)
    for name in labelled.empty_classes:
        err.write(f"lookalike: warning: class folder {os.path.join(args.train, name)!r} holds no image; ignored\n")
    with engine_jobs(args) as jobs, ProgressBar(err) as progress:
        report = evaluate(labelled, args.test, cv=args.cv, method=args.method, k=args.k,
                          unknown_below=args.unknown_below, cache_dir=args.cache_dir, size=args.size,
                          jobs=jobs, progress=progress)
    report_skipped(report.skipped, err, args)
    written = []
    if args.out is not None:
        try:
            written = write_outputs(report, args.out)
        except OSError as exc:
            raise ParameterError(f"cannot write the evaluation to {args.out!r}: {exc.strerror or exc}") from None
    if args.json:
        out.write(json.dumps(report.to_dict(), allow_nan=False, ensure_ascii=False) + "\n")
        return 0
    setting = f"{report.folds}-fold cross-validation" if report.folds else f"test set {args.test}"
    out.write(f"{report.method} (k={report.k}), {setting}: {len(report.predictions)} queries, "
              f"{report.n_train} references each\n")
    out.write(f"accuracy           {report.accuracy:.4f}\nbalanced accuracy  {report.balanced_accuracy:.4f}\n\n")
    width = max(5, *(len(c) for c in report.classes))
    out.write(f"{'class'.ljust(width)}  precision  recall     f1  support\n")
    for label, row in report.per_class.items():
        out.write(f"{label.ljust(width)}  {row['precision']:9.3f}  {row['recall']:6.3f}  {row['f1']:5.3f}  "
                  f"{int(row['support']):7d}\n")
    for path in written:
        out.write(f"wrote {path}\n")
    return 0


def write_outputs(report: Any, folder: str) -> list[str]:
    """confusion.png, misclassified.html and evaluation.json in ``folder``; the paths written."""
    from PIL import Image

    from lookalike.viz import draw_confusion, write_evaluation_html

    os.makedirs(folder, exist_ok=True)
    picture = os.path.join(folder, "confusion.png")
    Image.fromarray(draw_confusion(report)).save(picture)
    page = write_evaluation_html(report, os.path.join(folder, "misclassified.html"))
    data = os.path.join(folder, "evaluation.json")
    with open(data, "w", encoding="utf-8") as handle:
        json.dump(report.to_dict(), handle, indent=1, allow_nan=False, ensure_ascii=False)
        handle.write("\n")
    return [picture, page, data]
