"""Execution engines beyond local processes: a :class:`concurrent.futures.Executor` over Ray tasks.

Every parallel job of lookalike takes ``jobs=``: a number of local worker
processes or an executor (:mod:`lookalike.parallel`). :class:`RayExecutor` is
such an executor, so indexing, the matrix and the other jobs run on a Ray
cluster unchanged: the driver lists the files and commits the results, the
workers read, decode and describe them. Pipelines never know which executor
they got.

What a data engineer can rely on:

- **Retries, not losses.** Each submitted call is one Ray task with
  ``max_retries`` (default 3): a worker process that dies (SIGKILL, OOM
  killer, lost node) has its task run again elsewhere; the driver receives
  exactly one result per call. Exceptions raised by the work itself are not
  retried (they are the work's answer, for instance an unreadable file).
- **No hidden state on the workers.** A call carries everything it needs;
  a worker may cache what is costly to build (the embedding network) but the
  result never depends on which worker ran it.
- **Nothing written under the home folder, nothing listening beyond the
  machine.** A Ray started here (no ``address``) binds every listener to
  127.0.0.1, keeps its session files in ``temp_dir`` (default
  :func:`default_temp_dir`, ``$TMPDIR/lookalike-ray-<uid>``), starts no
  dashboard and sends no usage statistics (``RAY_USAGE_STATS_ENABLED=0``),
  and does not create ``~/.ray/auth_token`` (``RAY_AUTH_MODE=disabled``
  unless the caller set ``RAY_AUTH_MODE`` or ``RAY_AUTH_TOKEN``). Joining a
  cluster (``address="ray://..."``, ``"HOST:PORT"`` or ``"auto"``) uses the
  cluster's own settings.
- **Clear errors.** Ray missing: :class:`~lookalike.errors.MissingDependencyError`
  with the extra to install; a cluster that cannot be reached:
  :class:`~lookalike.errors.ServiceError` naming the address.

Ray sets ``OMP_NUM_THREADS=1`` in its workers: one task uses one CPU, and a
machine runs as many tasks at once as it has CPUs. The executor says so
(``threads_per_task``), and indexing gives each task's onnxruntime and OpenCV
that many threads, so a 64-core node runs 64 one-thread tasks, not 64 tasks of
32 threads each. The cluster's workers need lookalike installed (the same
version as the driver), in their image or through ``runtime_env``.

Examples
--------
>>> from lookalike.engines import RayExecutor
>>> from lookalike.index import build_index
>>> with RayExecutor(num_cpus=2) as engine:  # doctest: +SKIP
...     index, report = build_index("photos", jobs=engine)
"""

from __future__ import annotations

import functools
import os
import socket
import sys
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

from lookalike.errors import MissingDependencyError, ParameterError, ServiceError

__all__ = ["ENGINES", "RayExecutor", "default_temp_dir", "make_engine"]

#: The engine names ``--engine`` takes.
ENGINES: tuple[str, ...] = ("local", "ray")

_PROBE_SECONDS = 10.0
_INSTALL_HINT = "install the scale extra: pip install 'lookalike[scale]'"


def default_temp_dir() -> str:
    """Where a Ray started by lookalike keeps its session files: ``$TMPDIR/lookalike-ray-<uid>``.

    Short on purpose: Ray's unix sockets live under it and a socket path is
    limited to 107 bytes.
    """
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return os.path.join(tempfile.gettempdir(), f"lookalike-ray-{uid}")


def _import_ray(local: bool) -> Any:
    if local:  # read by Ray when it is imported and inherited by the processes it starts
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # node address and every listener on 127.0.0.1
        if "RAY_AUTH_TOKEN" not in os.environ:
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # else Ray writes ~/.ray/auth_token
    try:
        import ray
    except ImportError:
        raise MissingDependencyError(f"the ray engine needs Ray; {_INSTALL_HINT}") from None
    if local:
        # Ray reads the variable once, when imported: a process that imported Ray before us gets the same
        # loopback-only node through the constant it was read into (tests/scale checks every listener).
        constants: Any = sys.modules.get("ray._private.ray_constants")
        if constants is not None and getattr(constants, "ENABLE_RAY_CLUSTER", False):
            constants.ENABLE_RAY_CLUSTER = False
    return ray


def _probe(address: str) -> None:
    """Fail fast on a cluster address nothing listens at (Ray itself retries for minutes)."""
    target = address.removeprefix("ray://")
    if address == "auto" or ":" not in target:
        return
    host, _, port_text = target.rpartition(":")
    try:
        port = int(port_text)
    except ValueError:
        raise ParameterError(f"a Ray address is HOST:PORT, ray://HOST:PORT or auto; got {address!r}") from None
    try:
        socket.create_connection((host.strip("[]"), port), timeout=_PROBE_SECONDS).close()
    except OSError as exc:
        raise ServiceError(f"cannot reach the Ray cluster at {address!r} ({exc.strerror or exc}); check the "
                           "address (`ray status` on the head node prints it) and that this machine can reach "
                           "it") from None


