"""Kill tests: a build or an update SIGKILLed at a random point leaves an index that opens, answers
queries, and completes on the next update without reading the committed files again."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.errors import IndexFormatError
from lookalike.index import Index
from tests.index.conftest import PHOTOS, make_crops, photo

pytest.importorskip("faiss")

ROOT = Path(__file__).resolve().parents[2]
VARIANTS = 5  # crops per photo: 40 distinct images

# The child commits every 2 files (instead of 16) so that there are many points to be killed between.
CHILD = textwrap.dedent("""
    import sys
    from lookalike.index import _ingest as _indexing
    _indexing._CHUNK_HASH = 2
    action, folder, index, jobs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    descriptors = sys.argv[5].split(",")
    if action == "build":
        built, report = _indexing.build_index(folder, index, descriptors=descriptors, jobs=jobs)
        built.close()
    else:
        from lookalike.index import Index
        with Index.open(index) as opened:
            opened.update(folder, jobs=jobs)
""")


@pytest.fixture(scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("kill-template")
    make_crops(folder, VARIANTS, longest=320, step=8)
    return folder


@pytest.fixture
def folder(tmp_path: Path, _template: Path) -> Path:
    import shutil

    return Path(shutil.copytree(_template, tmp_path / "images"))


def start(action: str, folder: Path, index: Path, jobs: int = 1,
          descriptors: tuple[str, ...] = ("phash",)) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, action, str(folder), str(index), str(jobs), ",".join(descriptors)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )


def committed(index: Path, since: float = 0.0) -> int:
    """Files committed so far (read while the child writes: WAL readers do not block it)."""
    try:
        db = sqlite3.connect(f"file:{index / 'catalog.sqlite'}?mode=ro", uri=True, timeout=5)
        try:
            return int(db.execute("SELECT COUNT(*) FROM files WHERE indexed_at > ?", (since,)).fetchone()[0])
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def kill_when(proc: subprocess.Popen[bytes], *, index: Path, files: int | None = None, after: float | None = None,
              since: float = 0.0, limit: float = 120.0) -> bool:
    """SIGKILL the child's process group once ``files`` are committed or ``after`` seconds passed.

    Returns True when it was killed, False when it finished first.
    """
    try:
        return _kill_when(proc, index=index, files=files, after=after, since=since, limit=limit)
    finally:
        if proc.stderr is not None:
            proc.stderr.close()


def _kill_when(proc: subprocess.Popen[bytes], *, index: Path, files: int | None, after: float | None,
               since: float, limit: float) -> bool:
    started = time.monotonic()
    while proc.poll() is None:
        elapsed = time.monotonic() - started
        if (after is not None and elapsed >= after) or (files is not None and committed(index, since) >= files):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        if elapsed > limit:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            pytest.fail("the indexing child ran for too long")
        time.sleep(0.005)
    assert proc.returncode == 0, proc.stderr.read().decode() if proc.stderr else proc.returncode
    return False


def check_usable(index_path: Path) -> int:
    """The interrupted index opens and answers a query; returns its number of files."""
    with Index.open(index_path) as index:
        n = len(index)
        query = np.zeros((1, 8), np.uint8)
        distances, ids = index.search_vectors(query, 100)
        found = ids[0][ids[0] >= 0]
        assert found.size == n  # every committed file is searchable, nothing else
        assert all(p is not None for p in index.paths(found))
        assert (np.diff(distances[0][: found.size]) >= 0).all()
        return n


def finish_and_check(folder: Path, index_path: Path, total: int, descriptors: tuple[str, ...] = ("phash",)) -> None:
    """The next update reads only what was not committed, and the result equals a clean build."""
    with Index.open(index_path) as index:
        if "rootsift" in descriptors:  # committed with each file's row: an interrupted build has both or neither
            ok = [r.id for r in index.records(status="ok")]
            assert sorted(index.local_features(ok)) == sorted(ok)
        done = sum(1 for r in index.records(status="ok") if _current(r.path, r.size, r.mtime_ns))
        report = index.update(folder, jobs=1)
        assert report.processed == total - done, (report, done)
        assert report.unchanged == done and report.errors == ()
        assert len(index) == total
        ids, codes = index.vectors("phash")
        got = dict(zip(index.paths(ids), map(bytes, codes), strict=True))
        keypoints = _keypoint_blobs(index) if "rootsift" in descriptors else None
    clean_path = index_path.parent / "clean"
    with Index.create(clean_path, descriptors=descriptors) as clean:
        clean.update(folder, jobs=1)
        ids, codes = clean.vectors("phash")
        assert dict(zip(clean.paths(ids), map(bytes, codes), strict=True)) == got
        if keypoints is not None:
            assert _keypoint_blobs(clean) == keypoints


def _keypoint_blobs(index: Index) -> dict[str | None, bytes]:
    ids, blobs = index.catalog.vectors("rootsift")
    return dict(zip(index.paths(ids), blobs, strict=True))


def _current(path: str, size: int | None, mtime_ns: int | None) -> bool:
    """The file is on disk as it was indexed."""
    try:
        info = os.stat(path)
    except OSError:
        return False
    return (info.st_size, info.st_mtime_ns) == (size, mtime_ns)


@pytest.mark.parametrize(("seed", "descriptors"), [(1, ("phash",)), (2, ("phash",)), (3, ("phash", "rootsift"))])
def test_a_build_killed_after_some_commits_resumes(
    folder: Path, tmp_path: Path, seed: int, descriptors: tuple[str, ...]
) -> None:
    total = len(PHOTOS) * VARIANTS
    target = random.Random(seed).randrange(2, total - 4)
    index_path = tmp_path / "idx"
    assert kill_when(start("build", folder, index_path, descriptors=descriptors), index=index_path, files=target)
    assert target <= check_usable(index_path) < total
    finish_and_check(folder, index_path, total, descriptors)


@pytest.mark.parametrize("seed", [4, 5])
def test_a_build_killed_at_a_random_time_resumes(folder: Path, tmp_path: Path, seed: int) -> None:
    total = len(PHOTOS) * VARIANTS
    index_path = tmp_path / "idx"
    # anywhere from interpreter start-up (nothing written yet) to the end of the build
    after = random.Random(seed).uniform(0.0, 3.0)
    killed = kill_when(start("build", folder, index_path), index=index_path, after=after)
    if killed and not (index_path / "manifest.json").exists():
        with pytest.raises(IndexFormatError):
            Index.open(index_path)  # killed before the index existed: not an index yet, a clear error
        from lookalike.index import build_index

        index, report = build_index(folder, index_path, descriptors=["phash"], jobs=1)  # creation completes
        index.close()
        assert report.added == total
        return
    check_usable(index_path)
    finish_and_check(folder, index_path, total)


@pytest.mark.parametrize("seed", [6])
def test_an_update_killed_midway_resumes(folder: Path, tmp_path: Path, seed: int) -> None:
    index_path = tmp_path / "idx"
    with Index.create(index_path, descriptors=["phash"]) as index:
        index.update(folder, jobs=1)
    # new files, changed files and deleted files
    rng = random.Random(seed)
    for name in PHOTOS[:4]:
        pixels = photo(name, longest=200)
        for k in range(4):
            Image.fromarray(np.ascontiguousarray(np.rot90(pixels, k))).save(folder / f"new-{name}-{k}.jpg")
    for path in sorted(folder.glob("*-1.jpg"))[:3]:
        path.unlink()
    for path in sorted(folder.glob("*-2.jpg"))[:3]:
        Image.open(path).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(path)
        info = path.stat()
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))
    total = len(list(folder.iterdir()))
    since = time.time()
    target = rng.randrange(2, 16)
    assert kill_when(start("update", folder, index_path), index=index_path, files=target, since=since)
    check_usable(index_path)
    finish_and_check(folder, index_path, total)


def test_a_parallel_build_killed_midway_resumes(folder: Path, tmp_path: Path) -> None:
    total = len(PHOTOS) * VARIANTS
    index_path = tmp_path / "idx"
    assert kill_when(start("build", folder, index_path, jobs=2), index=index_path, files=total // 2)
    assert total // 2 <= check_usable(index_path) < total
    finish_and_check(folder, index_path, total)


# -- nothing left behind (issue 11 item 10) ---------------------------------------------------------

def _session_processes(sid: int) -> list[str]:
    """``pid command`` of every live process of session ``sid`` (zombies excluded)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == sid and fields[0] != "Z":  # fields: state, ppid, pgrp, session
            found.append(f"{entry} {cmdline.strip()[:120]}")
    return found


