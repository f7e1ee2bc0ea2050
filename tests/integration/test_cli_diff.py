"""`lookalike diff A B --out diff.png`: exit codes, what is printed, and the picture written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from lookalike.io import load_image
from lookalike.metrics import ssim
from lookalike.viz import diff_image
from tests.conftest import shared_path
from tests.integration.runner import run_cli as run


@pytest.fixture(scope="module")
def gates() -> tuple[str, str]:
    folder = shared_path("seeds", "ssim_blog", "gates")
    return str(folder / "jp_gates_original.png"), str(folder / "jp_gates_photoshopped.png")


def test_writes_the_picture_and_reports(gates: tuple[str, str], tmp_path: Path) -> None:
    target = tmp_path / "diff.png"
    code, out, err = run("diff", *gates, "--out", str(target))
    assert code == 0, err
    assert err == ""
    written = cv2.imread(str(target), cv2.IMREAD_COLOR_RGB)
    image0 = load_image(gates[0])
    image1 = load_image(gates[1])
    expected = diff_image(image0, image1, labels=("jp_gates_original.png", "jp_gates_photoshopped.png"))
    assert written.shape == expected.shape
    np.testing.assert_array_equal(written, expected)  # PNG is lossless
    assert "ssim     0.69" in out  # Wang's SSIM of this pair (grey, rgb2gray): 0.6963
    assert "regions  1" in out
    assert str(target) in out


def test_json_lists_regions(gates: tuple[str, str], tmp_path: Path) -> None:
    target = tmp_path / "diff.jpg"
    code, out, err = run("diff", *gates, "--out", str(target), "--json", "--threshold", "0.3")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["a"] == gates[0] and payload["b"] == gates[1]
    assert payload["threshold"] == 0.3 and payload["size"] == [300, 300]
    # the SSIM printed is Wang's SSIM of the pair (lookalike.metrics.ssim, checked against MATLAB's ssim_index.m
    # in tests/metrics/test_ssim.py), exactly; 0.6963 to 4 places
    assert payload["ssim"] == pytest.approx(ssim(load_image(gates[0]), load_image(gates[1])), rel=0, abs=1e-12)
    assert round(payload["ssim"], 4) == 0.6963
    assert payload["regions"] and set(payload["regions"][0]) == {"x", "y", "w", "h"}
    assert list(payload) == ["a", "b", "ssim", "threshold", "size", "regions", "out"]  # DiffAnalysis.to_dict()
    assert payload["out"] == str(target)
    assert cv2.imread(str(target)) is not None


def test_missing_output_folder_is_one_line_exit_2(gates: tuple[str, str], tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "diff.png"
    code, out, err = run("diff", *gates, "--out", str(target))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and "does not exist" in err and str(target.parent) in err
    assert not target.exists()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can write to read-only folders")
def test_unwritable_output_folder(gates: tuple[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        code, _, err = run("diff", *gates, "--out", str(folder / "diff.png"))
    finally:
        folder.chmod(0o700)
    assert code == 2 and err.count("\n") == 1 and "permission" in err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
def test_write_failure_is_one_line(gates: tuple[str, str], tmp_path: Path) -> None:
    target = tmp_path / "diff.png"
    target.symlink_to("/dev/full")  # every write fails with "No space left on device"
    code, _, err = run("diff", *gates, "--out", str(target))
    assert code == 2 and err.count("\n") == 1 and "No space left" in err


def test_output_that_cannot_be_written(gates: tuple[str, str], tmp_path: Path) -> None:
    code, _, err = run("diff", *gates, "--out", str(tmp_path / "diff.txt"))
    assert code == 2 and err.count("\n") == 1 and ".txt" in err
    code, _, err = run("diff", *gates, "--out", str(tmp_path))
    assert code == 2 and err.count("\n") == 1 and "folder" in err
    a_file = tmp_path / "file.png"
    a_file.write_bytes(b"x")
    code, _, err = run("diff", *gates, "--out", str(a_file / "diff.png"))
    assert code == 2 and err.count("\n") == 1 and "not a folder" in err


def test_missing_input_names_the_file(gates: tuple[str, str], tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere.png")
    code, out, err = run("diff", gates[0], missing, "--out", str(tmp_path / "diff.png"))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and "nowhere.png" in err and "Traceback" not in err
    assert not (tmp_path / "diff.png").exists()


def test_different_sizes_need_resize(gates: tuple[str, str], tmp_path: Path) -> None:
    small = tmp_path / "small.png"
    image = load_image(gates[1])
    cv2.imwrite(str(small), cv2.resize(image, (200, 150), interpolation=cv2.INTER_AREA)[..., ::-1])
    target = tmp_path / "diff.png"
    code, _, err = run("diff", gates[0], str(small), "--out", str(target))
    assert code == 2 and err.count("\n") == 1
    assert "300x300" in err and "200x150" in err and "--resize" in err
    assert not target.exists()
    code, out, err = run("diff", gates[0], str(small), "--out", str(target), "--resize", "smaller", "--json")
    assert code == 0, err
    assert json.loads(out)["size"] == [200, 150]
    assert cv2.imread(str(target)) is not None


def test_grey_against_colour_is_compared_and_bit_depths_must_agree(gates: tuple[str, str], tmp_path: Path) -> None:
    # The rules of lookalike.pipelines.compare: a grey file is repeated into three channels, so a
    # colour image against its own grey version differs in chroma only; 8 against 16 bits is refused.
    grey = tmp_path / "grey.png"
    cv2.imwrite(str(grey), cv2.cvtColor(load_image(gates[0])[..., ::-1], cv2.COLOR_BGR2GRAY))
    code, out, err = run("diff", gates[0], str(grey), "--out", str(tmp_path / "diff.png"), "--json")
    assert code == 0, err
    assert json.loads(out)["ssim"] > 0.9
    deep = tmp_path / "deep.png"
    cv2.imwrite(str(deep), load_image(gates[1]).astype(np.uint16)[..., ::-1] * 257)
    code, out, err = run("diff", gates[0], str(deep), "--out", str(tmp_path / "diff.png"))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert f"{gates[0]}: uint8, {deep}: uint16" in err and "same bit depth" in err


def test_help_lists_diff() -> None:
    code, out, _ = run("--help")
    assert code == 0 and "diff" in out


def test_align_diffs_a_rotated_crop_of_the_edited_copy(gates: tuple[str, str], tmp_path: Path) -> None:
    from PIL import Image

    copy = tmp_path / "reposted.png"  # the edited copy cropped to 80% and turned by 90 degrees
    Image.open(gates[1]).convert("RGB").crop((45, 30, 285, 270)).rotate(90, expand=True).save(copy)
    code, out, err = run("diff", gates[0], str(copy), "--out", str(tmp_path / "d.png"), "--align", "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["size"] == [300, 300] and payload["aligned"]["inliers"] >= 30
    assert payload["aligned"]["overlap"] == pytest.approx(0.64, abs=0.02)
    assert 0.5 < payload["aligned"]["compared"] < payload["aligned"]["overlap"]
    [region] = payload["regions"]
    assert 45 <= region["x"] and region["x"] + region["w"] <= 285 and 30 <= region["y"]
    code, out, _err = run("diff", gates[0], str(copy), "--out", str(tmp_path / "d.png"), "--align")
    assert code == 0 and "  aligned  B onto A: " in out and "% of A compared (the rest is not covered by B)" in out
    # without --align the sizes differ; --align with --resize is refused
    code, _out, err = run("diff", gates[0], str(copy), "--out", str(tmp_path / "d.png"), "--align",
                          "--resize", "first")
    assert code == 2 and "leave out --resize" in err


def test_float_images_need_and_take_data_range(tmp_path: Path) -> None:
    """Float TIFFs: the message was emptied to "lookalike: error: " (its only hints named an option diff lacked)
    and, past the analysis, np.iinfo(float32) would have raised; --data-range (as in compare) now works."""
    from PIL import Image

    rng = np.random.default_rng(0)
    base = rng.random((64, 64)).astype(np.float32)
    a, b = tmp_path / "a.tif", tmp_path / "b.tif"
    Image.fromarray(base, mode="F").save(a)
    Image.fromarray(base * 0.9, mode="F").save(b)
    code, out, err = run("diff", str(a), str(b), "--out", str(tmp_path / "d.png"))
    assert code == 2 and out == ""
    assert err == ("lookalike: error: data_range is required for float32/float32 input: pass --data-range 255 for "
                   "0-255 values, --data-range 1.0 for 0-1 values (integer images of one dtype infer it)\n")
    code, out, err = run("diff", str(a), str(b), "--out", str(tmp_path / "d.png"), "--data-range", "1", "--json")
    assert code == 0, err
    assert json.loads(out)["ssim"] == pytest.approx(ssim(base, base * 0.9, data_range=1.0), abs=1e-6)
    assert (tmp_path / "d.png").is_file()


def test_a_bad_panel_size_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    a = tmp_path / "a.png"
    cv2.imwrite(str(a), np.zeros((40, 40), np.uint8))
    code, _out, err = run("diff", str(a), str(tmp_path / "missing.png"), "--out", str(tmp_path / "d.png"),
                          "--panel-size", "5")
    assert code == 2 and "--panel-size must be between 32 and 4096" in err
