"""JSON-ready numbers: JSON has no NaN or infinity, so every ``to_dict()`` of lookalike writes them one way.

A number in a document is always a JSON number or ``null``, never a string:
NaN (no value: a pair that could not be compared) and an infinity (PSNR of
identical images) both become ``null``, and the document says which of its
``null`` values are infinite in one ``"infinite"`` object, present only when
there is one: its keys are the places of those values, written as the keys and
list positions that lead to them joined by ``/`` (``"metrics/psnr"``,
``"values/0/1"``), its values ``"+inf"`` or ``"-inf"``. So
``json.dumps(result.to_dict(), allow_nan=False)`` always succeeds, and a reader
that only wants numbers reads numbers.

>>> infinite = {}
>>> json_number(float("inf"), infinite, "metrics/psnr"), json_number(float("nan")), json_number(0.5), infinite
(None, None, 0.5, {'metrics/psnr': '+inf'})
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["json_number", "with_infinite"]


def json_number(value: Any, infinite: dict[str, str] | None = None, place: str = "") -> Any:
    """``value`` with NaN and infinities as ``None`` (anything else unchanged); an infinity is recorded in
    ``infinite`` under ``place`` as ``"+inf"`` / ``"-inf"`` when a dict is given."""
    if isinstance(value, float | int) and not isinstance(value, bool):
        number = float(value)
        if math.isnan(number):
            return None
        if math.isinf(number):
            if infinite is not None:
                infinite[place] = "+inf" if number > 0 else "-inf"
            return None
    return value


def with_infinite(document: dict[str, Any], infinite: dict[str, str]) -> dict[str, Any]:
    """``document`` with its ``"infinite"`` object when any value was infinite (see the module docstring)."""
    if infinite:
        document["infinite"] = dict(infinite)
    return document
