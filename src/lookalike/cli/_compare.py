"""``lookalike compare A B``: full-reference and histogram metrics between two images."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any, TextIO

from lookalike.metrics import get_metric, metric_names
from lookalike.metrics._ssim import SSIM_CONVENTIONS
from lookalike.pipelines import DEFAULT_METRICS, RESIZE_CHOICES, compare, resolve_metrics


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="compute similarity metrics between two images",
        description="Compute full-reference metrics (SSIM, PSNR, FSIM, ...) and histogram distances between two images.",
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
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    names = resolve_metrics(args.metric)
    values = compare(args.a, args.b, metrics=names, resize=args.resize, convention=args.convention,
                     data_range=args.data_range)
    if args.json:
        payload = {"a": args.a, "b": args.b, "metrics": {k: _json_number(v) for k, v in values.items()}}
        if args.convention:
            payload["convention"] = args.convention
        out.write(json.dumps(payload) + "\n")
        return 0
    width = max(len(n) for n in values)
    out.write(f"{args.a}  vs  {args.b}\n")
    for name, value in values.items():
        arrow = "higher = more similar" if get_metric(name).higher_is_better else "lower = more similar"
        out.write(f"  {name:<{width}}  {_format(value):>12}   ({arrow})\n")
    return 0


def _json_number(value: float) -> Any:
    """JSON has no infinity: PSNR of identical images is written as the string "inf"."""
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _format(value: float) -> str:
    if math.isinf(value):
        return "inf"
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:.6g}" if abs(value) >= 1000 else f"{value:.6f}"
    return f"{value:.4e}"
