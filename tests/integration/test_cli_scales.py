"""``search``'s percentage and ``match``'s similarity are two scales, and both commands say which is which."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.runner import run_cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "images"


@pytest.mark.parametrize(("command", "own", "other"), [
    ("match", '"similarity_scale": "inliers"', "percentage of `lookalike search` (\"calibrated-copy\")"),
    ("search", '"similarity_scale": "calibrated-copy"', "similarity of `lookalike match` (\"inliers\")"),
])
def test_each_help_names_its_scale_and_the_other(command: str, own: str, other: str) -> None:
    code, out, _err = run_cli(command, "--help")
    text = " ".join(out.split())
    assert code == 0 and own in text and other in text


def test_the_json_of_both_names_the_scale(tmp_path: Path) -> None:
    pytest.importorskip("faiss")
    pytest.importorskip("onnxruntime")
    original, crop = EXAMPLES / "astronaut.png", EXAMPLES / "astronaut--crop.jpg"
    code, out, err = run_cli("match", str(original), str(crop), "--json")
    assert code == 0, err
    matched = json.loads(out)
    assert matched["similarity_scale"] == "inliers" and matched["inliers"] > 18 and matched["similarity"] > 0.5
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("astronaut.png", "camera.png", "coffee.jpg"):
        (folder / name).write_bytes((EXAMPLES / name).read_bytes())
    code, out, err = run_cli("search", str(crop), str(folder), "--json", "-k", "1", "-j", "1")
    assert code == 0, err
    found = json.loads(out)
    assert found["similarity_scale"] == "calibrated-copy"
    assert Path(found["results"][0]["path"]).name == "astronaut.png"
