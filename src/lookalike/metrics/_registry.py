"""Every metric reachable by name, with what a caller needs to know about it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lookalike.errors import ParameterError


@dataclass(frozen=True)
class MetricInfo:
    """What a metric is and how to read its value.

    Attributes
    ----------
    name : str
        The name used by :func:`get_metric`, ``compare`` and the CLI.
    func : callable
        ``func(image0, image1, **options) -> float``.
    higher_is_better : bool
        True when a larger value means more similar.
    identity : float
        The value for two identical images.
    bounds : (float, float)
        The range of values (``inf`` where unbounded).
    symmetric : bool
        True when ``func(a, b) == func(b, a)``.
    kind : str
        ``"full-reference"`` (pixel-aligned images of one size) or
        ``"histogram"`` (any two images, sizes may differ).
    """

    name: str
    func: Callable[..., Any]
    higher_is_better: bool
    identity: float
    bounds: tuple[float, float]
    symmetric: bool
    kind: str
    description: str

    @property
    def needs_same_size(self) -> bool:
        return self.kind == "full-reference"


_REGISTRY: dict[str, MetricInfo] = {}


def register(
    name: str,
    *,
    higher_is_better: bool,
    identity: float,
    bounds: tuple[float, float],
    symmetric: bool,
    kind: str = "full-reference",
    description: str = "",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator that records a metric function under ``name``."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        _REGISTRY[name] = MetricInfo(
            name=name,
            func=func,
            higher_is_better=higher_is_better,
            identity=identity,
            bounds=bounds,
            symmetric=symmetric,
            kind=kind,
            description=description or (func.__doc__ or "").strip().splitlines()[0],
        )
        return func

    return decorate


def get_metric(name: str) -> MetricInfo:
    """Look a metric up by name (case-insensitive).

    Examples
    --------
    >>> get_metric("ssim").higher_is_better
    True
    """
    key = name.strip().lower()
    if key not in _REGISTRY:
        raise ParameterError(f"unknown metric {name!r}; available: {', '.join(metric_names())}")
    return _REGISTRY[key]


#: The order in which ``metric_names`` (and ``--metric all``) lists metrics: pixel errors,
#: structural metrics, then histograms; anything else registered follows.
_ORDER = ("mse", "rmse", "psnr", "ssim", "ms_ssim", "fsim", "fsimc", "gmsd", "hist_correlation",
          "hist_intersection", "hist_chisq", "hist_bhattacharyya", "hist_emd")


def metric_names() -> list[str]:
    """Names of all metrics, in a stable order (pixel errors, structure, histograms)."""
    known = [name for name in _ORDER if name in _REGISTRY]
    return known + [name for name in _REGISTRY if name not in _ORDER]
