"""``lookalike compare A B``: full-reference and histogram metrics between two images."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any, TextIO

from lookalike.cli._options import add_max_pixels_option
from lookalike.metrics import SSIM_CONVENTIONS, get_metric, metric_names
from lookalike.pipelines import DEFAULT_METRICS, RESIZE_CHOICES, Comparison, compare, resolve_metrics


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="compute similarity metrics between two images",
        description="Compute full-reference metrics (SSIM, PSNR, FSIM, ...) and histogram distances "
        "between two images. Exit code 0 on success, 2 when an image cannot be read or compared.",
    )
    parser.add_argument("a", help="reference image")
    parser.add_argument("b", help="image to compare with the reference")
    parser.add_argument(
        "--metric", "-m", default=",".join(DEFAULT_METRICS),
        help=f"comma-separated metric names, or 'all' (default: {','.join(DEFAULT_METRICS)}); "
        f"available: {', '.join(metric_names())}",
    )
    parser.add_argument("--convention", choices=SSIM_CONVENTIONS, default=None,
                        help="SSIM convention (default: wang, Wang's ssim_index.m)")
    parser.add_argument("--resize", choices=RESIZE_CHOICES, default="none",
                        help="what to do when the images differ in size (default: none = error)")
    parser.add_argument("--data-range", type=float, default=None,
                        help="dynamic range of float images (inferred for 8/16-bit files)")
    add_max_pixels_option(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    names = resolve_metrics(args.metric)
    values = compare(args.a, args.b, metrics=names, resize=args.resize, convention=args.convention,
                     data_range=args.data_range, max_pixels=args.max_pixels)
    if args.json:
        comparison = Comparison(args.a, args.b, values, convention=args.convention)
        out.write(json.dumps(comparison.to_dict(), allow_nan=False) + "\n")
        return 0
    width = max(len(n) for n in values)
    out.write(f"{args.a}  vs  {args.b}\n")
    for name, value in values.items():
        arrow = "higher = more similar" if get_metric(name).higher_is_better else "lower = more similar"
        out.write(f"  {name:<{width}}  {format_value(value):>12}   ({arrow})\n")
    return 0


def format_value(value: float) -> str:
    """A metric value for a table: 6 decimals for ordinary values, scientific notation for tiny or huge ones."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:.6g}" if abs(value) >= 1000 else f"{value:.6f}"
    return f"{value:.4e}"
