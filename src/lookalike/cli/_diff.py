"""``lookalike diff A B --out diff.png``: a picture of where two images differ."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, TextIO

from lookalike.cli._options import add_max_pixels_option
from lookalike.cli._pictures import check_picture_path, write_picture
from lookalike.errors import ParameterError
from lookalike.io import load_image
from lookalike.metrics import describe_shape
from lookalike.pipelines import RESIZE_CHOICES, harmonise_pair, resize_pair

#: File types the picture can be written as (OpenCV encoders present in every build).


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "diff",
        help="draw where two images differ (outlined regions and the SSIM map)",
        description=(
            "Write a picture with both images side by side, the regions where they differ outlined, "
            "and the SSIM map as a heat map; print the SSIM and the differing regions."
        ),
    )
    parser.add_argument("a", help="first image")
    parser.add_argument("b", help="second image")
    parser.add_argument("--out", "-o", required=True, help="picture to write (.png, .jpg, .webp, ...)")
    parser.add_argument("--resize", choices=RESIZE_CHOICES, default="none",
                        help="what to do when the images differ in size (default: none = error)")
    parser.add_argument("--align", action="store_true",
                        help="first warp B onto A with the homography `lookalike match` verifies, so that a "
                        "cropped, scaled or rotated copy shows its edits, not the crop; the part of A that B does "
                        "not cover is not compared (hatched in the picture; JSON: aligned.overlap)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="local SSIM below which a region counts as different (default: 0.5)")
    parser.add_argument("--min-area", type=int, default=None,
                        help="smallest region reported, in pixels (default: image area / 2000, at least 16)")
    parser.add_argument("--panel-size", type=int, default=512,
                        help="longest side of each panel in the picture, in pixels (default: 512)")
    parser.add_argument("--data-range", type=float, default=None,
                        help="dynamic range of float images (inferred for 8/16-bit files)")
    add_max_pixels_option(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from lookalike.metrics import infer_data_range
    from lookalike.pipelines import diff_analysis
    from lookalike.viz import DIFF_THRESHOLD as DEFAULT_THRESHOLD
    from lookalike.viz import render_diff

    target = Path(args.out)
    check_picture_path(target, option="--out", example="diff.png")
    panel_size = _panel_size(args.panel_size)  # before the work, not after it
    pixels0 = load_image(args.a, mode="auto", max_pixels=args.max_pixels)
    pixels1 = load_image(args.b, mode="auto", max_pixels=args.max_pixels)
    pixels0, pixels1 = harmonise_pair(pixels0, pixels1, labels=(args.a, args.b))
    aligned = None
    if args.align:
        if args.resize != "none":
            raise ParameterError("--align brings B onto A's pixels itself; leave out --resize")
        from lookalike.pipelines import align_pair

        aligned = align_pair(pixels0, pixels1)
        pixels1 = aligned.image
    else:
        pixels0, pixels1 = resize_pair(pixels0, pixels1, args.resize, labels=(args.a, args.b))
    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    data_range = infer_data_range(pixels0, pixels1, args.data_range)  # float images: --data-range (np.iinfo raised)
    result = diff_analysis(pixels0, pixels1, threshold=threshold, min_area=args.min_area, data_range=data_range,
                           valid=None if aligned is None else aligned.overlap)
    picture = render_diff(pixels0, pixels1, result, data_range=data_range,
                          labels=(os.path.basename(args.a),
                                  os.path.basename(args.b) + (" (aligned to A)" if aligned is not None else "")),
                          panel_size=panel_size)
    write_picture(target, picture, option="--out", example="diff.png")

    height, width = pixels0.shape[:2]
    if args.json:
        out.write(json.dumps(result.to_dict(a=args.a, b=args.b, out=str(target), aligned=aligned),
                             allow_nan=False) + "\n")
        return 0
    count = len(result.regions)
    out.write(f"{args.a}  vs  {args.b}  ({describe_shape((height, width))})\n")
    if aligned is not None:
        share = float(result.valid.mean()) if result.valid is not None else 1.0
        out.write(f"  aligned  B onto A: {aligned.match.n_inliers} inliers; {share:.0%} of A compared "
                  "(the rest is not covered by B)\n")
    out.write(f"  ssim     {result.score:.6f}   (higher = more similar)\n")
    out.write(f"  regions  {count}   (local SSIM < {result.threshold:g})\n")
    for x, y, w, h in result.regions:
        out.write(f"    x={x} y={y} w={w} h={h}\n")
    out.write(f"  wrote {target}  ({picture.shape[1]}x{picture.shape[0]})\n")
    return 0


def _panel_size(value: int) -> int:
    if value < 32 or value > 4096:
        raise ParameterError(f"--panel-size must be between 32 and 4096 pixels, got {value}")
    return value


