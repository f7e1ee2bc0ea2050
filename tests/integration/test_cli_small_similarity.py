"""Similarities under 1% print as "<1%" in the text output; the JSON keeps the number (issue 11, item 19).

An unrelated search result (nothing matched: no hash bits near, an embedding far, no keypoints
verified) used to print as "0.6%", a precise-looking figure for "no evidence at all".
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.index.conftest import make_photos
from tests.integration.runner import run_cli

pytest.importorskip("faiss")
pytest.importorskip("onnxruntime")


def test_an_unrelated_result_prints_as_under_one_percent_and_json_keeps_the_float(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    make_photos(folder, ("astronaut", "coffee"), longest=320)
    code, out, err = run_cli("search", str(folder / "astronaut.jpg"), str(folder), "--top", "2")
    assert code == 0, err
    lines = out.splitlines()
    assert re.fullmatch(r"\s+1\s+100%\s+.*astronaut\.jpg", lines[1]), out
    assert re.fullmatch(r"\s+2\s+<1%\s+.*coffee\.jpg", lines[2]), out  # was "0.6%"
    code, out, err = run_cli("search", str(folder / "astronaut.jpg"), str(folder), "--top", "2", "--json")
    assert code == 0, err
    [_itself, coffee] = json.loads(out)["results"]
    assert isinstance(coffee["similarity"], float) and 0 < coffee["similarity"] < 0.01
    assert not coffee["evidence"]["verified"]


def test_the_percent_format() -> None:
    from lookalike.cli._search import _percent

    assert [_percent(v) for v in (1.0, 0.9999, 0.5, 0.0123, 0.01, 0.006, 0.0)] == [
        "100%", "99.9%", "50.0%", "1.2%", "1.0%", "<1%", "<1%"]
