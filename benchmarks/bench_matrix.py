"""Time ``lookalike matrix`` (RootSIFT, every pair of 50 photos of about 1 MP) against the seed's loop.

Run with the project's environment::

    .venv/bin/python benchmarks/bench_matrix.py [--images 50] [--jobs 2] [--repeat 3] [--seed-pairs 24]

Method (see the ``## Matrix`` section of ``benchmarks/README.md``):

* Inputs: 50 JPEG photos of about 1 MP (1152 x 864 or 864 x 1152, quality 90) built at run
  time in a temporary folder from the larger real photos of ``../shared/data`` (the CMP
  ``homogr`` pairs of 1000 px and more, and the INRIA Holidays samples): for each source
  photo, the whole frame and crops of 60-85 % at seeded random places, resized with area
  interpolation. Pairs of views of one scene and crops of one photo overlap, as in a real
  photo folder; most pairs do not. Nothing is written to the repository; the folder is
  deleted at the end.
* lookalike: :func:`lookalike.pipelines.similarity_matrix` (what ``lookalike matrix`` runs),
  public API, method ``"rootsift"`` with its defaults, ``jobs=2``: each image's features are
  extracted once and the 1225 pairs are matched by two worker processes. One warm-up call
  on 4 images starts the worker machinery; then the median of ``--repeat`` full runs.
* Seed loop: the recipe of the OpenCV tutorials that the seed follows, for every pair
  ``cv2.imread`` both files (grey), ``cv2.SIFT_create().detectAndCompute`` both,
  ``cv2.BFMatcher().knnMatch(k=2)`` and Lowe's ratio test at 0.75: features are recomputed
  for every pair. It runs in this process, as the seed does, with OpenCV's own threads.
  Timing all 1225 pairs would take many minutes, so ``--seed-pairs`` pairs drawn with a
  fixed seed are timed one by one and the total is extrapolated linearly
  (mean seconds per pair x number of pairs); both numbers are printed.
* The machine is shared with other jobs: the load average is printed before and after,
  and the figures are noisy.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = Path(os.environ.get("LOOKALIKE_SHARED_DATA", REPO.parent / "shared" / "data"))
LONG_SIDE, SHORT_SIDE = 1152, 864  # 0.995 MP
SEED = 20240607


def source_photos() -> list[Path]:
    """The real photos of ../shared/data that are large enough to give 1 MP images."""
    from PIL import Image

    found = []
    for folder in (SHARED / "matching" / "homogr", SHARED / "retrieval" / "ukbench_holidays_samples" / "holidays"):
        for path in sorted(folder.glob("*")):
            if path.suffix.lower() not in (".jpg", ".png"):
                continue
            with Image.open(path) as image:
                if min(image.size) >= 950:
                    found.append(path)
    if not found:
        sys.exit(f"no source photos found under {SHARED}; this benchmark needs ../shared/data")
    return found


def build_photos(folder: Path, count: int) -> list[Path]:
    """``count`` JPEGs of about 1 MP: whole frames, then seeded crops, of the source photos."""
    import cv2
    from PIL import Image

    rng = random.Random(SEED)
    sources = source_photos()
    decoded = {}
    paths: list[Path] = []
    variant = 0
    while len(paths) < count:
        for source in sources:
            if len(paths) == count:
                break
            if source not in decoded:
                with Image.open(source) as image:
                    decoded[source] = np.asarray(image.convert("RGB"))
            pixels = decoded[source]
            height, width = pixels.shape[:2]
            if variant > 0:  # a crop of 60-85 % of each side at a random place
                fraction = rng.uniform(0.60, 0.85)
                ch, cw = int(height * fraction), int(width * fraction)
                y, x = rng.randrange(0, height - ch + 1), rng.randrange(0, width - cw + 1)
                pixels = pixels[y:y + ch, x:x + cw]
                height, width = ch, cw
            size = (LONG_SIDE, SHORT_SIDE) if width >= height else (SHORT_SIDE, LONG_SIDE)
            resized = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
            path = folder / f"{source.stem}_{variant}.jpg"
            Image.fromarray(resized).save(path, quality=90)
            paths.append(path)
        variant += 1
    return paths


def seed_pair(path_a: str, path_b: str) -> int:
    """The seed's recipe for one pair: decode both, SIFT both, brute-force kNN, ratio test."""
    import cv2

    image_a = cv2.imread(path_a, cv2.IMREAD_GRAYSCALE)
    image_b = cv2.imread(path_b, cv2.IMREAD_GRAYSCALE)
    sift = cv2.SIFT_create()
    _, descriptors_a = sift.detectAndCompute(image_a, None)
    _, descriptors_b = sift.detectAndCompute(image_b, None)
    matches = cv2.BFMatcher().knnMatch(descriptors_a, descriptors_b, k=2)
    good = [m for m, n in (pair for pair in matches if len(pair) == 2) if m.distance < 0.75 * n.distance]
    return len(good)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    import cv2

    return (f"{cpu}; {usable} usable cores; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}; numpy {np.__version__}; OpenCV {cv2.__version__} "
            f"({cv2.getNumThreads()} threads)")


