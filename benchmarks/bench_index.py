"""Benchmark: indexing throughput (hashes) and vector search (exact, HNSW, IVF) of lookalike's index.

Two parts, both through the public API, in one process, printing medians and ratios:

``hashes``
    Build an index with the ``phash`` descriptor over ``--n`` JPEG photos of 1-3 MP
    (made offline: seeded random crops of the largest real photos in
    ``../shared/data``, resized to a random 1-3 MP and saved at quality 90;
    without ``../shared/data``, upscaled scikit-image photos), and compare with
    ``imagehash.phash(Image.open(path))`` over the same files, serially and over
    the same number of processes, and with imagededup's ``PHash().encode_images``
    (in ``benchmarks/.venv-torch``, see ``requirements-imagededup.txt``), with
    ``num_enc_workers`` 0 and ``--jobs``. lookalike's figure includes everything a build
    does: listing, reading, SHA-256, decoding, hashing, SQLite commits and the
    snapshot. Target (issue 4): at least 3x the images/s of the anchors on 2 cores.
``vectors``
    ``--vectors`` synthetic unit vectors of 1280 dimensions (the embedding's size),
    clustered in two levels like real embeddings (1,000 class centres, n/50 sub-clusters, noise),
    and 200 queries from the same distribution. For each store: build time,
    memory (bytes of the serialised index), median single-query latency (k=10,
    one query at a time, after a warm-up, with FAISS on 1 thread and on all) and
    recall@10 against exact search.
    Target (issue 4): 1,000,000 vectors, median query under 5 ms at recall@10 >= 0.95.

Usage::

    .venv/bin/python benchmarks/bench_index.py [--part hashes|vectors|all] [--n 1000] [--jobs 2]
                                               [--vectors 100000] [--noise 0.5] [--repeats 3]
"""

from __future__ import annotations

import argparse
import glob
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LOOKALIKE_SHARED_DATA", ROOT.parent / "shared" / "data"))


# -- photos -------------------------------------------------------------------------------------

