"""Search and duplicates timed through the public API on the small near-duplicate set (a regression check).

For a restructuring that must not change speed: one index of the near-duplicate
benchmark (``neardup_data.py``: the 5 sample originals of ``examples/images``
plus 39 Caltech-101 photos, each edited 12 ways; 611 Caltech distractors; only
the samples without ``../shared/data``), built once and cached in ``--work``;
then, in this one process, the median of ``--repeats`` timings of

- ``lookalike.search(query, index)`` over the first ``--queries`` queries (verified, the default);
- ``lookalike.find_duplicates(index)`` (the defaults);

with the load average before and after, the median CPU time of this process
(all its threads: less sensitive to a busy machine than wall time), and a digest of the results (the
rounded similarities) so two runs can be checked to give the same answers.
Not a test: nothing is asserted.

Usage::

    .venv/bin/python benchmarks/bench_pipelines.py --work /tmp/lookalike-bench-pipelines
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import neardup_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--queries", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    import lookalike
    from lookalike.index import Index

    root = args.work / "neardup"
    if not (root / "groundtruth.csv").exists():
        originals = [neardup_data.EXAMPLES / name for name in neardup_data.EXAMPLE_ORIGINALS]
        caltech, distractors = (neardup_data.caltech_split(n_originals=39, seed=0)
                                if neardup_data.CALTECH.exists() else ([], []))
        neardup_data.build(root, originals=originals + caltech, distractors=distractors, seed=0)
    bench = neardup_data.load(root)
    path = args.work / "index"
    if not (path / "manifest.json").exists():
        with Index.create(path) as index:
            index.update(bench.index_dir, jobs=args.jobs)
    queries = [q.path for q in bench.queries[: args.queries]]
    digest = hashlib.sha256()
    load_before = os.getloadavg()[0]
    with Index.open(path) as index:
        lookalike.search(queries[0], index)  # warm-up: the embedder, the vector snapshots
        search_s, search_cpu = [], []
        for _ in range(args.repeats):
            started, cpu = time.perf_counter(), time.process_time()
            results = lookalike.search(queries, index)
            search_s.append((time.perf_counter() - started) / len(queries))
            search_cpu.append((time.process_time() - cpu) / len(queries))
        for result in results:
            digest.update(repr([(os.path.basename(h.path), round(h.similarity, 6)) for h in result.results]).encode())
        lookalike.find_duplicates(index)  # warm-up
        duplicates_s, duplicates_cpu = [], []
        for _ in range(args.repeats):
            started, cpu = time.perf_counter(), time.process_time()
            report = lookalike.find_duplicates(index)
            duplicates_s.append(time.perf_counter() - started)
            duplicates_cpu.append(time.process_time() - cpu)
        for group in report.groups:
            digest.update(repr([(os.path.basename(m.path), round(m.similarity, 6)) for m in group.files]).encode())
        n = len(index)
    load_after = os.getloadavg()[0]
    print(f"index: {n} files; {len(queries)} queries; {args.repeats} repeats; "
          f"load average {load_before:.2f} before, {load_after:.2f} after")
    print(f"search, verified:  median {1000 * statistics.median(search_s):7.1f} ms a query "
          f"(min {1000 * min(search_s):.1f}, max {1000 * max(search_s):.1f}); "
          f"CPU {1000 * statistics.median(search_cpu):.1f} ms")
    print(f"find_duplicates:   median {statistics.median(duplicates_s):7.3f} s "
          f"(min {min(duplicates_s):.3f}, max {max(duplicates_s):.3f}); CPU {statistics.median(duplicates_cpu):.3f} s; "
          f"{len(report.groups)} groups")
    print(f"results digest: {digest.hexdigest()[:16]}")


if __name__ == "__main__":
    main()
