"""Duplicates over 100,000 indexed images: ``find_duplicates(index)`` end to end, against all-pairs pHash.

Target (issue 4): under 30 s after indexing, on 2 cores, verification on (the default).

The index (cached under ``--work``, default ``/tmp/lookalike-bench-dups``; built once):

- **Planted groups, real**: the near-duplicate benchmark of ``neardup_data.py`` (5 sample photos
  and 39 Caltech-101 originals, each with 12 edited copies: crops of 50-90 %, 90-degree and small
  rotations, mirror, JPEG 10-30, 25 % downscale, colour, brightness, caption, border; and the other
  611 Caltech photos as same-class distractors): 1,183 files on disk, indexed by
  ``Index.update`` with the default descriptors (pHash, embedding, stored RootSIFT).
- **Synthetic entries** (the rest, ``--n`` in all): catalogue rows, each costing what a real file
  costs when the pipeline touches it.
  Embeddings from ``synthetic_vectors.realistic_vectors`` (real EfficientNet-Lite0 vectors of the
  photos in ``../shared/data``, interpolated between real neighbours plus PCA-shaped noise,
  calibrated so nearest-neighbour cosines match the real set's). pHashes: the index's own hash
  (``lookalike.features.image_hash``, 64 bits, on the same 256-pixel draft decode) of a random
  crop (60-95 % of each side, random position, mirrored half the time) of a random real photo of
  ``../shared/data`` (CIFAR-10, Caltech-101, cats and dogs, UKBench/Holidays; about 21,000), so
  the hash distances among them are those of real photos and their crops. Keypoints: the stored
  RootSIFT BLOB (the catalogue's own format, what a default build stores and ``Index.local_features``
  reads), with the geometry of a real crop and descriptors resampled so that no two rows carry one
  scene. A pool of :data:`CROPS_PER_SOURCE` random crops (60-95 % of each side) of each of the 49
  photos of 0.27 MP and more in ``../shared/data`` (:func:`keypoint_sources`: the CMP homogr pairs
  but the 0.09 MP "city", HPatches v_graffiti, the UKBench and Holidays samples; 600x450 to
  3264x2448) is described once by the index's own ``describe_keypoints`` (``verify_features`` at
  ``VERIFY_SIZE``, at most ``VERIFY_KEYPOINTS`` = 1,000) and cached: 1,960 crops, 1.69 million SIFT
  descriptors. Each row takes one crop's keypoints (count, positions, sizes, angles: the cap of
  1,000 for 70 % of the crops, fewer for low-texture ones; 863 on average, the run prints the mean)
  and, for each keypoint, the descriptor of a keypoint drawn at random from the whole pool
  (:func:`resampled_rows`). So every row holds real SIFT descriptors and the words they quantise to,
  as many as a photo of a real collection, and verifying a pair costs what it costs there; but no
  two rows share a scene (their descriptors are unrelated draws: they verify as nothing), which the
  19 scenes of the crops alone could not give at 100,000 rows (a row's best word neighbours were the
  rows cut from its scene). What this leaves out: a real collection also holds photos of one place
  or object that are not copies, whose words overlap more than unrelated draws do (the 611
  same-class Caltech distractors of the real part are such photos). The row's path is a symbolic
  link (under ``--work``) to the crop's photo, so where the mirrored verification pass decodes the
  file, it decodes and describes a real image of that size. Every row has a unique content hash
  (``synthetic-<row>``), so none is an exact duplicate. Visual words: as ``derive_words`` makes
  them (the vocabulary tree fitted on the keypoints of its seeded sample of 2,000 files, each
  file's keypoints quantised), except that each pool descriptor is quantised once and a row takes
  the words of the descriptors it carries (:func:`fit_words`; the same words, without quantising
  86 million descriptors row by row).
  **Benchmark shortcuts**: the rows are written with ``Catalog.commit`` (the internal call
  ``Index.update`` ends with) instead of being indexed; and a row's pHash, embedding and keypoints
  come from three different real photos. So a pair of synthetic rows that the hash, the embedding or
  the words bring together is, for the keypoints, a pair of unrelated photos: the gated pairs are
  mostly non-copies that verification rejects, as in a real collection, where the embedding's near
  neighbours are mostly same-kind photos, not copies.
  The real planted files keep their own keypoints (mostly
  300-pixel Caltech-101 photos: about 375 keypoints). The run counts verified pairs whose file
  could not be read or had no keypoints; it must be 0.

Timed: ``find_duplicates(index)`` with default settings, one warm-up call, then ``--repeats``
calls; median. Then one instrumented call (``find_duplicates(index, timings=...)``, same
work) for the stage breakdown. Quality: for each planted copy, whether it lands in its
original's group (recall per transform), and of the planted files reported as duplicates,
how many are grouped with their own original (precision); groups made of synthetic entries only
are counted apart.

Anchor, in the same run: what imagededup and imagehash users do, all pairs of pHashes compared by
Hamming distance at imagededup's default threshold (10 bits), on the same 64-bit hashes, timed once:
vectorised numpy (XOR + popcount over uint64, blocks of rows) over all n(n-1)/2 pairs (a floor
for any hash-only tool; it compares hashes and nothing else), and imagededup 0.3.3's own
``PHash().find_duplicates(encoding_map=..., max_distance_threshold=10)`` (Cython brute force) in
``.venv-torch`` on the first 2,000, 5,000 and 10,000 hashes, extrapolated to n as n^2 from the
largest (it is not practical at 100,000: 10,000 took 15-19 s and 20,000 took 179 s in a trial).

Usage::

    nice -n 10 .venv/bin/python benchmarks/bench_duplicates.py            # --n 100000 --repeats 3
    nice -n 10 .venv/bin/python benchmarks/bench_duplicates.py --n 20000  # smaller, quicker
    nice -n 10 .venv/bin/python benchmarks/bench_duplicates.py --no-anchors  # lookalike only

The first run builds the index (about 11 minutes and 13 GB for 100,000 rows, most of it keypoints).
"""

