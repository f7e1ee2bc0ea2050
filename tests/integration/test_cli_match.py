"""`lookalike match A B`: exit codes, the JSON contract, the seed recipe's count, and the picture."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from lookalike.io import load_image
from lookalike.pipelines import match
from lookalike.viz import draw_matches
from tests.conftest import shared_path
from tests.integration.runner import run_cli as run


@pytest.fixture(scope="module")
def graf() -> tuple[str, str]:
    folder = shared_path("matching", "homogr")
    return str(folder / "grafA.png"), str(folder / "grafB.png")


def _seed_recipe(path_a: str, path_b: str) -> int:
    """The seed's recipe, written as OpenCV tutorials do: SIFT, BFMatcher, knnMatch k=2, ratio 0.75."""
    img1 = cv2.cvtColor(cv2.imread(path_a), cv2.COLOR_BGR2GRAY)
    img2 = cv2.cvtColor(cv2.imread(path_b), cv2.COLOR_BGR2GRAY)
    sift = cv2.SIFT_create()
    _, des1 = sift.detectAndCompute(img1, None)
    _, des2 = sift.detectAndCompute(img2, None)
    good = []
    for m, n in cv2.BFMatcher().knnMatch(des1, des2, k=2):
        if m.distance < 0.75 * n.distance:
            good.append(m)
    return len(good)


def test_json_is_the_documented_object(graf: tuple[str, str]) -> None:
    code, out, err = run("match", *graf, "--json")
    assert code == 0, err
    assert err == ""
    payload = json.loads(out)
    assert list(payload) == ["a", "b", "method", "keypoints", "matches", "inliers", "verified", "homography",
                             "similarity", "similarity_scale"]
    assert (payload["a"], payload["b"]) == graf and payload["verified"] is True  # it names its two images
    expected = match(*graf).to_dict()
    assert payload == json.loads(json.dumps(expected))
    assert payload["method"] == "rootsift"
    assert payload["inliers"] > 100 and 0.99 < payload["similarity"] <= 1.0
    # H maps (x, y, 1) of A onto B: check it with the dataset's ground truth (which maps B to A)
    truth = np.linalg.inv(np.loadtxt(Path(graf[0]).parent / "graf_model.txt"))
    centre = np.array([400.0, 320.0, 1.0])
    found, true = np.array(payload["homography"]) @ centre, truth @ centre
    np.testing.assert_allclose(found[:2] / found[2], true[:2] / true[2], atol=3.0)


@pytest.mark.parametrize("pair", [("homogr", "graf"), ("retrieval", "ukbench")])
def test_sift_no_verify_is_the_seed_recipe(pair: tuple[str, str]) -> None:
    if pair[0] == "homogr":
        folder = shared_path("matching", "homogr")
        paths = str(folder / "grafA.png"), str(folder / "grafB.png")
    else:
        folder = shared_path("retrieval", "ukbench_holidays_samples", "ukbench")
        paths = str(folder / "ukbench00004.jpg"), str(folder / "ukbench00005.jpg")
    code, out, err = run("match", *paths, "--method", "sift", "--no-verify", "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["matches"] == _seed_recipe(*paths)
    assert payload["inliers"] == 0 and payload["homography"] is None


def test_text_output(graf: tuple[str, str]) -> None:
    code, out, err = run("match", *graf, "--method", "orb", "--ratio", "0.8")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"{graf[0]}  vs  {graf[1]}"
    assert "  method      orb" in lines
    assert any(line.startswith("  matches ") and "(ratio test 0.8)" in line for line in lines)
    assert "  verified    yes" in lines
    assert any(line.startswith("  homography  [[") for line in lines)


def test_unverified_text_says_why(tmp_path: Path, graf: tuple[str, str]) -> None:
    flat = tmp_path / "flat.png"
    cv2.imwrite(str(flat), np.full((200, 200), 90, np.uint8))
    code, out, err = run("match", str(flat), graf[0])
    assert code == 0, err
    assert "  verified    no: too few matches to verify: 0 (need 10)" in out.splitlines()
    code, out, _ = run("match", str(flat), graf[0], "--json")
    assert json.loads(out) == {"a": str(flat), "b": graf[0], "method": "rootsift",
                               "keypoints": [0, json.loads(out)["keypoints"][1]], "matches": 0, "inliers": 0,
                               "verified": False, "homography": None, "similarity": 0.0,
                               "similarity_scale": "inliers"}


def test_draw_writes_the_picture(tmp_path: Path, graf: tuple[str, str]) -> None:
    target = tmp_path / "matches.png"
    code, out, err = run("match", *graf, "--draw", str(target), "--show-outliers")
    assert code == 0, err
    assert f"  wrote {target}" in out.splitlines()
    written = cv2.imread(str(target), cv2.IMREAD_COLOR_RGB)
    a, b = load_image(graf[0]), load_image(graf[1])
    expected = draw_matches(a, b, match(a, b), show_outliers=True)
    np.testing.assert_array_equal(written, expected)  # PNG is lossless


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--ratio", "1.5"], "ratio must be in (0, 1]"),
        (["--draw", "/no/such/folder/m.png"], "does not exist"),
        (["--draw", "matches.txt"], "unknown picture type"),
        (["--max-keypoints", "0"], "max_keypoints must be a positive integer"),
    ],
)
def test_bad_options_exit_2_with_one_line(graf: tuple[str, str], extra: list[str], message: str) -> None:
    code, out, err = run("match", *graf, *extra)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("lookalike: error: ") and message in err


def test_unreadable_image_exits_2(tmp_path: Path, graf: tuple[str, str]) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    code, out, err = run("match", graf[0], str(broken))
    assert code == 2 and out == ""
    assert err.startswith("lookalike: error: cannot read image") and "broken.png" in err


def test_unknown_method_is_a_usage_error(graf: tuple[str, str]) -> None:
    code, _, err = run("match", *graf, "--method", "surf")
    assert code == 2
    assert "invalid choice: 'surf'" in err
