"""Shared fixtures: the third-party reference data in ../shared/data, skipped with a reason when absent."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# onnxruntime writes a device id and telemetry events under ~/.cache/Microsoft as soon as it is imported,
# unless this is set first; lookalike sets it before its own import, but pytest.importorskip('onnxruntime')
# in the tests imports it earlier.
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

#: ../shared/data beside the checkout, or $LOOKALIKE_SHARED_DATA.
_BESIDE_CHECKOUT = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SHARED_DATA = Path(os.environ.get("LOOKALIKE_SHARED_DATA", _BESIDE_CHECKOUT))


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The embedding model cache (``$LOOKALIKE_CACHE_DIR``) in one temporary folder for the whole session.

    Without it the suite writes the ONNX model built from the packaged weights to ~/.cache/lookalike; set
    once per session (not per test), the model is built once and every subprocess a test starts with a
    copy of ``os.environ`` finds it there too. Tests of the cache location itself monkeypatch over it."""
    folder = tmp_path_factory.mktemp("model-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LOOKALIKE_CACHE_DIR", str(folder))
        yield folder


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
