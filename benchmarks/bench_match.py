"""Time one ``lookalike match`` of two photos of about 1 MP, beside the seed's SIFT recipe.

Run with the project's environment::

    .venv/bin/python benchmarks/bench_match.py [--rounds 7] [--pairs Boston,Brussels,WhiteBoard]

Method (see the ``## Matching`` section of ``benchmarks/README.md``):

* Inputs: CMP ``homogr`` pairs from ``../shared/data/matching/homogr`` (real photos, 1504-1712 px
  wide), each image resized with area interpolation to about 1 MP (aspect kept) and written as
  JPEG quality 90 into a temporary folder, deleted at the end.
* lookalike: :func:`lookalike.pipelines.match` on the two file paths, defaults (RootSIFT, 4000
  keypoints, ratio 0.75, MAGSAC++ homography): decoding, extraction of both images, matching,
  verification and the score. Also ``method="orb"`` for context.
* Seed recipe (context, not a like-for-like anchor: it verifies nothing): ``cv2.imread`` grey,
  ``cv2.SIFT_create().detectAndCompute`` both, ``cv2.BFMatcher().knnMatch(k=2)``, ratio 0.75.
* CPU seconds (``time.process_time``, all threads of the process) are printed beside the wall
  clock: on a loaded machine they show what the work costs when the wall clock cannot.
* One warm-up call per side, then ``--rounds`` rounds; within a round every side runs once on
  every pair, the starting side rotating. Reported: the median over all timed calls of a side.
* The machine is recorded (platform, CPU count, OpenCV threads, load average before and after).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = Path(os.environ.get("LOOKALIKE_SHARED_DATA", REPO.parent / "shared" / "data"))
TARGET_PIXELS = 1_000_000
DEFAULT_PAIRS = ("Boston", "Brussels", "WhiteBoard")


def make_inputs(names: list[str], folder: Path) -> list[tuple[str, str, str]]:
    """Write each pair resized to about 1 MP as JPEG q90; return (name, path A, path B)."""
    import cv2

    from lookalike.io import load_image

    source = SHARED / "matching" / "homogr"
    pairs = []
    for name in names:
        paths = []
        for side in "AB":
            (original,) = [p for p in source.glob(f"{name}{side}.*") if p.suffix in (".png", ".jpg")]
            image = load_image(original, mode="rgb")
            height, width = image.shape[:2]
            scale = (TARGET_PIXELS / (width * height)) ** 0.5
            size = (round(width * scale), round(height * scale))
            resized = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
            path = folder / f"{name}{side}.jpg"
            cv2.imwrite(str(path), resized[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
            paths.append(str(path))
        pairs.append((name, paths[0], paths[1]))
    return pairs


def seed_recipe(path_a: str, path_b: str) -> int:
    import cv2

    img1 = cv2.imread(path_a, cv2.IMREAD_GRAYSCALE)
    img2 = cv2.imread(path_b, cv2.IMREAD_GRAYSCALE)
    sift = cv2.SIFT_create()
    _, des1 = sift.detectAndCompute(img1, None)
    _, des2 = sift.detectAndCompute(img2, None)
    good = [m for m, n in cv2.BFMatcher().knnMatch(des1, des2, k=2) if m.distance < 0.75 * n.distance]
    return len(good)


def machine() -> str:
    import cv2
    import numpy as np

    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    return (f"{platform.platform()} | {platform.processor() or platform.machine()} | "
            f"{os.cpu_count()} CPUs | Python {platform.python_version()} | numpy {np.__version__} | "
            f"OpenCV {cv2.__version__} ({cv2.getNumThreads()} threads) | load {load}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds (default 7)")
    parser.add_argument("--pairs", default=",".join(DEFAULT_PAIRS), help="homogr pair names")
    args = parser.parse_args(argv)

    from lookalike.pipelines import match

    sides: dict[str, Callable[[str, str], object]] = {
        "lookalike match (rootsift)": lambda a, b: match(a, b),
        "lookalike match (orb)": lambda a, b: match(a, b, method="orb"),
        "seed recipe (SIFT + BF + ratio, no verification)": seed_recipe,
    }
    folder = Path(tempfile.mkdtemp(prefix="bench_match_"))
    try:
        pairs = make_inputs([n.strip() for n in args.pairs.split(",") if n.strip()], folder)
        print(f"machine: {machine()}")
        for name, a, b in pairs:
            from PIL import Image

            (wa, ha), (wb, hb) = Image.open(a).size, Image.open(b).size
            result = match(a, b)
            print(f"input {name}: {wa}x{ha} + {wb}x{hb} JPEG q90; rootsift keypoints {result.keypoints}, "
                  f"{result.n_matches} matches, {result.n_inliers} inliers, similarity {result.similarity:.3f}")
        names = list(sides)
        for side in names:  # warm-up
            sides[side](pairs[0][1], pairs[0][2])
        times: dict[str, list[float]] = {side: [] for side in names}
        cpu: dict[str, list[float]] = {side: [] for side in names}
        for round_ in range(args.rounds):
            order = names[round_ % len(names):] + names[: round_ % len(names)]
            for side in order:
                for _, a, b in pairs:
                    start, start_cpu = time.perf_counter(), time.process_time()
                    sides[side](a, b)
                    times[side].append(time.perf_counter() - start)
                    cpu[side].append(time.process_time() - start_cpu)
        reference = statistics.median(times[names[0]])
        print()
        print("| side | median s per match | min s | median CPU s (all threads) | calls | vs rootsift |")
        print("|---|---:|---:|---:|---:|---:|")
        for side in names:
            med = statistics.median(times[side])
            print(f"| {side} | {med:.3f} | {min(times[side]):.3f} | {statistics.median(cpu[side]):.3f} | "
                  f"{len(times[side])} | {med / reference:.2f}x |")
        print()
        verdict = "meets" if reference < 0.5 else "misses"
        print(f"target: one match of two ~1 MP photos < 0.5 s median -> {reference:.3f} s ({verdict})")
        print(f"load after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