from __future__ import annotations

import argparse
import csv
import glob
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import neardup_data  # noqa: E402
from bench_index import IMAGEDEDUP_SHIM  # noqa: E402

SHARED = neardup_data.SHARED
DEFAULT_WORK = Path("/tmp/lookalike-bench-dups")
CACHE_VERSION = "kp4"  # kp3 (crops of photos of 0.27 MP and more, linked files, dihedral hashes, words)
#                        + rows carrying resampled pool descriptors, words on the vocabulary tree
#: Photos that lend keypoints are at least this big (the 0.09 MP homogr "city" pair is not).
MIN_SOURCE_PIXELS = 250_000
#: Crops described per lending photo (a pool the rows draw from).
CROPS_PER_SOURCE = 40
ANCHOR_THRESHOLD = 10  # imagededup's default max_distance_threshold for hashes
#: The stored keypoint BLOB's header (lookalike.index._keypoints: magic, count, width, height, scale).
KEYPOINTS_HEADER_SIZE = 24
#: Files derive_words samples to fit the vocabulary (lookalike.index._ingest._VOCABULARY_FILES).
VOCABULARY_FILES = 2000


def _photo_paths() -> list[Path]:
    patterns = ["classification/caltech101_13/**/*.jpg", "classification/cats_dogs/**/*.jpg",
                "retrieval/ukbench_holidays_samples/**/*.jpg", "classification/cifar10/**/*.jpg"]
    paths: list[Path] = []
    for pattern in patterns:
        paths += sorted(Path(p) for p in glob.glob(str(SHARED / pattern), recursive=True))
    return paths


def synthetic_hashes(n: int, *, seed: int, cache: Path) -> np.ndarray:
    """``n`` dihedral pHashes ((n, 64) uint8: the 8 packed 64-bit hashes of a crop under its rotations and flips,
    the first its pHash) of random crops of real photos (cached)."""
    if cache.exists():
        hashes = np.load(cache)
        if len(hashes) >= n:
            return hashes[:n]
    from lookalike.features import dihedral_hashes
    from lookalike.io import load_image

    paths = _photo_paths()
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(paths), n)
    out = np.zeros((n, 64), np.uint8)
    decoded: dict[int, np.ndarray] = {}
    for row, pick in enumerate(picks):
        if pick not in decoded:
            decoded[int(pick)] = load_image(paths[pick], draft=(256, 256))
        image = decoded[int(pick)]
        h, w = image.shape[:2]
        fh, fw = rng.uniform(0.6, 0.95, 2)
        ch, cw = max(8, int(h * fh)), max(8, int(w * fw))
        y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        crop = image[y:y + ch, x:x + cw]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out[row] = dihedral_hashes(np.ascontiguousarray(crop), method="phash", hash_size=8).ravel()
        if len(decoded) > 4096:
            decoded.clear()
    np.save(cache, out)
    return out


