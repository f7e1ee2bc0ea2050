"""Benchmark: indexing on Ray tasks against local worker processes, and the per-image costs of each stage.

Target (issue 14): indexing 5,000 images with ``--engine ray`` takes no more than 1.3x the local
engine on this 2-core machine; images/s per worker reported so a cluster's speed can be planned.

Inputs: ``--n`` JPEGs (quality 90) of 0.2-0.5 MP, seeded crops of the real photos of at least
1.1 MP in ``../shared/data`` (``bench_index.source_photos``), resized; written once into
``--workdir`` and reused. Both engines build a fresh index of the same files with the same
descriptors (default ``phash`` and ``embedding``) through the public API:
``build_index(folder, index, descriptors=..., jobs=J)`` with ``J = 2`` (local processes) or
``J = RayExecutor(num_cpus=2)`` (a local Ray on 127.0.0.1; its start-up is timed apart and
added to the total). Rounds alternate the order (local first, then Ray first). Medians.

Then, in this process on one thread, the per-image cost of each stage on the first
``--sample`` files (median of per-batch times): read + SHA-256, the draft decode (256 px),
the pHash, the embedding (batches of 16), the RootSIFT keypoints, and the SQLite commit of
the results (batches of 16); and the Milvus Lite store: upsert + flush of ``--milvus`` vectors
of 1280 dimensions and single FLAT queries, against lookalike's FAISS flat store.

Usage::

    nice -n 10 .venv/bin/python benchmarks/bench_ray.py [--n 5000] [--rounds 1] [--workdir /tmp/lookalike-bench-ray]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_index import make_photos

TARGET = 1.3


def make_small_photos(folder: Path, n: int) -> list[Path]:
    """``n`` JPEGs of 0.2-0.5 MP (``bench_index.make_photos``), reused when already there."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = sorted(folder.glob("photo_*.jpg"))
    if len(paths) == n:
        return paths
    for path in paths:
        path.unlink()
    return make_photos(folder, n, megapixels=(0.2, 0.5), side_share=(0.5, 1.0))


def build(folder: Path, target: Path, descriptors: list[str], jobs: object) -> float:
    from lookalike.index import build_index

    shutil.rmtree(target, ignore_errors=True)
    started = time.perf_counter()
    index, report = build_index(folder, target, descriptors=descriptors, jobs=jobs)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - started
    count = len(index)
    index.close()
    if report.errors or count != len(list(folder.glob("*.jpg"))):
        raise SystemExit(f"indexed {count} files, errors {report.errors[:3]}")
    return elapsed


def engines(args: argparse.Namespace, folder: Path, work: Path, descriptors: list[str]) -> None:
    from lookalike.engines import RayExecutor

    local_times, ray_times, starts = [], [], []
    for round_ in range(args.rounds):
        order = ("local", "ray") if round_ % 2 == 0 else ("ray", "local")
        for side in order:
            if side == "local":
                local_times.append(build(folder, work / "idx-local", descriptors, args.jobs))
            else:
                started = time.perf_counter()
                engine = RayExecutor(num_cpus=args.jobs, temp_dir=str(work / "ray"))
                starts.append(time.perf_counter() - started)
                try:
                    ray_times.append(build(folder, work / "idx-ray", descriptors, engine))
                finally:
                    engine.shutdown()
            print(f"  round {round_ + 1} {side}: {(local_times if side == 'local' else ray_times)[-1]:.1f} s "
                  f"(load {os.getloadavg()[0]:.2f})", flush=True)
    local, ray, start = statistics.median(local_times), statistics.median(ray_times), statistics.median(starts)
    n = args.n
    print(f"\nindexing {n} images, descriptors {', '.join(descriptors)}, {args.jobs} workers "
          f"({args.rounds} round{'s' if args.rounds != 1 else ''}, medians):\n")
    print("| engine | s | images/s | images/s per worker | vs local |")
    print("|---|---:|---:|---:|---:|")
    print(f"| local processes, jobs={args.jobs} | {local:.1f} | {n / local:.1f} | {n / local / args.jobs:.1f} "
          "| 1.00x |")
    print(f"| Ray tasks, num_cpus={args.jobs} (build) | {ray:.1f} | {n / ray:.1f} | {n / ray / args.jobs:.1f} | "
          f"{ray / local:.2f}x |")
    total = ray + start
    print(f"| Ray tasks, with Ray's start ({start:.1f} s) | {total:.1f} | {n / total:.1f} | "
          f"{n / total / args.jobs:.1f} | {total / local:.2f}x |")
    verdict = "met" if total / local <= TARGET else "NOT met"
    print(f"\ntarget ray <= {TARGET}x local (start included): {verdict} ({total / local:.2f}x)")


