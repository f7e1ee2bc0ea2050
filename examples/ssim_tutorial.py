"""The SSIM-tutorial experiment, done next to the embedding: ``python examples/ssim_tutorial.py``.

A well-known tutorial ("Image Classification Using SSIM", after PyImageSearch's "How-To: Python
Compare Two Images") compares dogs, cats and a gate picture by MSE and SSIM and reads the numbers
by eye. This script prints its table, pair by pair (the tutorial's pipeline: colour decoded with
the alpha channel dropped, resized to ``--size`` x ``--size`` ignoring the aspect ratio, OpenCV
grey, MSE and scikit-image's SSIM defaults), and next to each pair the answer of lookalike's
deep embedding (the EfficientNet-Lite0 cosine). Then each image is labelled by its nearest other
image, once by SSIM and once by the embedding (leave-one-out 1-NN; the class is the image's folder,
or for the bundled images the original it was made from).

By default it runs on the bundled public-domain / CC0 images of ``examples/images``: originals,
an edited contrast and a "photoshopped" patch, as in the tutorial's gate triple, and pairs of
different pictures. ``--pairs CSV`` takes another table of ``title,image_a,image_b`` rows (paths
relative to the CSV), such as the tutorial's own images and printed values in
``../shared/data/seeds/ssim_blog/notebook_printed_results.csv``; printed values found there
(``printed_mse``, ``printed_ssim``) are shown beside the recomputed ones. ``--size 10000`` is the
tutorial's size (its printed values are reproduced exactly then; it needs a few GB of memory).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import cv2
import numpy as np

from lookalike.features import Embedder
from lookalike.io import load_image
from lookalike.metrics import mse, ssim

HERE = Path(__file__).resolve().parent
#: The bundled pairs: (title, image a, image b), paths relative to examples/images.
BUNDLED = (
    ("same astronaut", "astronaut.png", "astronaut.png"),
    ("astronaut vs contrast", "astronaut.png", "astronaut--bright.jpg"),
    ("astronaut vs photoshopped", "astronaut.png", "astronaut--patch.jpg"),
    ("cat vs blurred cat", "chelsea.png", "chelsea--blur.jpg"),
    ("cat vs photoshopped cat", "chelsea.png", "chelsea--patch.jpg"),
    ("cat vs astronaut", "chelsea.png", "astronaut.png"),
    ("cat vs coffee", "chelsea.png", "coffee.jpg"),
    ("astronaut vs rocket", "astronaut.png", "rocket.jpg"),
    ("camera man vs astronaut", "camera.png", "astronaut.png"),
)


def tutorial_grey(path: Path, size: int) -> np.ndarray:
    """The tutorial's input: ``cv2.imread`` (BGR, alpha dropped), ``cv2.resize`` to size x size, BGR2GRAY."""
    bgr = np.ascontiguousarray(load_image(path, mode="rgb", alpha="drop")[..., ::-1])
    return cv2.cvtColor(cv2.resize(bgr, (size, size)), cv2.COLOR_BGR2GRAY)


def image_class(name: str) -> str:
    """The class of an image: its folder, else the original it was made from (``astronaut--patch.jpg``)."""
    path = Path(name)
    return path.parent.name if path.parent.name else path.stem.split("--")[0]


def read_pairs(table: Path | None) -> tuple[Path, list[dict[str, str]]]:
    if table is None:
        return HERE / "images", [{"title": t, "image_a": a, "image_b": b} for t, a, b in BUNDLED]
    with open(table, newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("files_available", "yes") == "yes"]
    return table.parent, rows


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None) -> int:
    out = stdout if stdout is not None else sys.stdout
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, default=None, help="CSV of title,image_a,image_b (default: bundled)")
    parser.add_argument("--size", type=int, default=1000, help="side of the resized squares (tutorial: 10000)")
    args = parser.parse_args(argv)
    root, rows = read_pairs(args.pairs)
    names = sorted({row[key] for row in rows for key in ("image_a", "image_b")})
    embedder = Embedder()
    vectors = dict(zip(names, embedder.embed([load_image(root / n, draft=Embedder.draft_size) for n in names]),
                       strict=True))
    grey: dict[str, np.ndarray] = {}
    printed = "printed_ssim" in rows[0]
    width = max(len(row["title"]) for row in rows) + 2
    header = f"{'pair'.ljust(width)}{'MSE':>10}{'SSIM':>7}" + (f"{'(printed)':>18}" if printed else "")
    header += f"{'cosine':>9}"
    out.write(f"SSIM tutorial pipeline at {args.size}x{args.size} grey, next to the deep embedding\n")
    out.write(header + "\n" + "-" * len(header) + "\n")
    for row in rows:
        for name in (row["image_a"], row["image_b"]):
            if name not in grey:
                grey[name] = tutorial_grey(root / name, args.size)
        a, b = grey[row["image_a"]], grey[row["image_b"]]
        cosine = float(np.dot(vectors[row["image_a"]], vectors[row["image_b"]]))
        line = f"{row['title'].ljust(width)}{mse(a, b):10.2f}{ssim(a, b, convention='skimage'):7.2f}"
        if printed:
            line += f"{row['printed_mse']:>11}{row['printed_ssim']:>7}"
        line += f"{cosine:9.3f}"
        out.write(line + "\n")
    out.write("\nleave-one-out nearest image: by SSIM / by the embedding\n")
    right = {"ssim": 0, "embedding": 0}
    asked = [n for n in names if any(image_class(o) == image_class(n) for o in names if o != n)]
    for name in asked:  # images with another of their class to find
        others = [o for o in names if o != name]
        by_ssim = max(others, key=lambda o: ssim(grey[name], grey[o], convention="skimage"))
        by_embedding = max(others, key=lambda o: float(np.dot(vectors[name], vectors[o])))
        right["ssim"] += image_class(by_ssim) == image_class(name)
        right["embedding"] += image_class(by_embedding) == image_class(name)
        out.write(f"  {name:34s} ({image_class(name)}): {by_ssim} / {by_embedding}\n")
    out.write(f"right class: SSIM {right['ssim']} of {len(asked)}, embedding {right['embedding']} of {len(asked)}\n")
    out.write("\nSSIM and MSE follow pixels: an edited copy scores high, but so can two different pictures of "
              "similar layout,\nand two photos of one kind of thing score low. The embedding's cosine "
              "separates kinds of thing;\n`lookalike evaluate --train DIR --cv 5` measures both "
              "(--method ssim for the tutorial's way).\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