def source_photos() -> list[Path]:
    """Real photos of at least 1.1 MP to cut the benchmark images from."""
    candidates = sorted(
        glob.glob(str(SHARED / "matching" / "homogr" / "*.jpg"))
        + glob.glob(str(SHARED / "matching" / "homogr" / "*.png"))
        + glob.glob(str(SHARED / "retrieval" / "ukbench_holidays_samples" / "**" / "*.jpg"), recursive=True)
    )
    big = []
    for path in candidates:
        with Image.open(path) as image:
            if image.size[0] * image.size[1] >= 1_100_000:
                big.append(Path(path))
    if big:
        return big
    import skimage.data

    folder = Path(skimage.data.__file__).parent
    return [folder / n for n in ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg")]


def make_photos(folder: Path, n: int, seed: int = 0, *, megapixels: tuple[float, float] = (1.0, 3.0),
                side_share: tuple[float, float] = (0.6, 1.0)) -> list[Path]:
    """``n`` JPEGs of 1-3 MP (``megapixels``): random crops (``side_share`` of each side) of real photos, resized,
    quality 90."""
    rng = np.random.default_rng(seed)
    opened = [Image.open(p).convert("RGB") for p in source_photos()]
    paths = []
    for i in range(n):
        image = opened[i % len(opened)]
        width, height = image.size
        cw, ch = int(width * rng.uniform(*side_share)), int(height * rng.uniform(*side_share))
        left, top = int(rng.integers(0, width - cw + 1)), int(rng.integers(0, height - ch + 1))
        scale = (rng.uniform(*megapixels) * 1_000_000 / (cw * ch)) ** 0.5
        crop = image.crop((left, top, left + cw, top + ch)).resize(
            (round(cw * scale), round(ch * scale)), Image.Resampling.BILINEAR
        )
        path = folder / f"photo_{i:04d}.jpg"
        crop.save(path, quality=90)
        paths.append(path)
    return paths


# -- part 1: hash indexing ----------------------------------------------------------------------------

# imagededup 0.3.3's package __init__ files import its CNN method (torchvision) and plotter (matplotlib),
# neither installed in .venv-torch: the packages are registered without running them, and only
# imagededup.methods.hashing (imagededup's own code, unchanged) is imported.
#: Prefix of every script run in .venv-torch that imports imagededup's hashing (also bench_duplicates.py).
IMAGEDEDUP_SHIM = """
import importlib.util, json, os, statistics, sys, time, types
root = importlib.util.find_spec("imagededup").submodule_search_locations[0]
for name, sub in (("imagededup", ""), ("imagededup.methods", "methods"), ("imagededup.utils", "utils")):
    module = types.ModuleType(name)
    module.__path__ = [os.path.join(root, sub)]
    sys.modules[name] = module
"""
_IMAGEDEDUP_TIMER = IMAGEDEDUP_SHIM + """
from imagededup.methods.hashing import PHash
folder, workers, repeats, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
phash = PHash(verbose=False)
def run():
    encodings = phash.encode_images(image_dir=folder, num_enc_workers=workers)
    assert len(encodings) == n, len(encodings)
run()
import resource
def cpu_now():  # this process and its finished children (imagededup always encodes in a Pool of >= 1 worker)
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + child.ru_utime + child.ru_stime
times, cpus = [], []
for _ in range(repeats):
    start, cpu = time.perf_counter(), cpu_now()
    run()
    times.append(time.perf_counter() - start)
    cpus.append(cpu_now() - cpu)
import importlib.metadata
print(json.dumps([statistics.median(times), statistics.median(cpus), importlib.metadata.version("imagededup")]))
"""


def time_imagededup(folder: Path, workers: int, n: int, repeats: int) -> tuple[float, float, str] | None:
    """``PHash().encode_images(folder, num_enc_workers=workers)`` in benchmarks/.venv-torch: median wall
    and CPU seconds (the process and its pool workers), and the version; None when it cannot run.

    ``num_enc_workers=0`` still encodes in a pool of one worker process (imagededup's ``parallelise``).
    """
    import json
    import subprocess

    python = ROOT / "benchmarks" / ".venv-torch" / "bin" / "python"
    if not python.exists():
        print("imagededup: skipped (no benchmarks/.venv-torch; see requirements-imagededup.txt)")
        return None
    done = subprocess.run([str(python), "-c", _IMAGEDEDUP_TIMER, str(folder), str(workers), str(repeats), str(n)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"
        print(f"imagededup: skipped ({tail})")
        return None
    seconds, cpu, version = json.loads(done.stdout.strip().splitlines()[-1])
    return float(seconds), float(cpu), str(version)

def _imagehash_one(path: str) -> str:
    import imagehash

    with Image.open(path) as image:
        return str(imagehash.phash(image))


def _imagehash_chunk(paths: list[str]) -> list[str]:
    return [_imagehash_one(p) for p in paths]


def bench_hashes(args: argparse.Namespace) -> None:
    from lookalike.index import build_index

    work = Path(tempfile.mkdtemp(prefix="bench-index-"))
    try:
        photos = work / "photos"
        photos.mkdir()
        started = time.perf_counter()
        paths = [str(p) for p in make_photos(photos, args.n)]
        pixels = [Image.open(p).size for p in paths]
        mp = statistics.median(w * h for w, h in pixels) / 1e6
        print(f"{len(paths)} JPEG photos, median {mp:.2f} MP, made in {time.perf_counter() - started:.0f} s")

        def lookalike_build(jobs: int) -> Callable[[], None]:
            def run() -> None:
                target = work / "idx"
                shutil.rmtree(target, ignore_errors=True)
                index, report = build_index(photos, target, descriptors=["phash"], jobs=jobs)
                index.close()
                assert report.added == len(paths), report

            return run

        def imagehash_serial() -> None:
            _imagehash_chunk(paths)

        def imagehash_parallel() -> None:
            size = max(1, len(paths) // (args.jobs * 8))
            chunks = [paths[i : i + size] for i in range(0, len(paths), size)]
            with ProcessPoolExecutor(args.jobs) as pool:
                list(pool.map(_imagehash_chunk, chunks))

        # (name, function, in-process: its CPU time is this process's)
        sides: list[tuple[str, Callable[[], None], bool]] = [
            ("lookalike index build -d phash -j 1", lookalike_build(1), True),
            (f"lookalike index build -d phash -j {args.jobs}", lookalike_build(args.jobs), False),
            ("imagehash.phash, 1 process", imagehash_serial, True),
            (f"imagehash.phash, {args.jobs} processes", imagehash_parallel, False),
        ]
        for _name, fn, _cpu in sides:  # warm-up: imports, worker start-up code, OS file cache
            fn()
        walls: dict[str, list[float]] = {name: [] for name, _fn, _cpu in sides}
        cpus: dict[str, list[float]] = {name: [] for name, _fn, _cpu in sides}
        for round_ in range(args.repeats):  # sides alternate, so other programs' load falls on all of them
            for name, fn, _cpu in sides[round_ % len(sides):] + sides[: round_ % len(sides)]:
                wall, cpu = time.perf_counter(), time.process_time()
                fn()
                walls[name].append(time.perf_counter() - wall)
                cpus[name].append(time.process_time() - cpu)
        rows = [(name, statistics.median(walls[name]), statistics.median(cpus[name]) if in_process else None)
                for name, _fn, in_process in sides]
        for workers in (0, args.jobs):
            timed = time_imagededup(photos, workers, len(paths), args.repeats)
            if timed is not None:
                label = "1 process" if workers == 0 else f"{workers} processes"
                rows.append((f"imagededup {timed[2]} PHash, {label}", timed[0], timed[1] if workers == 0 else None))
        n = len(paths)
        wall_ref = {"1": rows[0][1], "n": rows[1][1]}
        cpu_ref = rows[0][2] or 1.0
        print(f"\n{'hash indexing (' + str(n) + ' photos)':<44} {'median s':>9} {'images/s':>9} {'lookalike x':>12}"
              f" {'CPU ms/img':>11} {'CPU x':>7}")
        for name, seconds, cpu in rows:
            parallel = not (name.endswith("1 process") or name.endswith("-j 1"))
            ratio = seconds / wall_ref["n" if parallel else "1"]
            cpu_text = f"{cpu / n * 1000:>11.2f} {cpu / cpu_ref:>6.2f}x" if cpu is not None else f"{'-':>11} {'-':>7}"
            print(f"{name:<44} {seconds:>9.2f} {n / seconds:>9.1f} {ratio:>11.2f}x {cpu_text}")
        print("(lookalike x: the side's time over lookalike's with the same number of processes; CPU: the process's"
              " own CPU time, for the single-process sides, which other programs' load disturbs much less)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


# -- part 2: vector search ------------------------------------------------------------------------------

def clustered(n: int, rng: np.random.Generator, centres: np.ndarray, subcentres: np.ndarray,
              noise: float) -> np.ndarray:
    """Unit vectors in two levels of clusters: a class centre, a sub-cluster offset, and noise."""
    dim = centres.shape[1]
    out = np.empty((n, dim), np.float32)
    step = 50_000
    for start in range(0, n, step):
        m = min(step, n - start)
        x = (centres[rng.integers(0, centres.shape[0], m)] + 0.6 * subcentres[rng.integers(0, subcentres.shape[0], m)]
             + noise * rng.standard_normal((m, dim), dtype=np.float32))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[start : start + m] = x
    return out


def raw_search(store: object) -> Callable[[np.ndarray, int], object]:
    """The FAISS index's own search with the store's search-time parameters (no thread cap): what a FAISS
    user would call for the same results."""
    import faiss

    index = store._index  # type: ignore[attr-defined]
    if store.backend == "hnsw":  # type: ignore[attr-defined]
        params = faiss.SearchParametersHNSW()
        params.efSearch = store.ef_search  # type: ignore[attr-defined]
        return lambda q, k: index.search(q, k, params=params)
    if store.backend == "ivf":  # type: ignore[attr-defined]
        params = store._params()  # type: ignore[attr-defined]  # nprobe, and the coarse HNSW's efSearch
        refine = getattr(store, "_refine", None)
        if refine is None:
            return lambda q, k: index.search(q, k, params=params)
        # fast-scan codes re-ranked: FAISS's own IndexRefine over the same two code sets (its labels index
        # the 8-bit codes by position, so this holds where the ids are 0..n-1, as in the benchmarks)
        both = faiss.IndexRefine(index, faiss.downcast_index(refine.index))
        refined = faiss.IndexRefineSearchParameters()
        refined.k_factor = float(store.rerank)  # type: ignore[attr-defined]
        refined.base_index_params = params

        def search(q: np.ndarray, k: int, _keep: object = params) -> object:  # refined points at params
            return both.search(q, k, params=refined)

        return search
    return lambda q, k: index.search(q, k)


def bench_vectors(args: argparse.Namespace) -> None:
    import faiss

    from lookalike.index import FlatStore, HNSWStore, IVFStore, choose_backend

    dim, n = 1280, args.vectors
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((1000, dim), dtype=np.float32)
    subcentres = rng.standard_normal((max(1, n // 50), dim), dtype=np.float32)
    started = time.perf_counter()
    base = clustered(n, rng, centres, subcentres, args.noise)
    queries = clustered(200, rng, centres, subcentres, args.noise)
    ids = np.arange(n, dtype=np.int64)
    made = time.perf_counter() - started
    print(f"\n{n} vectors x {dim} (clustered, noise {args.noise}, unit length), 200 queries; made in {made:.0f} s;"
          f" 'auto' picks {choose_backend(n, metric='ip')!r} at this size")

    exact = FlatStore(dim)
    exact.add(ids, base)
    truth = exact.search(queries, 10)[1]

    def recall(found: np.ndarray) -> float:
        return float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)]))

    threads = faiss.omp_get_max_threads()

    def latency(store: object) -> str:
        """Median ms of one query at a time, with FAISS on 1 thread and on all threads.

        lookalike's stores search fewer than 16 queries on one thread whatever FAISS's setting, so the
        second figure is FAISS's own multi-threaded single query, called on the store's index directly.
        """
        out = []
        for count in (1, threads):
            faiss.omp_set_num_threads(count)
            search = store.search if count == 1 else raw_search(store)  # type: ignore[attr-defined]
            for q in queries[:20]:
                search(q[None], 10)
            times = []
            for q in queries:
                start = time.perf_counter()
                search(q[None], 10)
                times.append(time.perf_counter() - start)
            out.append(statistics.median(times) * 1000)
        faiss.omp_set_num_threads(threads)
        return f"{out[0]:>8.2f} {out[1]:>8.2f}"

    def size(store: object) -> int:
        index = store._index  # type: ignore[attr-defined]
        return int(faiss.serialize_index(index).size)

    rows = []
    rows.append(("flat (exact)", 0.0, size(exact), latency(exact), 1.0))
    start = time.perf_counter()
    hnsw = HNSWStore(dim)
    hnsw.add(ids, base)
    build = time.perf_counter() - start
    for ef in (64, 128, 256):
        hnsw.ef_search = ef
        rows.append((f"hnsw m=32 ef_search={ef}", build, size(hnsw), latency(hnsw),
                     recall(hnsw.search(queries, 10)[1])))
    start = time.perf_counter()
    ivf = IVFStore(dim)
    ivf.add(ids, base)
    build = time.perf_counter() - start
    for nprobe in (16, 32, 64):
        ivf.nprobe = nprobe
        rows.append((f"ivf nlist={ivf.nlist} nprobe={nprobe}", build, size(ivf), latency(ivf),
                     recall(ivf.search(queries, 10)[1])))
    print(f"\n{'store':<32} {'build s':>8} {'MB':>8} {'ms 1 thr':>8} {'ms ' + str(threads) + ' thr*':>8} "
          f"{'recall@10':>10}")
    for name, build_s, nbytes, ms, rec in rows:
        print(f"{name:<32} {build_s:>8.1f} {nbytes / 2**20:>8.0f} {ms} {rec:>10.3f}")
    print(f"(build with {threads} FAISS threads; query latency: median of 200 single queries, k=10, through the "
          f"store (one thread) and *FAISS's own call on {threads} threads)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("hashes", "vectors", "all"), default="all")
    parser.add_argument("--n", type=int, default=1000, help="photos for the hash indexing part")
    parser.add_argument("--jobs", type=int, default=2, help="processes (lookalike and the parallel anchor)")
    parser.add_argument("--vectors", type=int, default=100_000, help="vectors for the search part")
    parser.add_argument("--noise", type=float, default=0.5,
                        help="per-dimension noise of the synthetic vectors (class centres and sub-cluster offsets "
                        "have 1 and 0.6): 0.5 leaves clear neighbourhoods, 1.0 makes neighbours nearly equidistant")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import faiss
    import imagehash

    import lookalike

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), "
          f"{platform.python_implementation()} {platform.python_version()}; lookalike {lookalike.__version__}, "
          f"faiss {faiss.__version__} ({faiss.omp_get_max_threads()} threads), imagehash {imagehash.__version__}, "
          f"numpy {np.__version__}, Pillow {Image.__version__}")
    if args.part in ("hashes", "all"):
        bench_hashes(args)
    if args.part in ("vectors", "all"):
        bench_vectors(args)


if __name__ == "__main__":
    main()