class RayExecutor(Executor):
    """A :class:`concurrent.futures.Executor` whose calls run as Ray tasks, retried when a worker dies.

    Parameters
    ----------
    address : str, optional
        A Ray cluster to join (``"auto"``, ``"HOST:PORT"``, ``"ray://HOST:10001"``). Default: the Ray already
        initialised in this process, else a local Ray started here (loopback only) and stopped by
        :meth:`shutdown`.
    num_cpus : int, optional, keyword-only
        CPUs of a local Ray started here (default: every CPU).
    temp_dir : str, optional, keyword-only
        Session folder of a local Ray started here (default :func:`default_temp_dir`).
    max_retries : int, keyword-only
        Times a task whose worker died is run again (Ray's default, 3).
    num_cpus_per_task : float, keyword-only
        CPUs one call reserves (1: as many calls at once as the cluster has CPUs).
    runtime_env : dict, optional, keyword-only
        Ray's runtime environment of the job (``{"pip": ["lookalike==0.1.0"]}``, ``{"env_vars": ...}``).

    Raises
    ------
    MissingDependencyError
        Ray is not installed.
    ServiceError
        The cluster at ``address`` cannot be reached.
    """

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None, temp_dir: str | None = None,
                 max_retries: int = 3, num_cpus_per_task: float = 1.0,
                 runtime_env: dict[str, Any] | None = None) -> None:
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ParameterError(f"max_retries must be a non-negative integer, got {max_retries!r}")
        if num_cpus is not None and (isinstance(num_cpus, bool) or not isinstance(num_cpus, int) or num_cpus < 1):
            raise ParameterError(f"num_cpus must be a positive integer, got {num_cpus!r}")
        if isinstance(num_cpus_per_task, bool) or not isinstance(num_cpus_per_task, int | float) or not (
                num_cpus_per_task > 0):
            raise ParameterError(f"num_cpus_per_task must be a positive number, got {num_cpus_per_task!r}")
        if address is not None and (not isinstance(address, str) or not address):
            raise ParameterError(f"address must be a Ray address such as 'HOST:6379' or 'ray://HOST:10001', "
                                 f"got {address!r}")
        if address is not None:
            _probe(address)
        self.address = address
        self.max_retries = max_retries
        self.num_cpus_per_task = float(num_cpus_per_task)
        #: Threads one task's libraries (onnxruntime, OpenCV) may use: its CPUs (Ray sets OMP_NUM_THREADS=1).
        self.threads_per_task = max(1, int(num_cpus_per_task))
        self._lock = threading.Lock()
        self._remotes: dict[Callable[..., Any], Any] = {}
        self._pending: set[Any] = set()
        self._closed = False
        ray = _import_ray(local=address is None)
        self._ray = ray
        self._owns = False
        if ray.is_initialized():
            if address is not None:
                raise ParameterError(f"Ray is already initialised in this process; cannot also join {address!r}: "
                                     "leave the address out to use it")
            return
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False,
                                   "runtime_env": runtime_env}
        if address is None:
            folder = temp_dir or default_temp_dir()
            os.makedirs(folder, exist_ok=True)
            options.update(num_cpus=num_cpus, _temp_dir=os.path.abspath(folder), _node_ip_address="127.0.0.1")
        else:
            options.pop("include_dashboard")  # a cluster's dashboard is the cluster's choice
        try:
            ray.init(address=address, **options)
        except (ConnectionError, TimeoutError) as exc:
            raise ServiceError(f"cannot reach the Ray cluster at {address!r} ({exc}); check the address "
                               "(`ray status` on the head node prints it) and that this machine can reach it") from None
        except ValueError as exc:  # Ray's "could not find any running Ray instance" for address="auto"
            raise ServiceError(f"cannot join a Ray cluster at {address!r}: {exc}") from None
        self._owns = True

    def __repr__(self) -> str:
        where = self.address or ("local" if self._owns else "attached")
        return f"RayExecutor({where!r}, max_retries={self.max_retries})"

    @property
    def workers(self) -> int:
        """CPUs the cluster offers now (how many calls run at once)."""
        return max(1, int(self._ray.cluster_resources().get("CPU", 1) // max(self.num_cpus_per_task, 1e-9)))

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Run ``fn(*args, **kwargs)`` as a Ray task; the future holds its result (or its exception)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot submit to a RayExecutor after shutdown")
            remote = self._remotes.get(fn)
            if remote is None:
                remote = self._ray.remote(fn).options(max_retries=self.max_retries, retry_exceptions=False,
                                                      num_cpus=self.num_cpus_per_task)
                self._remotes[fn] = remote
            ref = remote.remote(*args, **kwargs)
            self._pending.add(ref)
        future: Future[Any] = ref.future()
        future.add_done_callback(functools.partial(self._done, ref))
        return future

    def _done(self, ref: Any, _future: Future[Any]) -> None:
        with self._lock:
            self._pending.discard(ref)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking work; ``cancel_futures`` cancels tasks not finished. A Ray started here is stopped."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pending = list(self._pending)
        if cancel_futures:
            for ref in pending:
                try:
                    self._ray.cancel(ref, force=True)
                except Exception:  # already finished or lost: nothing to cancel
                    pass
        elif wait and pending:
            self._ray.wait(pending, num_returns=len(pending))
        if self._owns:
            self._ray.shutdown()


def make_engine(engine: str, *, jobs: int | None = None, address: str | None = None,
                temp_dir: str | None = None) -> int | Executor | None:
    """What ``jobs=`` gets for an ``--engine`` name: ``"local"``: ``jobs`` as it is; ``"ray"``: a :class:`RayExecutor`
    (``jobs``, when given, is the CPUs of a local Ray). The caller shuts an executor down.

    Raises
    ------
    ParameterError
        An unknown engine, or an address given for the local engine.
    """
    if engine not in ENGINES:
        raise ParameterError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if engine == "local":
        if address is not None:
            raise ParameterError("--ray-address needs --engine ray")
        return jobs
    return RayExecutor(address, num_cpus=jobs if address is None else None, temp_dir=temp_dir)
