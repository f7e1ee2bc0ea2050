"""Shared fixtures: the third-party reference data in ../shared/data, skipped with a reason when absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# onnxruntime writes a device id and telemetry events under ~/.cache/Microsoft as soon as it is imported,
# unless this is set first; lookalike sets it before its own import, but pytest.importorskip('onnxruntime')
# in the tests imports it earlier.
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

#: ../shared/data beside the checkout, or $LOOKALIKE_SHARED_DATA.
_BESIDE_CHECKOUT = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SHARED_DATA = Path(os.environ.get("LOOKALIKE_SHARED_DATA", _BESIDE_CHECKOUT))


def shared_path(*parts: str) -> Path:
    """Path inside ../shared/data; the calling test is skipped when it is missing."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference data not available: {path} (needs ../shared/data beside the checkout)")
    return path


@pytest.fixture
def shared_data() -> Path:
    """The root of ../shared/data (the test is skipped when it is absent)."""
    return shared_path()
