"""A tour of every job on the bundled sample images: ``python -m lookalike.demo --out demo-output``.

Compares each original in ``examples/images`` with its edited copies (JPEG
quality 20, blur, noise, crop, rotation, brightness, a pasted patch) with every
metric, prints a table, writes ``compare.json``, and draws where two images
differ (``lookalike.viz``). Then it runs each command a user would, printing
the command line first: ``match`` with a drawing, ``index build`` on the
sample folder, ``search`` with an edited copy, ``duplicates`` with its HTML
report, and ``evaluate`` / ``classify`` on a labelled set of texture crops
(scikit-image's CC0 brick, grass and gravel, cut at demo time), by the default
embedding and by the SSIM baseline. It ends by writing ``index.html``, one page
linking every picture and report it made. The images are scikit-image's
public-domain / CC0 samples and copies made from them by
``examples/make_samples.py``; nothing is downloaded. Presentation code: it prints.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from lookalike.errors import LookalikeError
from lookalike.io import load_image
from lookalike.metrics import get_metric, metric_names
from lookalike.pipelines import Comparison, compare, compare_many

#: Where ``make_samples.py`` writes the images, relative to the repository root.
SAMPLES = Path("examples") / "images"

#: A pair of unrelated pictures, to show what "not alike" looks like (sizes differ: resized).
UNRELATED = ("chelsea.png", "coffee.jpg")

#: Pairs drawn as difference pictures: local edits, where outlines say something.
DIFFS = (("astronaut.png", "astronaut--patch.jpg"), ("camera.png", "camera--patch.jpg"))


def default_images() -> Path:
    """``examples/images`` of the checkout this module runs from (an editable install)."""
    return Path(__file__).resolve().parents[2] / SAMPLES


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None) -> int:
    """Run the demo; return the exit code (0 when every pair was compared)."""
    out = stdout if stdout is not None else sys.stdout
    parser = argparse.ArgumentParser(prog="python -m lookalike.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("demo-output"), help="folder for the results")
    parser.add_argument("--images", type=Path, default=None,
                        help=f"folder with the sample images and pairs.csv (default: {SAMPLES} of the checkout)")
    parser.add_argument("--no-tour", action="store_true", help="only the comparison table and difference pictures")
    args = parser.parse_args(argv)
    images = args.images or default_images()
    table = images / "pairs.csv"
    if not table.is_file():
        print(f"lookalike demo: error: no sample images at {images} (pairs.csv missing); run "
              "'python examples/make_samples.py' or pass --images DIR", file=sys.stderr)
        return 2
    started = time.perf_counter()
    with open(table, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    names = metric_names()

    # one compare_many per original: the original is decoded once for all its copies
    results: list[tuple[str, Comparison]] = []
    by_original: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_original.setdefault(row["original"], []).append(row)
    for original, copies in by_original.items():
        compared = compare_many(images / original, [images / row["copy"] for row in copies], metrics=names,
                                on_error="record")
        results += [(row["edit"], comparison) for row, comparison in zip(copies, compared, strict=True)]
    a, b = (images / name for name in UNRELATED)
    try:
        unrelated = Comparison(str(a), str(b), compare(a, b, metrics=names, resize="smaller"))
    except LookalikeError as exc:
        unrelated = Comparison(str(a), str(b), {}, str(exc))
    results.append(("unrelated", unrelated))

    out.write(f"lookalike demo: {len(results)} pairs from {images}, every metric ({len(names)})\n\n")
    _print_table(out, results, [n for n in names if get_metric(n).kind == "full-reference"], "full-reference")
    _print_table(out, results, [n for n in names if get_metric(n).kind != "full-reference"], "histogram")
    out.write("  +: higher = more similar, -: lower = more similar. The last row compares two different "
              "pictures (resized to the smaller one).\n\n")

    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "images": str(images),
        "metrics": {n: {"higher_is_better": get_metric(n).higher_is_better, "kind": get_metric(n).kind}
                    for n in names},
        "pairs": [{"edit": edit, **_json_ready(c.to_dict())} for edit, c in results],
    }
    (args.out / "compare.json").write_text(json.dumps(report, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    out.write(f"wrote {args.out / 'compare.json'}\n")
    _write_diffs(out, images, args.out)

    failed = [(edit, c) for edit, c in results if c.error]
    for edit, comparison in failed:
        out.write(f"FAILED {edit}: {comparison.a} vs {comparison.b}: {comparison.error}\n")
    tour_failed = [] if args.no_tour else _tour(out, images, args.out)
    for command in tour_failed:
        out.write(f"FAILED lookalike {command}\n")
    page = _write_index(args.out)
    out.write(f"wrote {page} (links every picture and report above)\n")
    out.write(f"done in {time.perf_counter() - started:.1f} s\n")
    return 1 if failed or tour_failed else 0


#: The labelled set of the classification stage: crops of scikit-image's CC0 textures.
TEXTURES = ("brick", "grass", "gravel")


def _run(out: TextIO, argv: list[str], *, save: Path | None = None) -> bool:
    """Run ``lookalike ARGV`` in this process and echo the command; its output is shown (the first lines),
    or written to ``save``. True when it exited with 0."""
    import io

    from lookalike.cli import main as cli_main

    shown = " ".join(f"'{a}'" if " " in a else a for a in argv)
    out.write(f"\n$ lookalike {shown}\n")
    stdout, stderr = io.StringIO(), io.StringIO()
    code = cli_main(argv, stdout=stdout, stderr=stderr)
    if save is not None:
        save.write_text(stdout.getvalue(), encoding="utf-8")
        out.write(f"wrote {save}\n")
    else:
        lines = stdout.getvalue().splitlines()
        out.write("".join(f"{line}\n" for line in lines[:24]) + ("  ...\n" if len(lines) > 24 else ""))
    for line in stderr.getvalue().splitlines()[:5]:
        out.write(f"  (stderr) {line}\n")
    return code == 0


def _texture_set(folder: Path) -> tuple[Path, Path]:
    """Labelled crops of the CC0 textures (12 a class, 96 px, seeded) and 2 query crops a class."""
    import numpy as np
    from PIL import Image
    from skimage import data

    rng = np.random.default_rng(7)
    labelled, queries = folder / "labelled", folder / "queries"
    for name in TEXTURES:
        (labelled / name).mkdir(parents=True, exist_ok=True)
        queries.mkdir(parents=True, exist_ok=True)
        pixels = getattr(data, name)()
        for i in range(14):
            side = int(rng.integers(96, 256))
            top, left = (int(v) for v in rng.integers(0, pixels.shape[0] - side, 2))
            crop = Image.fromarray(pixels[top:top + side, left:left + side]).resize((96, 96))
            target = labelled / name / f"{name}-{i:02d}.png" if i < 12 else queries / f"{name}-query-{i - 11}.png"
            crop.save(target)
    return labelled, queries


def _tour(out: TextIO, images: Path, folder: Path) -> list[str]:
    """Every other job, through the command line; the commands that failed."""
    failed: list[str] = []

    def run(argv: list[str], *, save: Path | None = None) -> None:
        if not _run(out, argv, save=save):
            failed.append(" ".join(argv))

    out.write("\n== match, index, search, duplicates, classify ==\n")
    run(["match", str(images / "astronaut.png"), str(images / "astronaut--rotate.jpg"),
         "--draw", str(folder / "match.png")])
    index = folder / "index"
    _fresh_index(index)
    run(["index", "build", str(images), "--index", str(index), "--jobs", "2"])
    run(["search", str(images / "rocket--crop.jpg"), "--index", str(index), "--top", "3", "--json"],
        save=folder / "search.json")
    run(["duplicates", str(images), "--index", str(index), "--html", str(folder / "duplicates.html")])
    try:
        labelled, queries = _texture_set(folder / "classify")
    except ImportError as exc:
        out.write(f"note: no classification stage: scikit-image is not installed ({exc})\n")
        return failed
    cache = str(folder / "classify" / "cache")
    run(["evaluate", "--train", str(labelled), "--cv", "3", "--cache-dir", cache, "--jobs", "2",
         "--out", str(folder / "classify" / "embedding")])
    run(["evaluate", "--train", str(labelled), "--cv", "3", "--method", "ssim", "--size", "96",
         "--out", str(folder / "classify" / "ssim")])
    run(["classify", "--train", str(labelled), str(queries), "--k", "3", "--cache-dir", cache, "--json"],
        save=folder / "classify" / "classify.json")
    return failed


def _fresh_index(index: Path) -> None:
    """Make room for the tour's index: an index an earlier run left there goes (its files only); anything
    else at that place, a folder of the user's named ``index`` inside ``--out``, is never deleted (the index
    build then says why it cannot use the place)."""
    from lookalike.index import Index

    if (index / "manifest.json").is_file():
        Index.discard(index)


def _write_index(folder: Path) -> Path:
    """``index.html``: a link to every picture, page and data file the demo wrote, pictures shown."""
    import html
    import urllib.parse

    entries = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".png", ".html", ".json")
                     and p.name != "index.html" and "index" not in p.relative_to(folder).parts[:1]
                     and "labelled" not in p.parts and "queries" not in p.parts and "cache" not in p.parts)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8"><title>lookalike demo</title>',
             "<style>body{font-family:system-ui,sans-serif;margin:1.5em} img{max-width:480px;display:block;"
             "margin:0.3em 0 1em 0;border:1px solid #ccc}</style></head><body><h1>lookalike demo</h1>",
             "<p>What <code>python -m lookalike.demo</code> made: every picture, report and data file.</p><ul>"]
    for path in entries:
        rel = path.relative_to(folder).as_posix()
        url = html.escape(urllib.parse.quote(rel))  # a name with '#', '?' or '%' is a file, not a fragment
        link = f'<a href="{url}">{html.escape(rel)}</a>'
        picture = f'<img src="{url}" alt="{html.escape(rel)}">' if path.suffix == ".png" else ""
        parts.append(f"<li>{link}{picture}</li>")
    parts.append("</ul></body></html>\n")
    page = folder / "index.html"
    page.write_text("\n".join(parts), encoding="utf-8")
    return page


def _print_table(out: TextIO, results: list[tuple[str, Comparison]], names: list[str], title: str) -> None:
    if not names:
        return
    labels = [f"{Path(c.a).stem} / {Path(c.b).stem if edit == 'unrelated' else edit}" for edit, c in results]
    first = max(len(title), *(len(label) for label in labels)) + 2
    widths = [max(9, len(n) + 2) for n in names]
    signs = ["+" if get_metric(n).higher_is_better else "-" for n in names]
    header = title.ljust(first) + "".join(f"{n}{s}".rjust(w + 1) for n, s, w in zip(names, signs, widths, strict=True))
    out.write(header + "\n" + "-" * len(header) + "\n")
    for label, (_, comparison) in zip(labels, results, strict=True):
        cells = "".join(_cell(comparison.metrics.get(n), w) for n, w in zip(names, widths, strict=True))
        out.write(label.ljust(first) + (cells if not comparison.error else "  error (see below)") + "\n")
    out.write("\n")


def _cell(value: float | None, width: int) -> str:
    if value is None:
        text = "-"
    elif math.isinf(value):
        text = "inf"
    elif math.isnan(value):
        text = "nan"
    elif abs(value) >= 100:
        text = f"{value:.1f}"
    elif abs(value) >= 1:
        text = f"{value:.3f}"
    else:
        text = f"{value:.4f}"
    return text.rjust(width + 1)


def _json_ready(payload: dict[str, Any]) -> dict[str, Any]:
    """``Comparison.to_dict()`` is JSON-ready already (null, and ``"infinite"`` naming PSNR's infinity, as
    ``lookalike compare --json``)."""
    return payload


def _write_diffs(out: TextIO, images: Path, folder: Path) -> None:
    try:
        from lookalike.viz import diff_image
    except ImportError as exc:
        out.write(f"note: no difference pictures: lookalike.viz is not available here ({exc})\n")
        return
    from PIL import Image

    for first, second in DIFFS:
        picture = diff_image(load_image(images / first), load_image(images / second),
                             labels=(first, second), panel_size=384)
        path = folder / f"diff-{Path(second).stem}.png"
        Image.fromarray(picture).save(path)
        out.write(f"wrote {path} (both images with the differing regions outlined, and the SSIM map)\n")


if __name__ == "__main__":
    raise SystemExit(main())
