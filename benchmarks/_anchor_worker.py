"""Long-lived timing worker for anchors that live in their own virtual environment.

Run by ``bench_metrics.py`` as ``<venv>/bin/python _anchor_worker.py``; never imported by
lookalike. It reads one JSON request per line on stdin and answers one JSON line on stdout:

``{"op": "info"}``
    versions of the anchor packages, torch's thread count, and which metrics can run here
    (with the import error for those that cannot).
``{"op": "time", "metric": NAME, "a": PATH, "b": PATH, "reps": N, "warmup": W, "threads": T}``
    load the two ``.npy`` files (cached), prepare the anchor's input once (cached: tensor
    conversion is *not* timed, which favours the anchor), set torch's intra-op thread count
    to ``T`` (``null``: torch's default), call the metric ``W`` times untimed, then ``N``
    times timed with ``time.perf_counter``; answers ``{"ok": true, "times": [...],
    "value": float}`` or ``{"ok": false, "error": "..."}``.
``{"op": "quit"}``
    exit.

Library chatter on stdout (a print, a C library) would corrupt the protocol, so the real
stdout is kept on a private file descriptor and fd 1 is pointed at stderr.

piq 0.8.0's package ``__init__`` imports ``piq.perceptual``, which needs torchvision for its
VGG models. The full-reference metrics timed here (``piq.fsim``, ``piq.ssim``,
``piq.ms_ssim``, ``piq.gmsd``) do not use torchvision, so the ``piq`` package is registered
without running its ``__init__`` and only those modules are imported. This runs piq's own
code, unchanged, without installing torchvision (whose wheels pin a torch build of their own).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import sys
import time
import traceback
import types
from collections.abc import Callable
from typing import Any

import numpy as np

_OUT = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)

_ARRAYS: dict[str, np.ndarray] = {}
_PREPARED: dict[tuple[str, str, str], Callable[[], float]] = {}
_DEFAULT_THREADS: list[int] = []


def _set_torch_threads(threads: int | None) -> None:
    if "torch" not in sys.modules:
        return
    import torch

    if not _DEFAULT_THREADS:
        _DEFAULT_THREADS.append(torch.get_num_threads())
    torch.set_num_threads(threads or _DEFAULT_THREADS[0])


def _load(path: str) -> np.ndarray:
    if path not in _ARRAYS:
        _ARRAYS[path] = np.load(path)
    return _ARRAYS[path]


def _import_piq_module(name: str) -> types.ModuleType:
    """Import ``piq.<name>`` without executing piq's package ``__init__``."""
    if "piq" not in sys.modules:
        spec = importlib.util.find_spec("piq")
        if spec is None or spec.submodule_search_locations is None:
            raise ImportError("piq is not installed in this environment")
        package = types.ModuleType("piq")
        package.__path__ = list(spec.submodule_search_locations)
        package.__spec__ = spec
        package.__file__ = spec.origin
        sys.modules["piq"] = package
    return importlib.import_module(f"piq.{name}")


def _tensor(image: np.ndarray) -> Any:
    """uint8 (H, W) or (H, W, 3) array -> float32 (1, C, H, W) tensor in [0, 255]."""
    import torch

    array = image.astype(np.float32)
    if array.ndim == 2:
        array = array[None, None]
    else:
        array = np.ascontiguousarray(array.transpose(2, 0, 1)[None])
    return torch.from_numpy(array)


def _torch_call(func: Callable[..., Any], a: np.ndarray, b: np.ndarray, **kwargs: Any):
    import torch

    x, y = _tensor(a), _tensor(b)

    def call() -> float:
        with torch.no_grad():
            return float(func(x, y, **kwargs))

    return call


def _piq_fsimc(a, b):
    return _torch_call(_import_piq_module("fsim").fsim, a, b, data_range=255, chromatic=True)


def _piq_fsim(a, b):
    return _torch_call(_import_piq_module("fsim").fsim, a, b, data_range=255, chromatic=False)