def _cli_build(folder: Path, index: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen(
        [sys.executable, "-m", "lookalike.cli", "index", "build", str(folder), "--index", str(index), "-j", "2",
         "-d", "phash", "-d", "rootsift"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )


def _wait_for_workers(proc: subprocess.Popen[bytes], index: Path) -> None:
    """Until the pool's workers have committed a few files (so the fork server, tracker and workers all run)."""
    deadline = time.monotonic() + 120
    while committed(index) < 4:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else proc.returncode
        assert time.monotonic() < deadline, "the build committed nothing in 120 s"
        time.sleep(0.02)
    assert len(_session_processes(proc.pid)) >= 3  # the command, its fork server / tracker, workers


def _gone(sid: int, seconds: float) -> list[str]:
    deadline = time.monotonic() + seconds
    while (left := _session_processes(sid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.fixture
def many(tmp_path: Path, _template: Path) -> Path:
    """The 40 crops four times over (160 files): a build that runs for a while on two workers."""
    import shutil

    folder = tmp_path / "many"
    for copy in range(4):
        shutil.copytree(_template, folder / str(copy))
    return folder


def test_killing_the_command_alone_takes_its_workers_with_it(many: Path, tmp_path: Path) -> None:
    proc = _cli_build(many, tmp_path / "idx")
    try:
        _wait_for_workers(proc, tmp_path / "idx")
        os.kill(proc.pid, signal.SIGKILL)  # the command only, as `kill -9 PID` does: not its process group
        proc.wait()
        left = _gone(proc.pid, 15)
        assert left == [], f"still running 15 s after the command was killed: {left}"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if proc.stderr is not None:
            proc.stderr.close()


def test_sigterm_stops_cleanly_without_a_leaked_semaphore_warning(many: Path, tmp_path: Path) -> None:
    proc = _cli_build(many, tmp_path / "idx")
    try:
        _wait_for_workers(proc, tmp_path / "idx")
        os.kill(proc.pid, signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
        left = _gone(proc.pid, 15)
        text = err.decode()
        assert "leaked" not in text and "Traceback" not in text, text
        assert proc.returncode == 128 + signal.SIGTERM and text.endswith("lookalike: terminated\n"), text
        assert left == []
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
