"""``lookalike match A B``: keypoint matching with geometric verification between two images."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, TextIO

from lookalike.cli._options import add_max_pixels_option
from lookalike.cli._pictures import check_picture_path, write_picture
from lookalike.features import LOCAL_METHODS
from lookalike.io import load_image
from lookalike.matching import MODELS


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "match",
        help="match keypoints between two images and verify they show the same thing",
        description="Match local features (RootSIFT by default) with Lowe's ratio test, verify them with "
        "MAGSAC++ and score the evidence in [0, 1]. The homography maps pixel coordinates (x, y, 1) "
        "of A onto B. The similarity is the inlier scale (JSON: \"similarity_scale\": \"inliers\"): "
        "1 - 2^(-(n - 8) / 10) of the n verified inliers, 0.5 at 18; it is not calibrated and is not the "
        "percentage of `lookalike search` (\"calibrated-copy\"), which weighs the hash and the embedding too: "
        "a rotated crop can read 0.80 here and 34% there.",
    )
    parser.add_argument("a", help="first image (A)")
    parser.add_argument("b", help="second image (B)")
    parser.add_argument("--method", choices=LOCAL_METHODS, default="rootsift",
                        help="local features (default: rootsift)")
    parser.add_argument("--ratio", type=float, default=0.75,
                        help="Lowe's ratio test threshold, in (0, 1] (default: 0.75)")
    parser.add_argument("--no-verify", dest="verify", action="store_false",
                        help="skip geometric verification: report the plain ratio-test matches")
    parser.add_argument("--model", choices=MODELS, default="homography",
                        help="geometry to verify: homography (a plane; default) or fundamental (any rigid scene)")
    parser.add_argument("--max-keypoints", type=int, default=4000,
                        help="keypoints kept per image, strongest first (default: 4000)")
    parser.add_argument("--no-affine", dest="affine", action="store_false",
                        help="do not retry with affine view simulation (ASIFT) when verification fails")
    parser.add_argument("--draw", metavar="OUT.png", default=None,
                        help="write a side-by-side picture of the matches (.png, .jpg, .webp, ...)")
    parser.add_argument("--show-outliers", action="store_true",
                        help="with --draw, also draw the matches that disagree with the model (red)")
    add_max_pixels_option(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from lookalike.pipelines import match

    target = None if args.draw is None else Path(args.draw)
    if target is not None:
        check_picture_path(target, option="--draw", example="matches.png")
    image0 = load_image(args.a, max_pixels=args.max_pixels)
    image1 = load_image(args.b, max_pixels=args.max_pixels)
    result = match(image0, image1, method=args.method, ratio=args.ratio, verify=args.verify,
                   model=args.model, max_keypoints=args.max_keypoints, affine_fallback=args.affine,
                   names=(args.a, args.b))
    if target is not None:
        from lookalike.viz import draw_matches

        picture = draw_matches(image0, image1, result, show_outliers=args.show_outliers)
        write_picture(target, picture, option="--draw", example="matches.png")

    if args.json:
        out.write(json.dumps(result.to_dict(), allow_nan=False) + "\n")
        return 0
    n_a, n_b = result.keypoints
    out.write(f"{args.a}  vs  {args.b}\n")
    out.write(f"  method      {result.method}{'  (affine view simulation)' if result.affine else ''}\n")
    out.write(f"  keypoints   {n_a} / {n_b}\n")
    out.write(f"  matches     {result.n_matches}   (ratio test {args.ratio:g})\n")
    if args.verify:
        out.write(f"  inliers     {result.n_inliers}   ({result.model_kind}, MAGSAC++)\n")
        verdict = "yes" if result.verified else f"no: {result.reason}"
        out.write(f"  verified    {verdict}\n")
        out.write(f"  similarity  {result.similarity:.6f}   (0 = no shared geometry, 0.5 = clear, 1 = certain)\n")
        if result.model is not None:
            name = "homography" if result.model_kind == "homography" else "fundamental"
            rows = ", ".join("[" + ", ".join(f"{v:.6g}" for v in row) + "]" for row in result.model)
            out.write(f"  {name:<10}  [{rows}]   (A -> B)\n")
    else:
        out.write(f"  similarity  {result.similarity:.6f}   (not verified: an upper bound)\n")
    if target is not None:
        out.write(f"  wrote {target}\n")
    return 0


