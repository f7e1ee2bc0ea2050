"""Build the near-duplicate benchmark: originals, distractors, and edited copies of the originals as queries.

Used by ``bench_neardup.py``, ``calibrate_search.py`` and the search tests. Nothing it writes is
committed: it builds into a folder the caller gives (a temporary one by default) from

- the project's own sample originals, ``examples/images/{astronaut,camera,chelsea}.png`` and
  ``{coffee,rocket}.jpg`` (scikit-image's public-domain / CC0 photos, see examples/README.md);
- where ``../shared/data`` is present, Caltech-101 photos (``classification/caltech101_13``, 13
  classes x 50): some as further originals, the rest as distractors. Same-class photos are hard
  negatives: a search that ranks by "what kind of picture" puts them above an edited copy.

Layout of the folder::

    index/<name>                 originals and distractors, as they are (the folder to index)
    queries/<transform>/<name>.jpg
                                 one edited copy of each original per transform
    groundtruth.csv              query, transform, original (path relative to the folder)

Transforms (seeded; ``TRANSFORMS``), each applied alone to the original:

=============  ==========================================================================
crop50/70/90   a window of 50 / 70 / 90 % of each side at a random position, not rescaled
rot90          rotated by 90 or 270 degrees (random)
rotate-small   rotated by 4 to 12 degrees either way, then cropped to the largest upright
               rectangle inside (no empty corners)
flip           mirrored left-right
jpeg           saved as JPEG at a random quality from 10 to 30
down25         downscaled to 25 % of each side (area interpolation)
colour         hue turned by 0.12-0.25 of the circle and saturation x1.5
bright         brightness x1.35-1.6 (PIL ImageEnhance), or x0.5-0.65 (darker), at random
text           a caption of two words drawn across the lower third, in a random colour
border         a solid border of 8-15 % of the shorter side, in a random colour
=============  ==========================================================================

Every copy except ``jpeg`` is saved as JPEG quality 90.
"""

from __future__ import annotations

import csv
import io
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "images"
EXAMPLE_ORIGINALS = ("astronaut.png", "camera.png", "chelsea.png", "coffee.jpg", "rocket.jpg")
SHARED = Path(os.environ.get("LOOKALIKE_SHARED_DATA", ROOT.parent / "shared" / "data"))
CALTECH = SHARED / "classification" / "caltech101_13" / "101_ObjectCategories"

TRANSFORMS = ("crop50", "crop70", "crop90", "rot90", "rotate-small", "flip", "jpeg", "down25", "colour",
              "bright", "text", "border")

_WORDS = ("SALE", "COPY", "DRAFT", "HELLO", "SAMPLE", "2024", "PHOTO", "NEWS", "LOOK", "MEME")


@dataclass(frozen=True)
class Query:
    path: Path
    transform: str
    original: Path


@dataclass(frozen=True)
class Benchmark:
    root: Path
    index_dir: Path
    originals: tuple[Path, ...]
    distractors: tuple[Path, ...]
    queries: tuple[Query, ...]


def caltech_split(*, n_originals: int, n_distractors: int | None = None, seed: int = 0,
                  classes: tuple[str, ...] | None = None,
                  exclude: tuple[Path, ...] = ()) -> tuple[list[Path], list[Path]]:
    """Caltech photos: ``n_originals`` spread evenly over the classes, and the distractors (all the rest by default).

    Photos in ``exclude`` are never originals (they may be distractors).
    """
    if not CALTECH.is_dir():
        return [], []
    rng = np.random.default_rng(seed)
    folders = sorted(p for p in CALTECH.iterdir() if p.is_dir() and (classes is None or p.name in classes))
    per_class = [sorted(f.glob("*.jpg")) for f in folders]
    for files in per_class:
        rng.shuffle(files)  # type: ignore[arg-type]
    originals: list[Path] = []
    i = 0
    while len(originals) < n_originals and any(per_class):
        files = per_class[i % len(per_class)]
        while files and files[-1] in exclude:
            files.insert(0, files.pop())
            if all(f in exclude for f in files):
                break
        if files and files[-1] not in exclude:
            originals.append(files.pop())
        i += 1
    rest = sorted(p for files in per_class for p in files)
    if n_distractors is not None and n_distractors < len(rest):
        rest = sorted(rng.choice(np.array(rest, dtype=object), n_distractors, replace=False).tolist())
    return sorted(originals), rest


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType
        return ImageFont.load_default()


