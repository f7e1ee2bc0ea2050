"""``examples/ssim_tutorial.py``: the SSIM tutorial's table, next to the embedding's answer."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import shared_path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ssim_tutorial.py"


def _example() -> ModuleType:
    pytest.importorskip("onnxruntime")
    spec = importlib.util.spec_from_file_location("ssim_tutorial", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_on_the_tutorials_own_images() -> None:
    table = shared_path("seeds", "ssim_blog", "notebook_printed_results.csv")
    out = io.StringIO()
    assert _example().main(["--pairs", str(table), "--size", "400"], stdout=out) == 0
    lines = out.getvalue().splitlines()
    dogs = next(line for line in lines if line.startswith("Second Dog vs. Third Dog"))
    assert "6486.11" in dogs and "0.82" in dogs  # the tutorial's printed MSE and SSIM beside ours
    assert float(dogs.split()[5]) == pytest.approx(6486.11, rel=0.01)  # MSE barely depends on the size
    verdict = next(line for line in lines if line.startswith("right class"))  # "right class: SSIM a of 6, ..."
    ssim_right, embedding_right = int(verdict.split()[3]), int(verdict.split()[7])
    assert embedding_right >= 5 > ssim_right  # measured 5 and 1 of 6


def test_on_the_bundled_images() -> None:
    out = io.StringIO()
    assert _example().main(["--size", "256"], stdout=out) == 0
    text = out.getvalue()
    assert "astronaut vs photoshopped" in text and "cat vs coffee" in text
    same = next(line for line in text.splitlines() if line.startswith("same astronaut"))
    assert same.split()[-3:] == ["0.00", "1.00", "1.000"]
