"""Near-duplicate search quality: lookalike's default search against imagehash pHash and imagededup PHash.

The benchmark (``neardup_data.py``): the 5 sample originals of ``examples/images`` plus 39
Caltech-101 photos (3 per class, seed 0) as originals, each edited by 12 transforms (crops of 50,
70 and 90% of each side, 90-degree and small rotations, mirror, JPEG quality 10-30, 25%
downscale, colour, brightness, text, border): 528 queries. The index holds the 44 originals and
the other 611 Caltech photos as distractors (same-class photos are hard negatives). Without
``../shared/data``, only the 5 sample originals and no distractors.

For each query, every method ranks the indexed files; the query's original is the one relevant
result. Reported per transform: recall@1, recall@10 and mAP@10 (the average precision of a single
relevant item is 1/rank; 0 beyond rank 10). Methods:

- lookalike ``search(query, index)`` with the defaults (``kind="copy"``, verification on, top 10);
- lookalike with ``verify=False`` (context; its default is 1 embedding view), and with ``--views N``,
  ``verify=False`` and the first N embedding views of the query (``search(views=N)``);
- imagehash 4.3 ``phash`` (64 bits) of every file, ranked by Hamming distance;
- imagededup 0.3.3 ``PHash().encode_image`` (64 bits), ranked by Hamming distance, in
  ``benchmarks/.venv-torch`` (see requirements-imagededup.txt; its CNN half needs torchvision,
  which is not installed, so only ``imagededup.methods.hashing`` is imported).

Hash ties (several files at the original's distance) count in expectation over a random order:
what a user of the hash gets on average, without luck either way.
Also timed: indexing (lookalike), and each query alone (median and 90th percentile).

Usage::

    .venv/bin/python benchmarks/bench_neardup.py [--work DIR] [--torch-venv benchmarks/.venv-torch]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import neardup_data

HERE = Path(__file__).resolve().parent
K = 10

_IMAGEDEDUP_WORKER = r"""
import importlib.util, json, os, sys, types
spec = importlib.util.find_spec("imagededup")
root = os.path.dirname(spec.origin)
for name in ("imagededup", "imagededup.methods", "imagededup.utils"):
    module = types.ModuleType(name)
    module.__path__ = [os.path.join(root, *name.split(".")[1:])]
    sys.modules[name] = module