def stages(args: argparse.Namespace, paths: list[Path], work: Path) -> None:
    from lookalike.features import Embedder, image_hash
    from lookalike.index import FileResult, Index, describe_keypoints, descriptor_spec
    from lookalike.io import load_image

    sample = paths[: args.sample]
    batches = [sample[i : i + 16] for i in range(0, len(sample), 16)]
    costs: dict[str, list[float]] = {}

    def timed(name: str, per: int, fn: object) -> object:
        started = time.perf_counter()
        value = fn()  # type: ignore[operator]
        costs.setdefault(name, []).append((time.perf_counter() - started) * 1000 / per)
        return value

    embedder = Embedder(threads=1)
    spec_phash, spec_embed = descriptor_spec("phash"), descriptor_spec("embedding")
    spec_sift = descriptor_spec("rootsift")
    embedder.embed([load_image(sample[0], draft=(256, 256))])  # warm-up
    results: list[list[FileResult]] = []
    for batch in batches:
        data = timed("read + SHA-256", len(batch), lambda b=batch: [(p.read_bytes()) for p in b])
        hashes = [hashlib.sha256(d).hexdigest() for d in data]  # type: ignore[union-attr]
        pixels = timed("draft decode (>= 256 px)", len(batch),
                       lambda d=data: [load_image(x, draft=(256, 256)) for x in d])  # type: ignore[union-attr]
        phash = timed("pHash", len(batch), lambda px=pixels: [image_hash(x, method="phash") for x in px])
        vectors = timed("embedding (EfficientNet-Lite0, 1 thread)", len(batch), lambda px=pixels: embedder.embed(px))
        blobs = timed("RootSIFT keypoints (512 px, <= 1000)", len(batch),
                      lambda d=data: [describe_keypoints(x, spec_sift) for x in d])  # type: ignore[union-attr]
        results.append([
            FileResult(str(p), size=len(d), mtime_ns=0, content_hash=h, width=1, height=1,
                       vectors={"phash": spec_phash.to_bytes(np.asarray(ph)), "embedding": spec_embed.to_bytes(v),
                                "rootsift": b})
            for p, d, h, ph, v, b in zip(batch, data, hashes, phash, vectors, blobs, strict=True)  # type: ignore
        ])
    with Index.create(work / "idx-commit", descriptors=["phash", "embedding", "rootsift"]) as index:
        for batch_results in results:
            timed("SQLite commit (batches of 16)", len(batch_results),
                  lambda r=batch_results: index.catalog.commit(r))
    print(f"\nper-image costs, one thread, {len(sample)} images of the set (median of batches of 16):\n")
    print("| stage | ms / image |")
    print("|---|---:|")
    for name, values in costs.items():
        print(f"| {name} | {statistics.median(values):.2f} |")


def milvus(args: argparse.Namespace, work: Path) -> None:
    from lookalike.index import MilvusStore, make_store

    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((args.milvus, 1280)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(args.milvus, dtype=np.int64)
    queries = vectors[rng.choice(args.milvus, 50, replace=False)] + 0.05 * rng.standard_normal((50, 1280)).astype(
        np.float32)
    rows = []
    for label, make in (("Milvus Lite FLAT", lambda: MilvusStore(1280, uri=str(work / "m.db"), collection="bench")),
                        ("lookalike flat (FAISS IndexFlatIP)", lambda: make_store("flat", 1280))):
        store = make()
        started = time.perf_counter()
        store.add(ids, vectors)
        add = time.perf_counter() - started
        store.search(queries[:2], 10)
        times = []
        for q in queries:
            started = time.perf_counter()
            store.search(q, 10)
            times.append((time.perf_counter() - started) * 1000)
        rows.append((label, add, statistics.median(times), store.search(queries, 10)[1]))
    recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(rows[0][3], rows[1][3], strict=True)]))
    size = os.path.getsize(work / "m.db") if (work / "m.db").is_file() else sum(
        f.stat().st_size for f in (work / "m.db").rglob("*") if f.is_file())
    print(f"\n{args.milvus} vectors x 1280 (random unit), single queries k=10:\n")
    print("| store | add s | add us / vector | median query ms |")
    print("|---|---:|---:|---:|")
    for label, add, query, _ in rows:
        print(f"| {label} | {add:.1f} | {add * 1e6 / args.milvus:.0f} | {query:.1f} |")
    print(f"\nMilvus Lite top-10 overlap with exact: {recall:.3f}; Milvus Lite file {size / 1e6:.0f} MB "
          f"({size / args.milvus:.0f} bytes a vector)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--descriptors", default="phash,embedding")
    parser.add_argument("--sample", type=int, default=192)
    parser.add_argument("--milvus", type=int, default=20_000, help="vectors for the Milvus Lite part (0: skip)")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "lookalike-bench-ray"))
    parser.add_argument("--part", choices=("all", "engines", "stages", "milvus"), default="all")
    args = parser.parse_args()

    import ray

    import lookalike

    print(f"machine: {platform.machine()}, {len(os.sched_getaffinity(0))} usable cores, Python "
          f"{platform.python_version()}, lookalike {lookalike.__version__}, ray {ray.__version__}; "
          f"load average at start {os.getloadavg()[0]:.2f}")
    work = Path(args.workdir)
    folder = work / f"photos-{args.n}"
    started = time.perf_counter()
    paths = make_small_photos(folder, args.n)
    mp = statistics.median(w * h for w, h in (Image.open(p).size for p in paths[:500])) / 1e6
    print(f"{len(paths)} JPEGs, median {mp:.2f} MP, {sum(p.stat().st_size for p in paths) / 1e6:.0f} MB "
          f"(ready in {time.perf_counter() - started:.0f} s)")
    if args.part in ("all", "engines"):
        engines(args, folder, work, args.descriptors.split(","))
    if args.part in ("all", "stages"):
        stages(args, paths, work)
    if args.part in ("all", "milvus") and args.milvus:
        shutil.rmtree(work / "m.db", ignore_errors=True)
        if (work / "m.db").is_file():
            (work / "m.db").unlink()
        milvus(args, work)
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
