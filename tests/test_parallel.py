"""jobs= takes a number of processes or any concurrent.futures.Executor, and the answers do not depend on it."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from PIL import Image

from lookalike.errors import ParameterError
from lookalike.parallel import available_cpus, check_jobs, process_pool, worker_count
from tests.index.conftest import make_photos, photo


@pytest.fixture(scope="module")
def executor() -> Iterator[Executor]:
    """A caller's executor lookalike did not make: plain processes, no initializer, no preloads."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        yield pool


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5 photos, a crop and a mirror of one (duplicates that only verification finds, and a mirrored one)."""
    folder = tmp_path_factory.mktemp("photos")
    make_photos(folder, ("astronaut", "camera", "chelsea", "coffee", "rocket"))
    pixels = photo("chelsea", longest=384)
    Image.fromarray(np.ascontiguousarray(pixels[40:300, 60:330])).save(folder / "chelsea-crop.jpg", quality=90)
    Image.fromarray(np.ascontiguousarray(pixels[:, ::-1])).save(folder / "chelsea-mirror.jpg", quality=90)
    return folder


def test_check_jobs() -> None:
    assert check_jobs(3) == 3 and check_jobs(None) == available_cpus() and check_jobs(None, default=1) == 1
    with ProcessPoolExecutor(max_workers=1) as pool:
        assert check_jobs(pool) is pool and worker_count(pool, 7) == 7
    assert worker_count(4, 2) == 2 and worker_count(4, 0) == 1
    for bad in (0, -1, True, 1.5, "2"):
        with pytest.raises(ParameterError, match="jobs must be a positive integer"):
            check_jobs(bad)  # type: ignore[arg-type]


def test_process_pool_leaves_a_callers_executor_running(executor: Executor) -> None:
    with process_pool(executor) as pool:
        assert pool is executor
    assert executor.submit(abs, -2).result() == 2  # not shut down
    with process_pool(1) as own:
        assert own.submit(abs, -3).result() == 3


def test_the_matrix_is_the_same_on_a_callers_executor(folder: Path, executor: Executor) -> None:
    from lookalike.pipelines import similarity_matrix

    here = similarity_matrix(folder, jobs=1)
    there = similarity_matrix(folder, jobs=executor)
    np.testing.assert_array_equal(here.values, there.values)
    assert [(p.a, p.b, p.value, p.inliers) for p in here.pairs] == [(p.a, p.b, p.value, p.inliers) for p in there.pairs]


T = TypeVar("T")


class _Counting(Executor):
    """A caller's executor that runs each call in this process and counts them."""

    def __init__(self) -> None:
        self.calls = 0

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        self.calls += 1
        future: Future[T] = Future()
        future.set_result(fn(*args, **kwargs))
        return future


def test_the_matrix_runs_on_the_callers_executor_not_a_local_pool(folder: Path) -> None:
    """similarity_matrix passed worker_count(executor, n), a number, to process_pool: a local pool of that
    many processes did the work (for a Ray cluster, as many local processes as the cluster has CPUs)."""
    from lookalike.pipelines import similarity_matrix

    counting = _Counting()
    result = similarity_matrix(folder, jobs=counting)
    files, pairs = len(result.labels), len(result.pairs)
    assert files == 7 and counting.calls >= files + 1  # one call a file, then the pair chunks
    np.testing.assert_array_equal(result.values, similarity_matrix(folder, jobs=1).values)
    assert pairs == 21


def test_indexing_and_duplicates_are_the_same_on_a_callers_executor(
    folder: Path, tmp_path: Path, executor: Executor
) -> None:
    from lookalike.index import Index
    from lookalike.pipelines import find_duplicates

    pytest.importorskip("onnxruntime")
    from lookalike.errors import MissingDependencyError
    from lookalike.features import weights_path

    try:
        weights_path()
    except MissingDependencyError as exc:  # the verification gate needs the embedding's cosine
        pytest.skip(str(exc))
    with Index.create(tmp_path / "here") as here, Index.create(tmp_path / "there") as there:
        assert here.update(folder, jobs=1).added == there.update(folder, jobs=executor).added == 7
        for name in ("phash", "embedding", "rootsift"):
            ids_a, blobs_a = here.catalog.vectors(name)
            ids_b, blobs_b = there.catalog.vectors(name)
            assert np.array_equal(ids_a, ids_b) and blobs_a == blobs_b  # the same bytes, from the caller's processes
        local = find_duplicates(here, max_verify=None)
        remote = find_duplicates(there, max_verify=None, jobs=executor)  # verification in those processes

        def groups(report):
            return [(Path(g.keeper.path).name, [(Path(m.path).name, m.similarity) for m in g.members])
                    for g in report.groups]

        assert groups(local) == groups(remote)
        # the crop and the mirror are joined to the photo (through keypoints: no hash is within reach)
        assert [{keeper, *(name for name, _s in members)} for keeper, members in groups(local)] == [
            {"chelsea.jpg", "chelsea-crop.jpg", "chelsea-mirror.jpg"}]
