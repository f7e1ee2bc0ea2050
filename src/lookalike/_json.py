"""JSON-ready numbers: JSON has no NaN or infinity, so every ``to_dict()`` of lookalike writes them one way.

NaN (no value: a pair that could not be compared) becomes ``null``; an
infinity (PSNR of identical images) becomes the string ``"inf"`` or ``"-inf"``.
Other values pass through unchanged, so ``json.dumps(result.to_dict(),
allow_nan=False)`` always succeeds.

>>> json_number(float("inf")), json_number(float("nan")), json_number(0.5), json_number("inf")
('inf', None, 0.5, 'inf')
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["json_number"]


def json_number(value: Any) -> Any:
    """``value`` with NaN as ``None`` and infinities as ``"inf"`` / ``"-inf"`` (anything else unchanged)."""
    if isinstance(value, float | int) and not isinstance(value, bool):
        number = float(value)
        if math.isnan(number):
            return None
        if math.isinf(number):
            return "inf" if number > 0 else "-inf"
    return value
