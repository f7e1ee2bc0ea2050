"""Make the demo's sample images: licence-clean originals and realistic edited copies.

The originals are scikit-image's bundled sample images (``skimage.data``), each
public domain or CC0 (see examples/README.md); nothing is downloaded. Every edit
is seeded, so running this again on the pinned environment gives the same files.

Usage (from the repository root)::

    .venv/bin/python examples/make_samples.py            # writes examples/images/
    .venv/bin/python examples/make_samples.py --out DIR

Writes ``<name>.png|jpg`` (originals), ``<name>--<edit>.jpg`` (edited copies) and
``pairs.csv`` (original, copy, edit, description), which ``python -m lookalike.demo``
reads.
"""

from __future__ import annotations

import argparse
import csv
import io
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

#: name -> (skimage.data function, how the original is stored, source and licence)
ORIGINALS: dict[str, tuple[str, str, str]] = {
    "astronaut": ("astronaut", "png", "NASA (Eileen Collins), public domain"),
    "chelsea": ("chelsea", "png", "Stefan van der Walt, CC0"),
    "coffee": ("coffee", "jpg", "Rachel Michetti, CC0"),
    "camera": ("camera", "png", "Lav Varshney, CC0"),
    "rocket": ("rocket", "jpg", "SpaceX, public domain"),
}

#: Longest side of the stored originals (smaller files; still big enough for MS-SSIM's 5 scales).
MAX_SIDE = 384


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Re-encode as JPEG at ``quality`` (libjpeg-turbo through Pillow) and decode again."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer))


def blur(image: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), sigmaX=2.0, borderType=cv2.BORDER_REFLECT_101)


def noise(image: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(2024)
    return np.clip(image + rng.normal(0.0, 12.0, image.shape), 0, 255).astype(np.uint8)


def crop_resize(image: np.ndarray) -> np.ndarray:
    """Keep the central 85% and scale it back up to the original size (a zoom)."""
    h, w = image.shape[:2]
    dy, dx = round(h * 0.075), round(w * 0.075)
    return cv2.resize(image[dy : h - dy, dx : w - dx], (w, h), interpolation=cv2.INTER_CUBIC)


def rotate(image: np.ndarray) -> np.ndarray:
    """Rotate by 3 degrees about the centre, same size, borders reflected."""
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), 3.0, 1.0)
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)


def brighter(image: np.ndarray) -> np.ndarray:
    return np.clip(image.astype(np.int16) + 35, 0, 255).astype(np.uint8)


def patch(image: np.ndarray) -> np.ndarray:
    """Paste a block copied from elsewhere in the picture, and stamp a caption: a local edit."""
    out = image.copy()
    h, w = out.shape[:2]
    size = max(24, min(h, w) // 5)
    src_y, src_x = h - size - h // 10, w // 10
    dst_y, dst_x = h // 8, w - size - w // 8
    out[dst_y : dst_y + size, dst_x : dst_x + size] = image[src_y : src_y + size, src_x : src_x + size]
    colour = 255 if out.ndim == 2 else (255, 255, 0)
    cv2.putText(out, "EDITED", (w // 12, h - h // 5), cv2.FONT_HERSHEY_DUPLEX, min(h, w) / 400, colour,
                max(1, min(h, w) // 200), cv2.LINE_AA)
    return out


#: edit -> (function, JPEG quality of the stored copy, description)
EDITS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], int, str]] = {
    "jpeg20": (lambda image: image, 20, "saved again as JPEG at quality 20"),
    "blur": (blur, 92, "Gaussian blur, sigma 2 pixels"),
    "noise": (noise, 92, "additive Gaussian noise, sigma 12 grey levels (seed 2024)"),
    "crop": (crop_resize, 92, "central 85% cropped and scaled back to the original size"),
    "rotate": (rotate, 92, "rotated by 3 degrees, borders reflected"),
    "bright": (brighter, 92, "brightness +35 grey levels, clipped"),
    "patch": (patch, 92, "a block copied from elsewhere pasted in, and the word EDITED stamped"),
}

#: Which edits each original gets (astronaut gets every one).
PLAN: dict[str, tuple[str, ...]] = {
    "astronaut": tuple(EDITS),
    "chelsea": ("jpeg20", "patch", "blur"),
    "coffee": ("bright", "noise"),
    "camera": ("noise", "rotate", "patch"),
    "rocket": ("crop", "jpeg20"),
}


def load_original(name: str) -> np.ndarray:
    from skimage import data

    image = getattr(data, ORIGINALS[name][0])()
    h, w = image.shape[:2]
    scale = MAX_SIDE / max(h, w)
    if scale < 1:
        image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)


def save(image: np.ndarray, path: Path, quality: int | None = None) -> None:
    if path.suffix == ".png":
        Image.fromarray(image).save(path, optimize=True)
    else:
        Image.fromarray(image).save(path, quality=quality or 92)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "images")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, edits in PLAN.items():
        original = load_original(name)
        suffix = ORIGINALS[name][1]
        original_path = args.out / f"{name}.{suffix}"
        save(original, original_path, quality=95)
        # the edits start from the stored original, as a person editing the file would
        stored = np.asarray(Image.open(original_path))
        for edit in edits:
            function, quality, description = EDITS[edit]
            copy_path = args.out / f"{name}--{edit}.jpg"
            save(function(stored), copy_path, quality=quality)
            rows.append({"original": original_path.name, "copy": copy_path.name, "edit": edit,
                         "description": description})
    with open(args.out / "pairs.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["original", "copy", "edit", "description"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    total = sum(p.stat().st_size for p in args.out.iterdir())
    print(f"wrote {len(rows)} edited copies of {len(PLAN)} originals to {args.out} ({total / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
