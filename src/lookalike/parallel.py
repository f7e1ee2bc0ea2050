"""Parallel work: one executor factory for every job that spreads work over processes.

Every parallel job (indexing, the matrix, drawing its pairs) takes
``jobs``: a number of worker processes, or a :class:`concurrent.futures.Executor`
the caller made (a Ray, Dask or loky executor: anything with ``submit`` and
``shutdown``). Numbers become a local process pool made here, by
:func:`process_pool`, whose workers never fork a parent that may run threads:
the "forkserver" start method where the platform has it, with the modules the
job names preloaded once, so every worker is a cheap fork of the server;
elsewhere workers are spawned.

An executor the caller passes is used as it is and never shut down here. Its
workers are not initialised by lookalike: work submitted to it carries what it
needs. Pipelines never test which kind of executor they got.

>>> from lookalike.parallel import available_cpus, check_jobs
>>> check_jobs(2)
2
>>> check_jobs(None) == available_cpus()
True
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import Any

from lookalike.errors import ParameterError

__all__ = ["Jobs", "available_cpus", "check_jobs", "process_pool", "single_threaded_opencv", "worker_count"]

#: What ``jobs=`` accepts everywhere: worker processes (``None``: every available CPU) or an executor.
Jobs = int | Executor | None

# What lookalike has asked the fork server to preload so far in this process (the default is __main__).
_preloaded: list[str] = ["__main__"]


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the platform has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def check_jobs(jobs: Jobs, *, default: int | None = None) -> int | Executor:
    """``jobs`` checked: a positive number of processes, an executor as it is; ``None`` is ``default``
    (every available CPU when ``default`` is ``None`` too).

    Raises
    ------
    ParameterError
        ``jobs`` is neither a positive integer, ``None`` nor an executor.
    """
    if isinstance(jobs, Executor):
        return jobs
    if jobs is None:
        return available_cpus() if default is None else default
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ParameterError(
            f"jobs must be a positive integer, None for every CPU, or a concurrent.futures.Executor; got {jobs!r}")
    return jobs


def single_threaded_opencv() -> None:
    """One OpenCV thread in this (worker) process: the processes already fill the CPUs. A pool initializer."""
    import cv2

    cv2.setNumThreads(1)


def worker_count(jobs: int | Executor, tasks: int) -> int:
    """How many workers ``tasks`` pieces of work keep busy: at most ``jobs`` (an executor: as many as tasks, or
    at most its ``workers`` where it says how many it has, as :class:`lookalike.engines.RayExecutor` does)."""
    if isinstance(jobs, Executor):
        known = getattr(jobs, "workers", None)
        limit = min(known, tasks) if isinstance(known, int) and known > 0 else tasks
    else:
        limit = min(jobs, tasks)
    return max(1, limit)


@contextmanager
def process_pool(
    jobs: int | Executor, *, initializer: Callable[..., None] | None = None, initargs: tuple[Any, ...] = (),
    preload: Iterable[str] = (),
) -> Iterator[Executor]:
    """An executor for ``jobs``: a local process pool of ``jobs`` workers, or the caller's executor as it is.

    A pool made here is shut down on leaving; on an error or Ctrl-C its queued
    work is cancelled instead of finished. ``initializer(*initargs)`` runs in
    each worker of a pool made here (never in a caller's executor). ``preload``
    names modules the fork server imports once (it takes effect when this
    process starts its fork server, and extends what was asked before).
    """
    if isinstance(jobs, Executor):
        yield jobs
        return
    executor = _local_pool(jobs, initializer, initargs, tuple(preload))
    try:
        yield executor
    except BaseException:
        executor.shutdown(wait=False, cancel_futures=True)
        raise
    executor.shutdown(wait=True)


def _local_pool(workers: int, initializer: Callable[..., None] | None, initargs: tuple[Any, ...],
                preload: tuple[str, ...]) -> Executor:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if "forkserver" in multiprocessing.get_all_start_methods():
        context: Any = multiprocessing.get_context("forkserver")
        wanted = [m for m in preload if m not in _preloaded]
        if wanted:
            _preloaded.extend(wanted)
            context.set_forkserver_preload(list(_preloaded))
    else:  # pragma: no cover - Windows
        context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_start_worker,
                               initargs=(os.getpid(), initializer, initargs))


def _start_worker(parent: int, initializer: Callable[..., None] | None, initargs: tuple[Any, ...]) -> None:
    """Every worker of a pool made here: it dies with the process that made the pool, then runs ``initializer``.

    A pool's workers block on a queue whose other end they hold themselves, so
    they would outlive a killed parent (with the fork server and the resource
    tracker, which wait for them). Two guards: the kernel kills the worker when
    the process that forked it (the fork server) dies (Linux ``PR_SET_PDEATHSIG``),
    and a thread waits for the pool's owner to end (a pidfd where the kernel has
    them, else a check every half second) and then ends the worker.
    """
    _die_with_forker()
    import threading

    threading.Thread(target=_exit_when_gone, args=(parent,), name="lookalike-parent-watch", daemon=True).start()
    if initializer is not None:
        initializer(*initargs)


def _die_with_forker() -> None:
    """``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills this process when the one that forked it dies."""
    import sys

    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - no prctl: the watching thread still guards
        pass


def _exit_when_gone(parent: int) -> None:
    """Wait until process ``parent`` ends, then end this worker at once (no clean-up: its work is lost anyway)."""
    import time

    try:
        import select

        fd = os.pidfd_open(parent)
    except (AttributeError, OSError):  # no pidfd (old kernel, not Linux): poll
        while True:
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:  # pragma: no cover - alive, another user's (cannot happen for our parent)
                pass
            time.sleep(0.5)
    select.select([fd], [], [])  # readable once the process has ended
    os._exit(1)
