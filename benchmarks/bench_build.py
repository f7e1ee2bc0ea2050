"""Benchmark: index build throughput per descriptor set, everything a build does included.

Target (issue 4): deep-embedding indexing at least 30 images/s on 2 cores. Also timed, for the
README: the hash alone and the default set (phash, embedding and the RootSIFT keypoints that
verified searches read), so a user knows what each descriptor costs.

Inputs: ``--n`` JPEGs of 1-3 MP made by ``bench_index.make_photos`` (seeded crops of the real
photos of at least 1.1 MP in ``../shared/data``, resized, quality 90), in a temporary folder
deleted afterwards. Each descriptor set is built ``--repeats`` times into a fresh index with
``build_index(folder, index, descriptors=..., jobs=J)``: listing, reading, SHA-256, the draft
decodes, the descriptors, SQLite commits and the vector snapshot. The first build of a set
also pays the embedding model's start-up in each worker; the median of the builds is
reported. The anchor for the embedding is the embedder alone in this process
(``bench_embed.py`` times it in detail): the build must not lose throughput to the rest.

Usage::

    .venv/bin/python benchmarks/bench_build.py [--n 200] [--jobs 2] [--repeats 3]
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
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_index import make_photos

TARGET = 30.0
SETS = {
    "phash": ["phash"],
    "embedding": ["embedding"],
    "default (phash, embedding, rootsift)": None,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="photos (default 200)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from lookalike.features import Embedder
    from lookalike.index import build_index
    from lookalike.io import load_image

    print(f"machine: {platform.machine()}, {len(os.sched_getaffinity(0))} usable cores, Python "
          f"{platform.python_version()}; load average at start {os.getloadavg()[0]:.2f}")
    work = Path(tempfile.mkdtemp(prefix="bench-build-"))
    try:
        photos = work / "photos"
        photos.mkdir()
        paths = make_photos(photos, args.n)
        mp = statistics.median(w * h for w, h in (Image.open(p).size for p in paths)) / 1e6
        print(f"{len(paths)} JPEGs, median {mp:.2f} MP")
        rows = []
        for label, descriptors in SETS.items():
            times = []
            for _ in range(args.repeats):
                target = work / "idx"
                shutil.rmtree(target, ignore_errors=True)
                started = time.perf_counter()
                index, report = build_index(photos, target, descriptors=descriptors, jobs=args.jobs)
                times.append(time.perf_counter() - started)
                index.close()
                if report.added != len(paths):
                    raise SystemExit(f"{label}: indexed {report.added} of {len(paths)} ({report.errors[:3]})")
            rows.append((f"lookalike index build ({label}), -j {args.jobs}", statistics.median(times), times))
        embedder = Embedder(threads=args.jobs)
        embedder.embed([load_image(paths[0], draft=embedder.draft_size)])
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            for start in range(0, len(paths), 32):
                batch = [load_image(p, draft=embedder.draft_size) for p in paths[start : start + 32]]
                embedder.embed(batch, batch_size=32)
            times.append(time.perf_counter() - started)
        rows.append((f"anchor: decode + Embedder.embed alone, {args.jobs} onnxruntime threads",
                     statistics.median(times), times))
        print("\n| side | median s | images/s | runs s |\n|---|---:|---:|---|")
        for label, median, times in rows:
            print(f"| {label} | {median:.2f} | {len(paths) / median:.1f} | "
                  f"{', '.join(f'{t:.2f}' for t in times)} |")
        embedding = len(paths) / rows[1][1]
        verdict = "met" if embedding >= TARGET else "MISSED"
        print(f"\nembedding indexing: {embedding:.1f} images/s, target {TARGET:.0f}: {verdict}")
        print(f"load average at end {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