from imagededup.methods.hashing import PHash
import imagededup
version = open(os.path.join(root, "__init__.py")).read().split("'")[1]
hasher = PHash(verbose=False)
paths = json.load(sys.stdin)
print(json.dumps({"version": version, "hashes": [hasher.encode_image(image_file=p) for p in paths]}))
"""


def hamming_ranks(query_hashes: np.ndarray, index_hashes: np.ndarray, targets: list[int]) -> list[tuple[int, int]]:
    """``(better, tied)`` for each query: files strictly nearer than its original, and files as near."""
    out = []
    for q, t in zip(query_hashes, targets, strict=True):
        d = np.unpackbits(np.bitwise_xor(index_hashes, q[None, :]), axis=1).sum(axis=1)
        out.append((int(np.sum(d < d[t])), int(np.sum(d == d[t])) - 1))
    return out


def imagehash_hashes(paths: list[Path]) -> tuple[np.ndarray, str]:
    import imagehash
    from PIL import Image

    out = []
    for p in paths:
        with Image.open(p) as image:
            out.append(np.packbits(imagehash.phash(image).hash.ravel()))
    return np.stack(out), getattr(imagehash, "__version__", "?")


def imagededup_hashes(paths: list[Path], venv: Path) -> tuple[np.ndarray | None, str]:
    python = venv / "bin" / "python"
    if not python.exists():
        return None, f"not run: {python} missing (make -C benchmarks venv-torch, then requirements-imagededup.txt)"
    proc = subprocess.run([str(python), "-W", "ignore", "-c", _IMAGEDEDUP_WORKER], input=json.dumps(
        [str(p) for p in paths]), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return None, "not run: " + (proc.stderr.strip().splitlines() or ["?"])[-1]
    data = json.loads(proc.stdout)
    hashes = np.stack([np.frombuffer(bytes.fromhex(h), np.uint8) for h in data["hashes"]])
    return hashes, data["version"]


def metrics(ranks: list[tuple[int, int]]) -> tuple[float, float, float]:
    """Recall@1, recall@K and mAP@K, in expectation over a random order of ties.

    A rank is ``(better, tied)``: the original is at a uniformly random place among positions
    ``better + 1 .. better + tied + 1`` (a hash's ties; lookalike's list has none).
    """
    r1 = r10 = ap = 0.0
    for better, tied in ranks:
        places = np.arange(better + 1, better + tied + 2, dtype=np.float64)
        r1 += float(np.mean(places == 1))
        r10 += float(np.mean(places <= K))
        ap += float(np.mean(np.where(places <= K, 1.0 / places, 0.0)))
    n = max(1, len(ranks))
    return r1 / n, r10 / n, ap / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None, help="build here and keep it (default: a temporary folder)")
    parser.add_argument("--torch-venv", type=Path, default=HERE / ".venv-torch")
    parser.add_argument("--limit", type=int, default=None, help="only the first N queries of each transform")
    parser.add_argument("--views", type=int, nargs="*", default=[], metavar="N",
                        help="also search with verify=False and only N embedding views (search(views=N))")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-neardup-") as tmp:
        run(args.work or Path(tmp), args)


def run(work: Path, args: argparse.Namespace) -> None:
    import lookalike
    from lookalike.index import Index
    from lookalike.pipelines import search

    root = work / "neardup"
    originals = [neardup_data.EXAMPLES / n for n in neardup_data.EXAMPLE_ORIGINALS]  # then 39 Caltech photos
    caltech_originals, distractors = neardup_data.caltech_split(n_originals=39, seed=0)
    if not (root / "groundtruth.csv").exists():
        neardup_data.build(root, originals=originals + caltech_originals, distractors=distractors, seed=0)
    bench = neardup_data.load(root)
    queries = list(bench.queries)
    if args.limit:
        kept: dict[str, int] = {}
        queries = [q for q in queries if kept.setdefault(q.transform, 0) < args.limit
                   and not kept.__setitem__(q.transform, kept[q.transform] + 1)]
    index_files = sorted(bench.index_dir.iterdir())
    print(f"near-duplicate benchmark: {len(bench.originals)} originals, {len(bench.distractors)} distractors, "
          f"{len(queries)} queries ({len(neardup_data.TRANSFORMS)} transforms)", flush=True)

    index_path = work / "lookalike-index"
    started = time.perf_counter()
    if (index_path / "manifest.json").exists():
        index = Index.open(index_path)
        build_s = float("nan")
    else:
        index = Index.create(index_path)
        index.update(bench.index_dir, jobs=2)
        build_s = time.perf_counter() - started
    path_pos = {os.path.realpath(p): i for i, p in enumerate(index_files)}
    targets = [path_pos[os.path.realpath(q.original)] for q in queries]

    ranks: dict[str, list[tuple[int, int]]] = {}
    latency: dict[str, list[float]] = {}
    above: dict[str, list[bool]] = {}  # each result at >= 0.70: is it the query's original?
    search([queries[0].path], index)  # warm-up: the network, the vector stores
    runs: list[tuple[str, bool, int | None]] = [("lookalike", True, None), ("lookalike --no-verify", False, None)]
    runs += [(f"lookalike --no-verify --views {v}", False, v) for v in args.views]  # the default: 1 view
    for name, verify, views in runs:
        ranks[name], latency[name], above[name] = [], [], []
        for n, q in enumerate(queries):
            t0 = time.perf_counter()
            [result] = search(q.path, index, top=K, verify=verify, views=views)
            latency[name].append(time.perf_counter() - t0)
            found = [os.path.realpath(p) for p, _s in result.results]
            original = os.path.realpath(q.original)
            ranks[name].append((found.index(original) if original in found else K, 0))
            above[name] += [path == original for path, (_p, s) in zip(found, result.results, strict=True) if s >= 0.7]
            if n % 100 == 99:
                print(f"  {name}: {n + 1}/{len(queries)}", file=sys.stderr, flush=True)
    index.close()

    versions = {"lookalike": lookalike.__version__}
    hashed, versions["imagehash"] = imagehash_hashes(index_files)
    qhashed, _ = imagehash_hashes([q.path for q in queries])
    ranks["imagehash pHash"] = hamming_ranks(qhashed, hashed, targets)
    dedup_index, versions["imagededup"] = imagededup_hashes(index_files, args.torch_venv)
    if dedup_index is not None:
        dedup_queries, _ = imagededup_hashes([q.path for q in queries], args.torch_venv)
        ranks["imagededup PHash"] = hamming_ranks(dedup_queries, dedup_index, targets)

    report(queries, ranks, latency, build_s, len(index_files), versions)
    for name, right in above.items():
        print(f"{name}: {len(right)} results at >= 0.70, {np.mean(right):.3f} of them the query's original "
              f"(strict: other photos of the same object count as wrong); originals found at >= 0.70: "
              f"{sum(right) / len(queries):.3f}")


def report(queries: list, ranks: dict[str, list[tuple[int, int]]], latency: dict[str, list[float]], build_s: float,
           n_index: int, versions: dict[str, str]) -> None:
    names = list(ranks)
    transforms = list(dict.fromkeys(q.transform for q in queries))
    print(f"\nmachine: {platform.platform()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; Python {platform.python_version()}; "
          + ", ".join(f"{k} {v}" for k, v in versions.items()))
    header = "| transform | " + " | ".join(f"{n} R@1 / R@10 / mAP" for n in names) + " |"
    print("\n" + header + "\n|---|" + "---|" * len(names))
    for transform in [*transforms, "all"]:
        sel = [i for i, q in enumerate(queries) if transform in ("all", q.transform)]
        cells = []
        for n in names:
            r1, r10, m = metrics([ranks[n][i] for i in sel])
            cells.append(f"{r1:.2f} / {r10:.2f} / {m:.3f}")
        label = f"**all ({len(sel)})**" if transform == "all" else f"{transform} ({len(sel)})"
        print(f"| {label} | " + " | ".join(cells) + " |")
    print(f"\nindexing {n_index} files (phash + embedding, 2 workers): {build_s:.1f} s")
    for name, values in latency.items():
        values = sorted(values)
        print(f"{name}: query latency median {statistics.median(values) * 1000:.0f} ms, "
              f"p90 {values[int(0.9 * (len(values) - 1))] * 1000:.0f} ms ({n_index} indexed files)")
    worst = {n: min(metrics([ranks[n][i] for i, q in enumerate(queries) if q.transform == t])[2] for t in transforms)
             for n in names}
    overall = {n: metrics(ranks[n])[2] for n in names}
    print(f"\ntargets: mAP overall >= 0.90: {overall['lookalike']:.3f}; every transform >= 0.80: worst "
          f"{worst['lookalike']:.3f}")
    anchors = [n for n in names if not n.startswith("lookalike")]
    def per_transform(name: str, transform: str) -> float:
        return metrics([ranks[name][i] for i, q in enumerate(queries) if q.transform == transform])[2]

    behind = [t for t in transforms if any(per_transform("lookalike", t) < per_transform(a, t) for a in anchors)]
    print("ahead of both anchors on every transform: " + ("yes" if not behind else f"no ({', '.join(behind)})"))


if __name__ == "__main__":
    main()