def synthetic_embeddings(n: int, *, seed: int, cache_dir: Path) -> np.ndarray:
    import synthetic_vectors

    cache_dir.mkdir(parents=True, exist_ok=True)
    for name in ("real.npz", f"generator-v{synthetic_vectors._VERSION}.json"):  # the same real vectors and
        theirs = synthetic_vectors.DEFAULT_CACHE / name  # calibration as the ANN benchmark's, computed once
        if not (cache_dir / name).exists() and theirs.exists():
            shutil.copyfile(theirs, cache_dir / name)
    return np.asarray(synthetic_vectors.realistic_vectors(n, seed=seed, cache_dir=cache_dir))


def keypoint_sources() -> list[tuple[Path, str]]:
    """The photos that lend keypoints, with the scene of each: photos of one scene verify as copies of each
    other (a homogr pair; the graffiti views of homogr and HPatches; a UKBench or Holidays group)."""
    from PIL import Image

    found: list[tuple[Path, str]] = []
    for path in sorted((SHARED / "matching" / "homogr").iterdir()):
        name = path.stem[:-1]
        if path.suffix in (".jpg", ".png") and path.stem[-1:] in ("A", "B"):
            found.append((path, "graffiti" if name == "graf" else f"homogr/{name}"))
    found += [(path, "graffiti") for path in sorted((SHARED / "matching" / "hpatches_v_graffiti").glob("*.ppm"))]
    retrieval = SHARED / "retrieval" / "ukbench_holidays_samples"
    with open(retrieval / "groundtruth.csv", newline="") as handle:
        found += [(retrieval / row["image"], f"{row['dataset']}/{row['group_id']}") for row in csv.DictReader(handle)]

    def pixels(path: Path) -> int:
        with Image.open(path) as image:
            return image.size[0] * image.size[1]

    return [(path, scene) for path, scene in found if pixels(path) >= MIN_SOURCE_PIXELS]


def keypoint_crops(spec, *, seed: int, cache: Path) -> tuple[list[Path], list[str], np.ndarray, list[bytes]]:
    """:data:`CROPS_PER_SOURCE` random crops (60-95 % of each side) of each of :func:`keypoint_sources`, described
    as the index stores keypoints (``describe_keypoints``: SIFT at ``VERIFY_SIZE``, at most ``VERIFY_KEYPOINTS``):
    ``(photos, their scenes, the photo of each crop, the catalogue BLOB of each crop)``; cached in ``cache``."""
    from lookalike.index import describe_keypoints
    from lookalike.io import load_image

    sources = keypoint_sources()
    paths, scenes = [p for p, _s in sources], [s for _p, s in sources]
    if cache.exists():
        with np.load(cache) as data:
            if data["paths"].tolist() == [str(p) for p in paths]:
                ends = data["ends"]
                flat = data["blobs"].tobytes()
                blobs = [flat[start:end] for start, end in zip(np.concatenate(([0], ends[:-1])), ends, strict=True)]
                return paths, scenes, data["photo"], blobs
    rng = np.random.default_rng(seed)
    blobs, photo = [], []
    for k, path in enumerate(paths):
        image = load_image(path)
        h, w = image.shape[:2]
        for _ in range(CROPS_PER_SOURCE):
            fh, fw = rng.uniform(0.6, 0.95, 2)
            ch, cw = int(h * fh), int(w * fw)
            y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
            blobs.append(describe_keypoints(np.ascontiguousarray(image[y:y + ch, x:x + cw]), spec))
            photo.append(k)
    np.savez(cache, paths=np.array([str(p) for p in paths]), photo=np.array(photo, np.int64),
             ends=np.cumsum([len(b) for b in blobs]), blobs=np.frombuffer(b"".join(blobs), np.uint8))
    return paths, scenes, np.array(photo, np.int64), blobs


def _sift_of(blob: bytes) -> tuple[bytes, np.ndarray]:
    """A stored keypoint BLOB split: (its header and keypoint geometry, its (n, 128) uint8 SIFT descriptors)."""
    n = (len(blob) - KEYPOINTS_HEADER_SIZE) // 144
    head = blob[:KEYPOINTS_HEADER_SIZE + 16 * n]
    return head, np.frombuffer(blob, np.uint8, count=128 * n, offset=KEYPOINTS_HEADER_SIZE + 16 * n).reshape(n, 128)


