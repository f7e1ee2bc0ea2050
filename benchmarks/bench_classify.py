"""Benchmark: classification by nearest labelled neighbours on three real labelled sets.

Accuracy of the default method (kNN over the EfficientNet-Lite0 embedding, distance-weighted
votes, ``k = DEFAULT_K``), of the logistic head on the same embeddings, and of the tutorial's
baseline (kNN by SSIM on grey squares), on:

- ``cats_dogs`` (200 + 200 photos): 5-fold stratified cross-validation (seed 0);
- ``caltech101_13`` (13 classes x 50): the course's split lists, filtered to the staged files;
- ``cifar10``: the whole 10,000-image test set against the 10,000 training images (SSIM-kNN on a
  stratified subsample of the test queries, 20 a class, against all 10,000 references: every
  query against every reference costs 10,000 SSIMs).

Also: the ``k`` sweep that chose ``DEFAULT_K`` (k = 1, 3, 5, 10, 20, 30; distance-weighted), and the
CIFAR-10 timing from cold (empty feature-index cache: every image decoded and embedded once) and
warm (the same call again: nothing decoded). Public API only (``lookalike.pipelines.evaluate``,
``LabelledSet``); the feature indexes go to a temporary folder (``--cache DIR`` to keep them).

Usage::

    nice -n 10 .venv/bin/python benchmarks/bench_classify.py [--cache DIR] [--skip-ssim] [--jobs 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import tempfile
import time
from pathlib import Path

from lookalike.pipelines import DEFAULT_K, LabelledSet, evaluate, load_labelled

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LOOKALIKE_SHARED_DATA", ROOT.parent / "shared" / "data"))
DATA = SHARED / "classification"
KS = (1, 3, 5, 10, 20, 30)


def caltech_split(name: str) -> tuple[LabelledSet, int]:
    """The labelled files of a split list that exist in the staged subset, and how many lines it lists for
    the staged classes."""
    root = DATA / "caltech101_13" / "101_ObjectCategories"
    classes = {p.name for p in root.iterdir() if p.is_dir()}
    listed = [line.strip() for line in (DATA / "caltech101_13" / f"{name}_full_split.txt").read_text().splitlines()
              if line.strip() and line.split("/")[0] in classes]
    present = [line for line in listed if (root / line).is_file()]
    return LabelledSet(tuple(str(root / p) for p in present), tuple(p.split("/")[0] for p in present),
                       str(root)), len(listed)


def stratified_subsample(labelled: LabelledSet, per_class: int, seed: int = 0) -> LabelledSet:
    rng = random.Random(seed)
    keep: list[int] = []
    for label in labelled.classes:
        members = [i for i, lab in enumerate(labelled.labels) if lab == label]
        keep += sorted(rng.sample(members, min(per_class, len(members))))
    return LabelledSet(tuple(labelled.paths[i] for i in keep), tuple(labelled.labels[i] for i in keep),
                       labelled.source)


def load() -> str:
    return open("/proc/loadavg").read().split()[0] if os.path.exists("/proc/loadavg") else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default=None, help="keep the feature indexes here (default: a temporary folder)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--skip-ssim", action="store_true")
    parser.add_argument("--ssim-per-class", type=int, default=20, help="CIFAR-10 SSIM-kNN test queries per class")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="bench-classify-")
    cache = args.cache or tmp.name
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}; "
          f"load at start {load()}; default k = {DEFAULT_K}")

    cats_dogs = load_labelled(DATA / "cats_dogs")
    cal_train, cal_train_listed = caltech_split("train")
    cal_test, cal_test_listed = caltech_split("test")
    print(f"caltech101_13 split lists: train {len(cal_train)} of {cal_train_listed} listed lines for the 13 classes "
          f"used, test {len(cal_test)} of {cal_test_listed}")
    cifar_train = load_labelled(DATA / "cifar10" / "train")
    cifar_test = load_labelled(DATA / "cifar10" / "test")

    # CIFAR-10 first, so its cold run starts from an empty cache
    started = time.perf_counter()
    load_before = load()
    cold = evaluate(cifar_train, cifar_test, cache_dir=cache, jobs=args.jobs)
    cold_s = time.perf_counter() - started
    started = time.perf_counter()
    warm = evaluate(cifar_train, cifar_test, cache_dir=cache, jobs=args.jobs)
    warm_s = time.perf_counter() - started
    print(f"cifar10 knn, 10,000 test vs {cold.n_train} train: cold {cold_s:.1f} s (load {load_before} -> {load()}; "
          f"{cold.details.get('decoded')} decoded), warm {warm_s:.2f} s ({warm.details.get('decoded')} decoded); "
          f"accuracy {cold.accuracy:.4f}")

    sets = {
        "cats_dogs (5-fold CV)": dict(train=cats_dogs, cv=5),
        "caltech101_13 (split lists)": dict(train=cal_train, test=cal_test),
        "cifar10 (10k test vs 10k train)": dict(train=cifar_train, test=cifar_test),
    }
    rows = []
    for name, setting in sets.items():
        for method in ("knn", "logistic"):
            started = time.perf_counter()
            report = evaluate(**setting, method=method, cache_dir=cache, jobs=args.jobs)  # type: ignore[arg-type]
            seconds = time.perf_counter() - started
            extra = f"C={report.details.get('C')}" if method == "logistic" else f"k={report.k}"
            rows.append((name, method, report.accuracy, report.balanced_accuracy, len(report.predictions), seconds,
                         extra))
            print(f"  {name:34s} {method:9s} acc {report.accuracy:.4f} bal {report.balanced_accuracy:.4f} "
                  f"n={len(report.predictions)} {seconds:.1f} s {extra}", flush=True)
        if not args.skip_ssim:
            ssim_setting = dict(setting)
            size = 128
            if name.startswith("cifar10"):
                ssim_setting["test"] = stratified_subsample(cifar_test, args.ssim_per_class)
                size = 32
            started = time.perf_counter()
            report = evaluate(**ssim_setting, method="ssim", size=size, cache_dir=cache)  # type: ignore[arg-type]
            seconds = time.perf_counter() - started
            rows.append((name, f"ssim-knn@{size}", report.accuracy, report.balanced_accuracy,
                         len(report.predictions), seconds, f"k={report.k}"))
            print(f"  {name:34s} ssim@{size:<4d} acc {report.accuracy:.4f} bal {report.balanced_accuracy:.4f} "
                  f"n={len(report.predictions)} {seconds:.1f} s", flush=True)

    print("\nk sweep (knn, distance-weighted): accuracy")
    print("data".ljust(34) + "".join(f"k={k}".rjust(9) for k in KS))
    for name, setting in sets.items():
        cells = []
        for k in KS:
            report = evaluate(**setting, k=k, cache_dir=cache, jobs=args.jobs)  # type: ignore[arg-type]
            cells.append(f"{report.accuracy:.4f}".rjust(9))
        print(name.ljust(34) + "".join(cells), flush=True)

    print("\n| data | method | accuracy | balanced accuracy | queries | seconds (warm cache) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, method, acc, bal, n, seconds, extra in rows:
        print(f"| {name} | {method} ({extra}) | {acc:.4f} | {bal:.4f} | {n} | {seconds:.1f} |")
    print(f"load at end {load()}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