def load() -> str:
    try:
        return " ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def forkserver_cpu() -> float:
    """CPU seconds of the fork server and of the workers it has reaped (they are its children, not ours)."""
    from multiprocessing import forkserver

    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="rounds: full lookalike runs (median reported)")
    parser.add_argument("--seed-pairs", type=int, default=24,
                        help="seed pairs timed (spread over the rounds), then extrapolated")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO / "src"))
    from lookalike.pipelines import similarity_matrix

    print(f"machine: {machine()}")
    print(f"load average before: {load()}")
    folder = Path(tempfile.mkdtemp(prefix="lookalike-bench-matrix-"))
    try:
        paths = build_photos(folder, args.images)
        files = [str(p) for p in paths]
        n_pairs = len(files) * (len(files) - 1) // 2
        megapixels = LONG_SIDE * SHORT_SIDE / 1e6
        print(f"inputs: {len(files)} JPEG photos of {LONG_SIDE}x{SHORT_SIDE} ({megapixels:.2f} MP) from "
              f"{len(source_photos())} real photos; {n_pairs} pairs")

        everything = [(i, j) for i in range(len(files)) for j in range(i + 1, len(files))]
        sample = random.Random(SEED).sample(everything, min(args.seed_pairs, n_pairs))
        per_round = [sample[k::args.repeat] for k in range(args.repeat)]

        # warm-up: the worker machinery (fork server) and OpenCV's first calls
        similarity_matrix(files[:4], method="rootsift", jobs=args.jobs)
        seed_pair(files[0], files[1])

        runs: list[float] = []
        runs_cpu: list[float] = []
        seed_wall: list[float] = []
        seed_cpu: list[float] = []
        verified = 0

        def lookalike_round() -> None:
            nonlocal verified
            cpu0, server0 = time.process_time(), forkserver_cpu()
            started = time.perf_counter()
            result = similarity_matrix(files, method="rootsift", jobs=args.jobs)
            runs.append(time.perf_counter() - started)
            time.sleep(0.5)  # let the fork server reap the workers before reading its children's time
            runs_cpu.append(time.process_time() - cpu0 + forkserver_cpu() - server0)
            verified = sum(1 for p in result.pairs if p.value > 0)

        def seed_round(pairs: list[tuple[int, int]]) -> None:
            for i, j in pairs:
                cpu0, started = time.process_time(), time.perf_counter()
                seed_pair(files[i], files[j])
                seed_wall.append(time.perf_counter() - started)
                seed_cpu.append(time.process_time() - cpu0)

        for k in range(args.repeat):  # alternate the sides, so that other load falls on both
            if k % 2 == 0:
                lookalike_round()
                seed_round(per_round[k])
            else:
                seed_round(per_round[k])
                lookalike_round()

        lookalike_s = statistics.median(runs)
        lookalike_cpu = statistics.median(runs_cpu)
        mean_pair, mean_cpu = statistics.fmean(seed_wall), statistics.fmean(seed_cpu)
        seed_s, seed_cpu_s = mean_pair * n_pairs, mean_cpu * n_pairs
        print(f"lookalike similarity_matrix(rootsift, jobs={args.jobs}): runs "
              f"{', '.join(f'{r:.1f}' for r in runs)} s; median {lookalike_s:.1f} s; "
              f"CPU {lookalike_cpu:.0f} s; {verified} pairs verified")
        print(f"seed loop: {len(seed_wall)} pairs timed one by one: mean {mean_pair:.3f} s, median "
              f"{statistics.median(seed_wall):.3f} s per pair (CPU {mean_cpu:.3f} s); extrapolated "
              f"linearly to {n_pairs} pairs: {seed_s:.0f} s (CPU {seed_cpu_s:.0f} s)")
        print()
        print("| side | wall, all pairs (s) | wall per pair (ms) | CPU, all pairs (s) |")
        print("| --- | ---: | ---: | ---: |")
        print(f"| seed loop (extrapolated from {len(seed_wall)} pairs) | {seed_s:.0f} | {mean_pair * 1000:.0f} "
              f"| {seed_cpu_s:.0f} |")
        print(f"| lookalike matrix, jobs={args.jobs} (median of {len(runs)}) | {lookalike_s:.1f} | "
              f"{lookalike_s / n_pairs * 1000:.1f} | {lookalike_cpu:.0f} |")
        print()
        print(f"speed-up, wall clock: {seed_s / lookalike_s:.1f}x (target: at least 20x)")
        print(f"CPU time ratio (less sensitive to other load): {seed_cpu_s / lookalike_cpu:.1f}x")
        print(f"load average after: {load()}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
