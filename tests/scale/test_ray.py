"""The Ray engine: a build on Ray tasks equals a local build row for row, also when a worker is SIGKILLed
mid-build; reruns skip committed work; every Ray listener is on 127.0.0.1; nothing is written under HOME."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from lookalike.index import Index, build_index
from tests.index.conftest import PHOTOS, make_crops, photo
from tests.scale.conftest import descendants, listening_sockets

ROOT = Path(__file__).resolve().parents[2]
VARIANTS = 4  # crops per photo: 32 distinct images, 8 Ray tasks of 4


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ray-photos")
    make_crops(folder, VARIANTS, longest=200, step=6)
    return folder


def _rows(index: Index) -> dict[str, tuple[Any, ...]]:
    """Every catalogue row by path (ids and indexing times left out: they depend on commit order and clock)."""
    rows = {}
    for record in index.records():
        rows[record.path] = (record.size, record.mtime_ns, record.content_hash, record.width, record.height,
                             record.status, record.error)
    assert len(rows) == len(index.records()), "a path is in the catalogue twice"
    return rows


def _vectors(index: Index, name: str) -> dict[str, np.ndarray]:
    ids, vectors = index.vectors(name)
    paths = index.paths(ids)
    assert len(set(paths)) == len(paths) == len(index)
    return {str(p): v for p, v in zip(paths, vectors, strict=True)}


def _kill_after(marker: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Fault injection: do the batch's work, then, on the first attempt only, SIGKILL this worker before it
    returns (the result is lost with the process, the worst moment); a retry returns normally."""
    result = fn(*args, **kwargs)
    attempts = Path(marker)
    attempts.mkdir(exist_ok=True)
    attempt = len(os.listdir(attempts))
    (attempts / f"attempt-{attempt}-pid-{os.getpid()}").touch()
    if attempt == 0:
        os.kill(os.getpid(), signal.SIGKILL)
    return result


class _KillOneBatch(Executor):
    """Delegates to the Ray engine; the ``victim``-th batch submitted has its worker SIGKILLed once."""

    def __init__(self, engine: Any, marker: Path, victim: int) -> None:
        self.engine, self.marker, self.victim, self.submitted = engine, marker, victim, 0
        self.workers = engine.workers

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        n, self.submitted = self.submitted, self.submitted + 1
        if n == self.victim:
            return self.engine.submit(_kill_after, str(self.marker), fn, *args, **kwargs)
        return self.engine.submit(fn, *args, **kwargs)


def test_a_killed_worker_costs_a_retry_not_an_image(ray_engine: Any, folder: Path, tmp_path: Path) -> None:
    descriptors = ["phash", "dhash"]
    local, _ = build_index(folder, tmp_path / "local", descriptors=descriptors, jobs=1)
    marker = tmp_path / "attempts"
    engine = _KillOneBatch(ray_engine, marker, victim=2)
    remote, report = build_index(folder, tmp_path / "ray", descriptors=descriptors, jobs=engine)
    with local, remote:
        assert engine.submitted >= 3
        attempts = sorted(os.listdir(marker))
        assert len(attempts) == 2, attempts  # killed once, retried once
        assert attempts[0].split("-pid-")[1] != attempts[1].split("-pid-")[1], "the retry ran in a new process"
        assert report.added == len(PHOTOS) * VARIANTS and not report.errors
        assert _rows(remote) == _rows(local)
        for name in descriptors:
            ours, theirs = _vectors(remote, name), _vectors(local, name)
            assert ours.keys() == theirs.keys()
            assert all(np.array_equal(ours[p], theirs[p]) for p in ours)
        query = local.vectors("phash")[1][:5]
        assert np.array_equal(remote.search_vectors(query, 3, descriptor="phash")[0],
                              local.search_vectors(query, 3, descriptor="phash")[0])


class _Recording(Executor):
    """Delegates to the Ray engine and keeps the keyword arguments of every call submitted."""

    def __init__(self, engine: Any) -> None:
        self.engine, self.calls = engine, []
        self.workers, self.threads_per_task = engine.workers, engine.threads_per_task

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.calls.append(kwargs)
        return self.engine.submit(fn, *args, **kwargs)


def test_each_ray_task_gets_its_share_of_threads(ray_engine: Any, folder: Path, tmp_path: Path) -> None:
    images = tmp_path / "few"
    images.mkdir()
    for path in sorted(folder.glob("*-1.jpg"))[:4]:
        shutil.copy(path, images)
    engine = _Recording(ray_engine)
    index, report = build_index(images, tmp_path / "idx", descriptors=["phash", "rootsift"], jobs=engine)
    index.close()
    assert report.added == 4 and engine.calls
    assert all(call["threads"] == 1 for call in engine.calls)  # not onnxruntime's and OpenCV's every-core default


def test_a_rerun_on_ray_skips_committed_work(ray_engine: Any, folder: Path, tmp_path: Path) -> None:
    images = tmp_path / "images"
    shutil.copytree(folder, images)
    index, first = build_index(images, tmp_path / "idx", descriptors=["phash"], jobs=ray_engine)
    with index:
        assert first.added == len(PHOTOS) * VARIANTS
        (images / f"{PHOTOS[0]}-0.jpg").unlink()
        Image.fromarray(photo("camera", longest=90)).save(images / "new.png")
        again = index.update(images, jobs=ray_engine)
        assert (again.added, again.removed, again.processed, again.unchanged) == (1, 1, 1, first.added - 1)
        assert len(index) == first.added