def _piq_ssim(a, b):
    # downsample=False: Wang's ssim_index.m (11x11 Gaussian, 'valid', population variances).
    return _torch_call(_import_piq_module("ssim").ssim, a, b, data_range=255, downsample=False)


def _piq_ms_ssim(a, b):
    return _torch_call(_import_piq_module("ms_ssim").multi_scale_ssim, a, b, data_range=255)


def _piq_gmsd(a, b):
    return _torch_call(_import_piq_module("gmsd").gmsd, a, b, data_range=255)


def _pytorch_msssim_ms_ssim(a, b):
    from pytorch_msssim import ms_ssim

    return _torch_call(ms_ssim, a, b, data_range=255, size_average=True)


def _ism_fsim(a, b):
    from image_similarity_measures.quality_metrics import fsim

    def call() -> float:
        return float(fsim(a, b))

    return call


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], Callable[[], float]]] = {
    "piq.fsim_chromatic": _piq_fsimc,
    "piq.fsim": _piq_fsim,
    "piq.ssim": _piq_ssim,
    "piq.multi_scale_ssim": _piq_ms_ssim,
    "piq.gmsd": _piq_gmsd,
    "pytorch_msssim.ms_ssim": _pytorch_msssim_ms_ssim,
    "image_similarity_measures.fsim": _ism_fsim,
}

_PROBES: dict[str, Callable[[], object]] = {
    "piq.fsim_chromatic": lambda: _import_piq_module("fsim"),
    "piq.fsim": lambda: _import_piq_module("fsim"),
    "piq.ssim": lambda: _import_piq_module("ssim"),
    "piq.multi_scale_ssim": lambda: _import_piq_module("ms_ssim"),
    "piq.gmsd": lambda: _import_piq_module("gmsd"),
    "pytorch_msssim.ms_ssim": lambda: importlib.import_module("pytorch_msssim"),
    "image_similarity_measures.fsim": lambda: importlib.import_module(
        "image_similarity_measures.quality_metrics"
    ),
}

_PACKAGES = (
    "numpy", "scipy", "torch", "piq", "pytorch-msssim", "image-similarity-measures",
    "phasepack", "scikit-image", "opencv-python", "opencv-python-headless", "torchvision",
)


def _info() -> dict[str, Any]:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    available, unavailable = [], {}
    for name, probe in _PROBES.items():
        try:
            probe()
        except Exception as exc:  # an anchor that cannot import is reported, not fatal
            unavailable[name] = f"{type(exc).__name__}: {exc}"
        else:
            available.append(name)
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "versions": versions,
        "available": available,
        "unavailable": unavailable,
        "torchvision_imported": "torchvision" in sys.modules,
    }
    if "torch" in sys.modules:
        import torch

        info["torch_threads"] = _DEFAULT_THREADS[0] if _DEFAULT_THREADS else torch.get_num_threads()
        info["torch_cuda_build"] = torch.version.cuda
    return info


def _time(request: dict[str, Any]) -> dict[str, Any]:
    name = request["metric"]
    key = (name, request["a"], request["b"])
    if key not in _PREPARED:
        if name not in METRICS:
            raise KeyError(f"unknown metric {name!r}; known: {sorted(METRICS)}")
        _PREPARED[key] = METRICS[name](_load(request["a"]), _load(request["b"]))
    call = _PREPARED[key]
    _set_torch_threads(request.get("threads"))
    value = float("nan")
    for _ in range(int(request.get("warmup", 0))):
        value = call()
    times = []
    for _ in range(int(request["reps"])):
        start = time.perf_counter()
        value = call()
        times.append(time.perf_counter() - start)
    return {"ok": True, "times": times, "value": value}


def main() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        op = request.get("op")
        if op == "quit":
            break
        try:
            if op == "info":
                reply = {"ok": True, **_info()}
            elif op == "time":
                reply = _time(request)
            else:
                reply = {"ok": False, "error": f"unknown op {op!r}"}
        except Exception as exc:
            reply = {
                "ok": False,
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(),
            }
        _OUT.write(json.dumps(reply) + "\n")


if __name__ == "__main__":
    main()