def resampled_rows(blobs: list[bytes], m: int, *, seed: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """For each of ``m`` synthetic rows, the crop whose keypoint geometry it keeps and, for each of its keypoints,
    the pool descriptor it carries instead (an index into the concatenated descriptors of every crop), drawn at
    random from the whole pool: no two rows carry one scene (see the module docstring)."""
    rng = np.random.default_rng(seed)
    counts = np.array([(len(b) - 24) // 144 for b in blobs], np.int64)
    crops = rng.integers(0, len(blobs), m)
    return crops, [rng.integers(0, int(counts.sum()), int(counts[c])) for c in crops]


def fit_words(index, pool_sift: np.ndarray, synthetic: dict[int, np.ndarray]) -> tuple[int, float, float]:
    """The index's visual words as ``derive_words`` makes them (the vocabulary tree fitted on the keypoints of the
    same seeded sample of 2,000 files, every file's keypoints quantised), with one shortcut: each pool descriptor
    is quantised once and a synthetic row takes the words of the descriptors it carries (``synthetic``: row id ->
    pool indices). Returns (words, seconds fitting, seconds quantising)."""
    from lookalike.features import root_sift
    from lookalike.index import fit_vocabulary_tree, quantise

    spec = next(s for s in index.descriptors if s.kind == "keypoints")
    held, size = index.catalog.descriptor_totals(spec.name)
    total = max(0, (size - KEYPOINTS_HEADER_SIZE * held) // 144)
    ids = np.array([r.id for r in index.catalog.records(status="ok")], np.int64)
    if ids.size > VOCABULARY_FILES:
        ids = np.sort(np.random.default_rng(0).choice(ids, VOCABULARY_FILES, replace=False))
    started = time.perf_counter()
    sample = [f.descriptors for f in index.local_features(ids).values() if len(f)]
    vocabulary = fit_vocabulary_tree(np.concatenate(sample))
    index._save_vocabulary(vocabulary, total)
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    pool_words = np.concatenate([quantise(root_sift(pool_sift[i:i + 65536]), vocabulary)
                                 for i in range(0, len(pool_sift), 65536)])
    real = [r.id for r in index.catalog.records(status="ok") if r.id not in synthetic]
    rows = [(i, quantise(f.descriptors, vocabulary).astype("<u2").tobytes())
            for i, f in index.local_features(real).items()]
    rows += [(i, pool_words[picked].astype("<u2").tobytes()) for i, picked in synthetic.items()]
    index.catalog.put_descriptor("words", rows)
    return len(vocabulary), fit_s, time.perf_counter() - started


def build(work: Path, n: int) -> tuple[Path, neardup_data.Benchmark, float]:
    """The index of ``n`` entries: the real planted set, then synthetic rows (see the module docstring)."""
    from lookalike.index import FileResult, Index, derive_words

    root = work / "neardup"
    originals = [neardup_data.EXAMPLES / name for name in neardup_data.EXAMPLE_ORIGINALS]
    caltech_originals, distractors = neardup_data.caltech_split(n_originals=39, seed=0)
    if not (root / "groundtruth.csv").exists():
        neardup_data.build(root, originals=originals + caltech_originals, distractors=distractors, seed=0)
    bench = neardup_data.load(root)
    path = work / f"index-{n}-{CACHE_VERSION}"
    done = work / f"index-{n}-{CACHE_VERSION}.complete"  # written once every synthetic row is in
    if done.exists() and (path / "manifest.json").exists():
        return path, bench, float("nan")
    real = work / f"index-real-{CACHE_VERSION}"  # the real files alone, indexed once (by this code), then copied
    real_s = float("nan")
    earlier = work / "index-real-kp3"  # the same files, indexed by the code before the vocabulary tree
    if not (real / "manifest.json").exists() and (earlier / "manifest.json").exists():
        shutil.rmtree(real, ignore_errors=True)
        shutil.copytree(earlier, real)
        started = time.perf_counter()
        with Index.open(real) as index:  # the upgrade `index update` makes: the flat vocabulary becomes a tree
            derive_words(index)
        print(f"real files: words on the vocabulary tree in {time.perf_counter() - started:.1f} s", flush=True)
    if not (real / "manifest.json").exists():
        shutil.rmtree(real, ignore_errors=True)
        started = time.perf_counter()
        with Index.create(real) as index:
            index.update(root / "index", jobs=2)
            index.update(root / "queries", jobs=2)
        real_s = time.perf_counter() - started
    shutil.rmtree(path, ignore_errors=True)
    shutil.copytree(real, path)
    links = work / f"synthetic-links-{CACHE_VERSION}"
    shutil.rmtree(links, ignore_errors=True)
    links.mkdir(parents=True)
    with Index.open(path) as index:
        m = n - len(index)
        if m <= 0:  # the real files alone (--n 1183): no synthetic rows, nothing more to describe
            done.write_text(f"{n}\n")
            return path, bench, real_s
        print(f"real files indexed: {len(index)} in {real_s:.1f} s; adding {m} synthetic entries", flush=True)
        specs = {s.name: s for s in index.descriptors}
        started = time.perf_counter()
        photos, scenes, crop_photo, blobs = keypoint_crops(specs["rootsift"], seed=1,
                                                           cache=work / "keypoint-crops-kp3.npz")  # as in kp3
        print(f"{len(blobs)} crops of {len(photos)} photos ({len(set(scenes))} scenes) described in "
              f"{time.perf_counter() - started:.1f} s", flush=True)
        vectors = synthetic_embeddings(m, seed=0, cache_dir=work / "synthetic")
        dihedral = synthetic_hashes(m, seed=0, cache=work / f"synthetic-dihedral-{m}.npy")
        hashes = np.ascontiguousarray(dihedral[:, :8])
        split = [_sift_of(blob) for blob in blobs]
        pool_sift = np.concatenate([sift for _head, sift in split])
        crops, picks = resampled_rows(blobs, m, seed=2)
        sizes = [p.stat().st_size for p in photos]
        crop_sizes: dict[int, tuple[int, int]] = {}
        synthetic: dict[int, np.ndarray] = {}
        started = time.perf_counter()
        for start in range(0, m, 1000):
            batch = []
            for row in range(start, min(m, start + 1000)):
                crop = int(crops[row])
                photo = int(crop_photo[crop])
                link = links / f"{row:06d}{photos[photo].suffix}"
                os.symlink(photos[photo], link)
                if crop not in crop_sizes:
                    crop_sizes[crop] = specs["rootsift"].features_from_bytes(blobs[crop]).image_size
                width, height = crop_sizes[crop]
                batch.append(FileResult(
                    path=str(link), size=sizes[photo], mtime_ns=0, content_hash=f"synthetic-{row:06d}",
                    width=width, height=height,
                    vectors={"phash": specs["phash"].to_bytes(hashes[row]),
                             "dihedral": specs["dihedral"].to_bytes(dihedral[row]),
                             "embedding": specs["embedding"].to_bytes(vectors[row]),
                             "rootsift": split[crop][0] + pool_sift[picks[row]].tobytes()}))
            index.catalog.commit(batch)
        for record in index.catalog.records(status="ok"):
            if (record.content_hash or "").startswith("synthetic-"):
                synthetic[record.id] = picks[int(record.content_hash.split("-")[1])]
        print(f"{m} synthetic rows written in {time.perf_counter() - started:.1f} s", flush=True)
        n_words, fit_s, words_s = fit_words(index, pool_sift, synthetic)
        print(f"visual words: a tree of {n_words} words fitted in {fit_s:.1f} s; every file's words in "
              f"{words_s:.1f} s", flush=True)
    done.write_text(f"{n}\n")
    return path, bench, real_s


def keypoint_counts(index) -> tuple[float, float]:
    """Mean stored keypoints per synthetic row and per real file, from the BLOB sizes (header + 144 n bytes)."""
    spec = next(s for s in index.descriptors if s.kind == "keypoints")
    synthetic = {r.id for r in index.records(status="ok") if (r.content_hash or "").startswith("synthetic-")}
    rows = index.catalog._db.execute("SELECT file_id, length(vector) FROM descriptors WHERE name = ?",
                                     (spec.name,)).fetchall()
    counts = {int(i): spec.keypoint_count(int(size)) for i, size in rows}
    ours = [c for i, c in counts.items() if i in synthetic]
    real = [c for i, c in counts.items() if i not in synthetic]
    return float(np.mean(ours)) if ours else float("nan"), float(np.mean(real)) if real else float("nan")


def anchor_all_pairs(hashes: np.ndarray, threshold: int) -> tuple[float, int]:
    """All-pairs Hamming distances of packed 64-bit hashes, pairs within ``threshold``; (seconds, pairs found)."""
    words = np.ascontiguousarray(hashes).view(np.uint64).ravel()
    started = time.perf_counter()
    found = 0
    block = 1024
    for start in range(0, words.size, block):
        rows = words[start:start + block]
        distance = np.bitwise_count(rows[:, None] ^ words[None, start:])
        found += int(np.count_nonzero(distance <= threshold)) - rows.size  # minus each row with itself
    return time.perf_counter() - started, found // 2 + 0


# imagededup 0.3.3's package __init__ files import its CNN method and plotter (torchvision, matplotlib),
# not installed in .venv-torch: as in bench_index.py, the packages are registered without running them
# and only imagededup.methods.hashing (its own code, unchanged) is imported.
_IMAGEDEDUP_TIMER = IMAGEDEDUP_SHIM + """
import numpy as np
import logging
logging.disable(logging.INFO)
from imagededup.methods.hashing import PHash
hashes = np.load(sys.argv[1])
phash = PHash(verbose=False)
for n in map(int, sys.argv[2:]):
    encodings = {f"{i:06d}.jpg": bytes(hashes[i]).hex() for i in range(n)}
    started = time.perf_counter()
    found = phash.find_duplicates(encoding_map=encodings, max_distance_threshold=10)
    print(n, time.perf_counter() - started, sum(len(v) for v in found.values()) // 2, flush=True)
"""


def anchor_imagededup(hashes: np.ndarray, sizes: tuple[int, ...], venv: Path) -> list[tuple[int, float, int]]:
    """imagededup's ``PHash.find_duplicates(encoding_map=...)`` (threshold 10) on the first ``sizes`` hashes:
    ``(n, seconds, pairs)`` each; empty when .venv-torch is missing."""
    import subprocess
    import tempfile

    python = venv / "bin" / "python"
    if not python.exists():
        return []
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "h.npy", hashes)
        run = subprocess.run([str(python), "-c", _IMAGEDEDUP_TIMER, str(Path(tmp) / "h.npy"), *map(str, sizes)],
                             capture_output=True, text=True, check=False)
    rows = []
    for line in run.stdout.splitlines():
        n, seconds, pairs = line.split()
        rows.append((int(n), float(seconds), int(pairs)))
    return rows


def evaluate(report, bench: neardup_data.Benchmark) -> tuple[dict[str, list[bool]], int, int, int]:
    """Recall per transform, and (planted members right, planted members reported, synthetic-only groups)."""
    original_of = {os.path.realpath(q.path): os.path.realpath(q.original) for q in bench.queries}
    transform_of = {os.path.realpath(q.path): q.transform for q in bench.queries}
    planted = {os.path.realpath(p) for p in bench.index_dir.iterdir()} | set(original_of)
    group_of: dict[str, int] = {}  # members by their catalogue path: a synthetic row's link is not resolved
    for g, group in enumerate(report.groups):
        for member in group.files:
            group_of[member.path] = g
    recall: dict[str, list[bool]] = {}
    for copy, original in original_of.items():
        recall.setdefault(transform_of[copy], []).append(copy in group_of and group_of.get(original) == group_of[copy])
    right = reported = synthetic_only = 0
    for group in report.groups:
        paths = [m.path for m in group.files]
        if not any(p in planted for p in paths):
            synthetic_only += 1
            continue
        keeper = paths[0]
        source = original_of.get(keeper, keeper)
        for p in paths[1:]:
            reported += 1
            right += original_of.get(p, p) == source
    return recall, right, reported, synthetic_only


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="entries in the index (planted real files included)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--build-only", action="store_true", help="build (or find) the cached index and stop")
    parser.add_argument("--no-anchors", dest="anchors", action="store_false",
                        help="time lookalike only (no all-pairs numpy, no imagededup)")
    args = parser.parse_args()
    import lookalike
    from lookalike.index import Index
    from lookalike.pipelines import find_duplicates

    args.work.mkdir(parents=True, exist_ok=True)
    path, bench, build_s = build(args.work, args.n)
    if args.build_only:
        return
    load = os.getloadavg()
    with Index.open(path) as index:
        n = len(index)
        print(f"index {path}: {n} entries (1,183 real, the rest synthetic); load average {load[0]:.2f}", flush=True)
        kp_synthetic, kp_real = keypoint_counts(index)
        print(f"stored keypoints: {kp_synthetic:.0f} per synthetic row, {kp_real:.0f} per real planted file "
              "(mean)", flush=True)
        find_duplicates(index)  # warm-up: catalogue pages, FAISS, OpenCV
        seconds = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            report = find_duplicates(index)
            seconds.append(time.perf_counter() - started)
            print(f"  find_duplicates: {seconds[-1]:.2f} s (load average {os.getloadavg()[0]:.2f})", flush=True)
        timings: dict[str, float] = {}
        started = time.perf_counter()
        find_duplicates(index, timings=timings)  # the defaults, instrumented
        instrumented = time.perf_counter() - started
        instrumented_load = os.getloadavg()[0]
        _ids, hashes = index.vectors("phash")
    anchor_s, anchor_pairs = anchor_all_pairs(hashes, ANCHOR_THRESHOLD) if args.anchors else (float("nan"), 0)
    dedup = anchor_imagededup(hashes, (2000, 5000, 10000), HERE / ".venv-torch") if args.anchors else []
    end_load = os.getloadavg()
    recall, right, reported, synthetic_only = evaluate(report, bench)
    median = statistics.median(seconds)
    verified = timings.get("verified_pairs", 0.0)
    missing = timings.get("missing_pairs", 0.0)
    per_pair = timings.get("verify_s", 0.0) / max(1.0, verified)

    print(f"\nmachine: {platform.platform()}, {os.cpu_count()} CPUs, load average {load[0]:.2f} at the start, "
          f"{end_load[0]:.2f} at the end; Python {platform.python_version()}, numpy {np.__version__}, "
          f"lookalike {lookalike.__version__}")
    print(f"index: {n} entries; real part indexed in {build_s:.1f} s (nan: cached); stored keypoints (mean) "
          f"{kp_synthetic:.0f} per synthetic row, {kp_real:.0f} per real planted file\n")
    print("| side | median s | runs | anchor / lookalike |")
    print("|---|---:|---|---:|")
    print(f"| lookalike find_duplicates(index), defaults | {median:.2f} | "
          f"{', '.join(f'{s:.2f}' for s in seconds)} | 1.00x |")
    print(f"| all-pairs pHash, numpy, <= {ANCHOR_THRESHOLD} bits ({anchor_pairs} pairs) | {anchor_s:.2f} | 1 | "
          f"{anchor_s / median:.2f}x |")
    for size, seconds_n, pairs_n in dedup:
        print(f"| imagededup PHash.find_duplicates(encoding_map), first {size} hashes ({pairs_n} pairs) | "
              f"{seconds_n:.2f} | 1 | - |")
    if dedup:
        size, seconds_n, _pairs = dedup[-1]
        projected_s = seconds_n * (n / size) ** 2
        print(f"| imagededup at {n}, extrapolated as n^2 from {size} | {projected_s:.0f} | - | "
              f"{projected_s / median:.0f}x |")
    stages = ("load", "exact", "candidates", "scoring", "verification", "grouping")
    print(f"\nstages of one instrumented call ({instrumented:.2f} s, load average {instrumented_load:.2f}): "
          + ", ".join(f"{k} {timings.get(k, 0.0):.2f} s" for k in stages))
    print(f"candidate pairs {int(timings.get('candidate_pairs', 0))}, accepted on global evidence "
          f"{int(timings.get('accepted_pairs', 0))}, verified {int(verified)} "
          f"(of which a file could not be read or had no keypoints: {int(missing)}; must be 0), verification "
          f"wall time {timings.get('verify_s', 0):.2f} s ({1000 * per_pair:.1f} ms per pair)")
    print("\n| transform | copies | in their original's group |")
    print("|---|---:|---:|")
    total = []
    for transform in neardup_data.TRANSFORMS:
        found = recall.get(transform, [])
        total += found
        print(f"| {transform} | {len(found)} | {np.mean(found):.3f} |")
    print(f"| all | {len(total)} | {np.mean(total):.3f} |")
    print(f"\nplanted files reported as duplicates: {reported}, grouped with their own original: {right} "
          f"(precision {right / max(1, reported):.3f}); groups of synthetic entries only: {synthetic_only}")


if __name__ == "__main__":
    main()