def test_every_ray_listener_is_on_loopback(ray_engine: Any) -> None:
    sockets = listening_sockets(descendants(os.getpid()))
    assert len(sockets) >= 2, f"found no Ray listeners among this test's processes: {sockets}"
    outside = [s for s in sockets if not _loopback(s[1])]
    assert not outside, f"Ray listens beyond this machine: {outside}"


def test_an_unreachable_cluster_is_a_clear_error_at_once(ray_engine: Any) -> None:
    from lookalike.engines import RayExecutor, make_engine
    from lookalike.errors import ParameterError, ServiceError

    started = time.perf_counter()
    with pytest.raises(ServiceError, match=r"cannot reach the Ray cluster at '127.0.0.1:9'"):
        RayExecutor("127.0.0.1:9")  # nothing listens on the discard port; Ray alone retries for minutes
    assert time.perf_counter() - started < 10
    with pytest.raises(ParameterError, match="already initialised"):
        RayExecutor("auto")
    with pytest.raises(ParameterError, match="--ray-address needs --engine ray"):
        make_engine("local", address="127.0.0.1:6379")


def _loopback(address: str) -> bool:
    import ipaddress

    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1, as a dual-stack socket shows 127.0.0.1
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def test_a_ray_build_from_the_cli_writes_nothing_under_home(folder: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'lookalike[scale]'")
    home = tmp_path / "home"
    home.mkdir()
    with tempfile.TemporaryDirectory(prefix="lkh-") as temp:
        env = {**os.environ, "HOME": str(home), "TMPDIR": temp, "PYTHONPATH": str(ROOT / "src")}
        for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_ADDRESS"):
            env.pop(name, None)
        done = subprocess.run(
            [sys.executable, "-m", "lookalike.cli", "index", "build", str(folder), "--index", str(tmp_path / "idx"),
             "-d", "phash", "--engine", "ray", "--jobs", "2"],
            env=env, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        assert f"{len(PHOTOS) * VARIANTS} added" in done.stdout
        assert any(Path(temp).glob("lookalike-ray-*/session_*")), "Ray's session files are not in $TMPDIR"
    written = sorted(str(p.relative_to(home)) for p in home.rglob("*"))
    assert not written, f"written under HOME: {written}"


def test_the_matrix_on_ray_equals_the_local_matrix(ray_engine: Any, folder: Path, tmp_path: Path) -> None:
    from lookalike.pipelines import similarity_matrix
    from tests.integration.runner import run_cli

    images = tmp_path / "few"
    images.mkdir()
    for path in sorted(folder.glob("*-0.jpg"))[:5]:
        shutil.copy(path, images)
    local = similarity_matrix(images, metric="ssim", jobs=1)
    remote = similarity_matrix(images, metric="ssim", jobs=ray_engine)
    assert local.paths == remote.paths and len(local.paths) == 5
    np.testing.assert_array_equal(remote.values, local.values)
    code, out, err = run_cli("matrix", str(images), "--metric", "ssim", "--engine", "ray", "--out",
                             str(tmp_path / "out"), "--json")
    assert code == 0, err
    assert np.allclose(np.array(json.loads(out)["values"], dtype=float), local.values)


def test_duplicates_and_classification_on_ray_equal_the_local_runs(ray_engine: Any, folder: Path,
                                                                   tmp_path: Path) -> None:
    """The other parallel jobs take the same executor: duplicates (indexing and keypoint verification) and
    classification's embedding give on Ray exactly what they give in this process."""
    from lookalike.pipelines import evaluate, find_duplicates, load_labelled
    from tests.integration.runner import run_cli

    photos = sorted({p.name.rsplit("-", 1)[0] for p in folder.glob("*.jpg")})[:3]
    images = tmp_path / "dups"
    images.mkdir()
    for name in photos:
        for path in sorted(folder.glob(f"{name}-*.jpg")):
            shutil.copy(path, images)
    local = find_duplicates(images, jobs=1)
    remote = find_duplicates(images, jobs=ray_engine)
    assert local.files == remote.files == 3 * VARIANTS
    assert [g.to_dict() for g in remote.groups] == [g.to_dict() for g in local.groups]
    assert len(local.groups) == 3  # each photo's overlapping crops are one group
    code, out, err = run_cli("duplicates", str(images), "--engine", "ray", "--json")
    assert code == 0, err
    assert json.loads(out)["groups"] == [g.to_dict() for g in local.groups]

    labelled_root = tmp_path / "labelled"
    for name in photos:
        (labelled_root / name).mkdir(parents=True)
        for path in sorted(folder.glob(f"{name}-*.jpg")):
            shutil.copy(path, labelled_root / name)
    labelled = load_labelled(labelled_root)
    here = evaluate(labelled, cv=2, cache_dir=str(tmp_path / "cache-local"), jobs=1)
    there = evaluate(labelled, cv=2, cache_dir=str(tmp_path / "cache-ray"), jobs=ray_engine)
    here_dict, there_dict = here.to_dict(), there.to_dict()
    here_dict.pop("seconds"), there_dict.pop("seconds")  # wall time, the one field that may differ
    assert there_dict == here_dict and here_dict["accuracy"] == 1.0
    code, out, err = run_cli("evaluate", "--train", str(labelled_root), "--cv", "2", "--engine", "ray",
                             "--cache-dir", str(tmp_path / "cache-cli"), "--json")
    assert code == 0, err
    assert json.loads(out)["accuracy"] == here_dict["accuracy"]