def make_variant(image: Image.Image, transform: str, rng: np.random.Generator) -> tuple[Image.Image, int]:
    """The edited copy and the JPEG quality to save it with."""
    image = image.convert("RGB")
    w, h = image.size
    quality = 90
    if transform.startswith("crop"):
        side = int(transform[4:]) / 100
        cw, ch = max(8, round(w * side)), max(8, round(h * side))
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        out = image.crop((x, y, x + cw, y + ch))
    elif transform == "rot90":
        out = image.transpose(Image.Transpose.ROTATE_90 if rng.random() < 0.5 else Image.Transpose.ROTATE_270)
    elif transform == "rotate-small":
        angle = float(rng.uniform(4, 12)) * (1 if rng.random() < 0.5 else -1)
        out = image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False)
        cw, ch = _inscribed(w, h, math.radians(abs(angle)))
        x, y = (w - cw) // 2, (h - ch) // 2
        out = out.crop((x, y, x + cw, y + ch))
    elif transform == "flip":
        out = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    elif transform == "jpeg":
        out, quality = image, int(rng.integers(10, 31))
    elif transform == "down25":
        out = image.resize((max(1, round(w / 4)), max(1, round(h / 4))), Image.Resampling.BOX)
    elif transform == "colour":
        hsv = np.asarray(image.convert("HSV")).astype(np.int16)
        hsv[..., 0] = (hsv[..., 0] + int(rng.uniform(0.12, 0.25) * 256)) % 256
        hsv[..., 1] = np.clip(hsv[..., 1] * 1.5, 0, 255)
        out = Image.fromarray(hsv.astype(np.uint8), "HSV").convert("RGB")
    elif transform == "bright":
        factor = float(rng.uniform(1.35, 1.6)) if rng.random() < 0.5 else float(rng.uniform(0.5, 0.65))
        out = ImageEnhance.Brightness(image).enhance(factor)
    elif transform == "text":
        out = image.copy()
        draw = ImageDraw.Draw(out)
        words = " ".join(rng.choice(_WORDS, 2, replace=False).tolist())
        font = _font(max(10, h // 7))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        box = draw.textbbox((0, 0), words, font=font)
        tx = max(0, (w - (box[2] - box[0])) // 2)
        ty = int(h * 0.62)
        draw.text((tx, ty), words, fill=colour, font=font, stroke_width=max(1, h // 150),
                  stroke_fill=(255 - colour[0], 255 - colour[1], 255 - colour[2]))
    elif transform == "border":
        pad = max(2, round(min(w, h) * float(rng.uniform(0.08, 0.15))))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        out = Image.new("RGB", (w + 2 * pad, h + 2 * pad), colour)
        out.paste(image, (pad, pad))
    else:
        raise ValueError(f"unknown transform {transform!r}; choose from {', '.join(TRANSFORMS)}")
    return out, quality


def _inscribed(w: int, h: int, angle: float) -> tuple[int, int]:
    """Largest axis-aligned rectangle inside a w x h rectangle rotated by ``angle`` radians."""
    long, short = max(w, h), min(w, h)
    sin, cos = abs(math.sin(angle)), abs(math.cos(angle))
    if short <= 2 * sin * cos * long or abs(sin - cos) < 1e-10:
        x = 0.5 * short
        wr, hr = (x / sin, x / cos) if w >= h else (x / cos, x / sin)
    else:
        cos2 = cos * cos - sin * sin
        wr, hr = (w * cos - h * sin) / cos2, (h * cos - w * sin) / cos2
    return max(8, int(wr)), max(8, int(hr))


def build(root: str | os.PathLike[str], *, originals: list[Path] | None = None,
          distractors: list[Path] | None = None, transforms: tuple[str, ...] = TRANSFORMS,
          seed: int = 0) -> Benchmark:
    """Write the benchmark into ``root`` (created; must be empty or absent)."""
    root = Path(root)
    originals = [EXAMPLES / n for n in EXAMPLE_ORIGINALS] if originals is None else list(originals)
    distractors = [] if distractors is None else list(distractors)
    index_dir = root / "index"
    index_dir.mkdir(parents=True, exist_ok=True)
    names: dict[Path, str] = {}

    def place(path: Path) -> Path:
        name = path.name if path.parent == EXAMPLES else f"{path.parent.name}-{path.name}"
        target = index_dir / name
        shutil.copyfile(path, target)
        names[path] = name
        return target

    placed_originals = [place(p) for p in originals]
    placed_distractors = [place(p) for p in distractors]
    queries: list[Query] = []
    rng = np.random.default_rng(seed)
    for transform in transforms:
        folder = root / "queries" / transform
        folder.mkdir(parents=True, exist_ok=True)
        for source, placed in zip(originals, placed_originals, strict=True):
            with Image.open(source) as opened:
                image = opened.convert("RGB")
            out, quality = make_variant(image, transform, rng)
            target = folder / (Path(names[source]).stem + ".jpg")
            buffer = io.BytesIO()
            out.save(buffer, "JPEG", quality=quality)
            target.write_bytes(buffer.getvalue())
            queries.append(Query(target, transform, placed))
    with open(root / "groundtruth.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["query", "transform", "original"])
        for q in queries:
            writer.writerow([q.path.relative_to(root).as_posix(), q.transform, q.original.relative_to(root).as_posix()])
    return Benchmark(root, index_dir, tuple(placed_originals), tuple(placed_distractors), tuple(queries))


def load(root: str | os.PathLike[str]) -> Benchmark:
    """A benchmark written by :func:`build`, from its ``groundtruth.csv``."""
    root = Path(root)
    with open(root / "groundtruth.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    queries = tuple(Query(root / r["query"], r["transform"], root / r["original"]) for r in rows)
    originals = tuple(dict.fromkeys(q.original for q in queries))
    distractors = tuple(sorted(p for p in (root / "index").iterdir() if p not in set(originals)))
    return Benchmark(root, root / "index", originals, distractors, queries)
