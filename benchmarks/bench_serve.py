"""Benchmark: ``lookalike serve`` under load: search through the HTTP API against a 10,000-image index.

Targets (issue 13): errors zero and the server's memory not growing by more than 10% across the
run; search through the API at p50 under 1.2x the same search through the Python API in one
process (measured side by side in this run: one client, one query at a time, alternating); with
``verify`` off, p50 under 50 ms end to end with 8 concurrent clients, uploads of about 200 KB.

Data (made offline, seeded, kept in ``--workdir`` so reruns skip it; nothing goes into the repo):

- images: ``--images`` (10,000) distinct crops (a random window of 60-100 % of each side) of the
  photos of ``../shared/data`` (the folders of ``bench_search_latency.py``), rescaled so their
  longest side is 256 px, JPEG quality 85: small, so that the index builds in minutes on 2 cores;
- the index: ``build_index(images, WORKDIR/index, descriptors=["phash", "embedding"])``, the
  cheapest descriptors that serve the measured query (copy search with ``verify=False``: pHash of
  the 8 rotations and flips, embedding of 4 views, vector search);
- queries: 20 of the indexed crops' source photos, resampled to about 1.5 MP, JPEG quality 90
  (about 200 KB each, the upload size the target names).

Load: ``lookalike serve --index WORKDIR/index --no-verify --max-decodes N`` in a subprocess on a
free 127.0.0.1 port; for each client count (1, 8, 32) an asyncio + httpx2 client keeps that many
requests in flight for ``--duration`` seconds (at most ``--max-requests`` requests), each a
``POST /api/v1/search`` of a query drawn at random (seeded). The load generator runs on the same
machine and takes CPU from the server: on 2 cores the figures are a floor, not a ceiling.
Memory: the server's RSS (``/proc/PID/status``) after a warm-up (``--warmup`` seconds at the
largest client count: the allocator's arenas and the threads' buffers reach their working size)
and after the last level; the RSS before the warm-up is printed too.

Usage::

    nice -n 10 .venv/bin/python benchmarks/bench_serve.py --stage build     # once, minutes on 2 cores
    .venv/bin/python benchmarks/bench_serve.py --stage run                  # the load test
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from bench_search_latency import random_crop, source_photos  # the same photos of ../shared/data, cropped alike
from PIL import Image

N_QUERIES = 20


def _crop(task: tuple[str, str, int]) -> None:
    source, target, seed = task
    crop = random_crop(Image.open(source).convert("RGB"), np.random.default_rng(seed))
    crop.thumbnail((256, 256), Image.Resampling.LANCZOS)
    crop.save(target, quality=85)


def make_images(workdir: Path, n_images: int, jobs: int) -> Path:
    photos = source_photos()
    folder = workdir / "images"
    folder.mkdir(parents=True, exist_ok=True)
    per, extra = divmod(n_images, len(photos))
    tasks = []
    for i, photo in enumerate(photos):
        for j in range(per + (1 if i < extra else 0)):
            target = folder / f"{i:04d}-{j}.jpg"
            if not target.exists():
                tasks.append((str(photo), str(target), 1_000_003 * i + j))
    if tasks:
        start = time.perf_counter()
        with ProcessPoolExecutor(jobs) as pool:
            list(pool.map(_crop, tasks, chunksize=32))
        print(f"wrote {len(tasks)} images in {time.perf_counter() - start:.0f} s", flush=True)
    return folder


def make_queries(workdir: Path) -> list[bytes]:
    folder = workdir / "queries"
    folder.mkdir(parents=True, exist_ok=True)
    photos = source_photos()
    chosen = random.Random(7).sample(photos, N_QUERIES)
    out = []
    for i, photo in enumerate(chosen):
        target = folder / f"q{i:02d}.jpg"
        if not target.exists():
            image = Image.open(photo).convert("RGB")
            scale = (1.5e6 / (image.size[0] * image.size[1])) ** 0.5  # about 200 KB at quality 90
            image = image.resize((max(16, round(image.size[0] * scale)), max(16, round(image.size[1] * scale))),
                                 Image.Resampling.LANCZOS)
            image.save(target, quality=90)
        out.append(target.read_bytes())
    return out


def build(workdir: Path, jobs: int) -> None:
    from lookalike.index import Index

    images = make_images(workdir, ARGS.images, jobs)
    start = time.perf_counter()
    path = workdir / "index"
    opened = Index.open(path) if (path / "manifest.json").exists() else Index.create(
        path, descriptors=["phash", "embedding"])
    with opened as index:  # resumes where an interrupted build stopped
        report = index.update(images, jobs=jobs)
        print(f"indexed {report.added} images ({len(index)} in the index) in {time.perf_counter() - start:.0f} s, "
              f"load {os.getloadavg()[0]:.2f}", flush=True)


# -- the load test --------------------------------------------------------------------------------

def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


async def load(url: str, queries: list[bytes], clients: int, duration: float, max_requests: int,
               seed: int) -> dict[str, Any]:
    import httpx2

    rng = random.Random(seed)
    latencies: list[float] = []
    errors: list[str] = []
    sent = 0
    deadline = time.perf_counter() + duration
    limits = httpx2.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx2.AsyncClient(base_url=url, limits=limits, timeout=120) as http:
        async def client() -> None:
            nonlocal sent
            while time.perf_counter() < deadline and sent < max_requests:
                sent += 1
                query = queries[rng.randrange(len(queries))]
                start = time.perf_counter()
                try:
                    response = await http.post("/api/v1/search", files={"image": ("q.jpg", query)},
                                               data={"top": "10"})
                    ok = response.status_code == 200 and bool(response.json()["results"])
                    if not ok:
                        errors.append(f"{response.status_code} {response.text[:100]}")
                except httpx2.HTTPError as exc:
                    errors.append(repr(exc))
                    continue
                latencies.append(time.perf_counter() - start)

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - start
    return {"clients": clients, "requests": len(latencies) + len(errors), "seconds": elapsed,
            "rps": len(latencies) / elapsed, "p50": percentile(latencies, 50) * 1000,
            "p99": percentile(latencies, 99) * 1000, "errors": len(errors), "first_error": errors[:1]}


def side_by_side(url: str, index_path: Path, queries: list[bytes], rounds: int) -> tuple[list[float], list[float]]:
    """One query at a time, alternating: the Python API in this process, then the same query over HTTP."""
    import httpx2

    from lookalike import search
    from lookalike.index import Index

    local: list[float] = []
    remote: list[float] = []
    with Index.open(index_path) as index, httpx2.Client(base_url=url, timeout=60) as http:
        search([queries[0]], index, verify=False)  # warm-up: model, stores
        http.post("/api/v1/search", files={"image": ("q.jpg", queries[0])})
        for r in range(rounds):
            for query in queries:
                pair = [("local", query), ("remote", query)]
                if r % 2:
                    pair.reverse()
                for side, data in pair:
                    start = time.perf_counter()
                    if side == "local":
                        search([data], index, top=10, verify=False, views=ARGS.views)
                        local.append(time.perf_counter() - start)
                    else:
                        response = http.post("/api/v1/search", files={"image": ("q.jpg", data)},
                                             data={"top": "10"})
                        response.raise_for_status()
                        remote.append(time.perf_counter() - start)
    return local, remote


def machine() -> str:
    import lookalike

    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{platform.platform()}, {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"lookalike {lookalike.__version__}")


def run(workdir: Path) -> None:
    index_path = workdir / "index"
    if not (index_path / "manifest.json").exists():
        sys.exit(f"no index at {index_path}: run --stage build first")
    queries = make_queries(workdir)
    print(f"queries: {len(queries)} JPEGs, {statistics.mean(len(q) for q in queries) / 1000:.0f} KB on average")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    lookalike = str(Path(sys.executable).parent / "lookalike")
    log = open(workdir / "serve.log", "wb")
    views = ["--views", str(ARGS.views)] if ARGS.views else []
    server = subprocess.Popen([lookalike, "serve", "--index", str(index_path), "--port", str(port), "--no-verify",
                               "--max-decodes", str(ARGS.max_decodes), *views], stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, "LOOKALIKE_QUEUE_TIMEOUT": "120"})
    try:
        import httpx2

        for _ in range(600):
            try:
                if httpx2.get(url + "/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx2.HTTPError:
                time.sleep(0.1)
        else:
            sys.exit("the server did not start; see serve.log")
        files = httpx2.get(url + "/api/v1/health").json()["index"]["files"]
        print(machine())
        print(f"index: {files} images ({index_path}); server: --no-verify --max-decodes {ARGS.max_decodes}"
              + (f" --views {ARGS.views}" if ARGS.views else " (views: the default, 1 without verification)"))
        print(f"load average before: {os.getloadavg()[0]:.2f}")

        local, remote = side_by_side(url, index_path, queries, ARGS.rounds)
        p50_local, p50_remote = statistics.median(local) * 1000, statistics.median(remote) * 1000
        print(f"\nside by side, 1 client, {len(local)} queries each (alternating), verify off:")
        print(f"  Python API in one process  p50 {p50_local:7.1f} ms")
        print(f"  HTTP API (lookalike serve) p50 {p50_remote:7.1f} ms   ratio {p50_remote / p50_local:.2f}x "
              f"(target < 1.2x)")

        cold_mb = rss_mb(server.pid)
        asyncio.run(load(url, queries, max(ARGS.clients), ARGS.warmup, ARGS.max_requests, seed=99))
        start_mb = rss_mb(server.pid)
        print(f"\nserver RSS before the warm-up {cold_mb:.0f} MB, after {ARGS.warmup:g} s at {max(ARGS.clients)} "
              f"clients {start_mb:.0f} MB (the start of the load)")
        print(f"{'clients':>7} {'requests':>8} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} "
              f"{'RSS MB':>7} {'load':>5}")
        for level, clients in enumerate(ARGS.clients):
            row = asyncio.run(load(url, queries, clients, ARGS.duration, ARGS.max_requests, seed=level))
            print(f"{row['clients']:>7} {row['requests']:>8} {row['rps']:>7.1f} {row['p50']:>8.1f} {row['p99']:>8.1f} "
                  f"{row['errors']:>6} {rss_mb(server.pid):>7.0f} {os.getloadavg()[0]:>5.2f}"
                  + (f"  first error: {row['first_error'][0]}" if row["first_error"] else ""), flush=True)
        end_mb = rss_mb(server.pid)
        print(f"server RSS at end: {end_mb:.0f} MB ({(end_mb / start_mb - 1) * 100:+.1f}%, target within +10%)")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def main() -> None:
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/lookalike-bench-serve"))
    parser.add_argument("--stage", choices=("build", "run", "all"), default="all")
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per client count")
    parser.add_argument("--max-requests", type=int, default=5000, help="requests per client count, at most")
    parser.add_argument("--max-decodes", type=int, default=2, help="the server's decode slots")
    parser.add_argument("--views", type=int, default=None,
                        help="embedding views of a query, server and in-process alike (default: search's, 1 "
                        "without verification)")
    parser.add_argument("--rounds", type=int, default=2, help="side-by-side rounds over the queries")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds of load before the memory baseline")
    ARGS = parser.parse_args()
    ARGS.workdir.mkdir(parents=True, exist_ok=True)
    if ARGS.stage in ("build", "all"):
        build(ARGS.workdir, ARGS.jobs)
    if ARGS.stage in ("run", "all"):
        run(ARGS.workdir)


ARGS: argparse.Namespace

if __name__ == "__main__":
    main()
