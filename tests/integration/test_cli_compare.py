"""``lookalike compare A B``: what a user sees on stdout/stderr and the exit code."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.metrics import get_metric, metric_names
from lookalike.pipelines import compare
from tests.conftest import shared_path
from tests.integration.runner import run_cli as run


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    from skimage import data

    # 256x256, public domain (NASA): large enough for MS-SSIM's 5 scales (176 pixels at least)
    return np.ascontiguousarray(data.astronaut()[::2, ::2])


@pytest.fixture
def images(tmp_path: Path, astronaut: np.ndarray) -> dict[str, str]:
    blurred = np.asarray(Image.fromarray(astronaut).resize((128, 128)).resize((256, 256)))
    paths = {}
    for name, array in {"a": astronaut, "b": blurred, "small": astronaut[::2, ::2]}.items():
        path = tmp_path / f"{name}.png"
        Image.fromarray(np.ascontiguousarray(array)).save(path)
        paths[name] = str(path)
    return paths


def test_json_shape(images: dict[str, str]) -> None:
    code, out, err = run("compare", images["a"], images["b"], "--metric", "mse,psnr", "--json")
    assert (code, err) == (0, "")
    payload = json.loads(out)
    assert list(payload) == ["a", "b", "metrics"]
    assert payload["a"] == images["a"] and payload["b"] == images["b"]
    assert list(payload["metrics"]) == ["mse", "psnr"]
    expected = compare(images["a"], images["b"], metrics="mse,psnr")
    assert payload["metrics"] == expected  # JSON keeps every digit of a float
    assert out.count("\n") == 1


def test_identical_images_give_psnr_null_and_say_it_is_infinite(images: dict[str, str]) -> None:
    """A number is a JSON number or null, never a string (issue 11 item 19): PSNR's infinity is null,
    named in "infinite"; a finite PSNR has no "infinite" at all."""
    code, out, _ = run("compare", images["a"], images["a"], "-m", "psnr,mse", "--json")
    assert code == 0
    payload = json.loads(out, parse_constant=lambda name: pytest.fail(f"non-standard JSON constant {name}"))
    assert payload["metrics"] == {"psnr": None, "mse": 0.0}
    assert payload["infinite"] == {"metrics/psnr": "+inf"}
    code, out, _ = run("compare", images["a"], images["b"], "-m", "psnr", "--json")
    payload = json.loads(out)
    assert isinstance(payload["metrics"]["psnr"], float) and "infinite" not in payload
    code, out, _ = run("compare", images["a"], images["a"], "-m", "psnr")
    assert code == 0 and "inf" in out


def test_text_output_says_which_way_is_better(images: dict[str, str]) -> None:
    code, out, err = run("compare", images["a"], images["b"], "-m", "mse,psnr")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"{images['a']}  vs  {images['b']}"
    values = compare(images["a"], images["b"], metrics="mse,psnr")
    assert "mse" in lines[1] and f"{values['mse']:.6f}" in lines[1] and "lower = more similar" in lines[1]
    assert "psnr" in lines[2] and f"{values['psnr']:.6f}" in lines[2] and "higher = more similar" in lines[2]


def test_convention_is_echoed_in_json(images: dict[str, str]) -> None:
    code, out, _ = run("compare", images["a"], images["b"], "-m", "mse", "--convention", "skimage", "--json")
    assert code == 0 and json.loads(out)["convention"] == "skimage"


def test_different_sizes_are_an_error_with_the_choices(images: dict[str, str]) -> None:
    code, out, err = run("compare", images["a"], images["small"], "-m", "mse")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("lookalike: error: ")
    assert "256x256" in err and "128x128" in err
    assert images["a"] in err and images["small"] in err
    assert "--resize" in err and all(choice in err for choice in ("first", "smaller", "larger"))


@pytest.mark.parametrize("rule", ["smaller", "larger", "first"])
def test_resize_makes_them_comparable(images: dict[str, str], rule: str) -> None:
    code, out, err = run("compare", images["a"], images["small"], "-m", "mse,psnr", "--resize", rule, "--json")
    assert (code, err) == (0, "")
    assert json.loads(out)["metrics"] == compare(images["a"], images["small"], metrics="mse,psnr",
                                                 resize=rule)  # type: ignore[arg-type]


def test_unknown_metric_lists_the_names(images: dict[str, str]) -> None:
    code, out, err = run("compare", images["a"], images["b"], "--metric", "mse,sharpness")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("lookalike: error: ") and "'sharpness'" in err
    for name in metric_names():
        assert name in err


def test_bad_resize_choice_is_a_usage_error(images: dict[str, str]) -> None:
    code, _, err = run("compare", images["a"], images["b"], "--resize", "stretch")
    assert code == 2
    assert "invalid choice" in err and "smaller" in err and "Traceback" not in err


def test_usage_errors_write_nothing_on_stdout(images: dict[str, str]) -> None:
    _, out, _ = run("compare", images["a"], images["b"], "--resize", "stretch")
    assert out == ""


@pytest.mark.parametrize(("value", "code"), [("none", 0), ("1000000", 0), ("100", 2), ("0", 2), ("many", 2)])
def test_max_pixels_option(images: dict[str, str], value: str, code: int) -> None:
    result = run("compare", images["a"], images["b"], "-m", "mse", "--max-pixels", value)
    assert result[0] == code
    if value == "100":
        assert "the limit of 100 pixels" in result[2] and "--max-pixels none" in result[2]
        assert "max_pixels=" not in result[2]  # the option's name, not the Python keyword


def test_histogram_metrics_accept_different_sizes(images: dict[str, str]) -> None:
    hist = [n for n in metric_names() if get_metric(n).kind == "histogram"]
    if not hist:
        pytest.skip("no histogram metric registered in this checkout")
    code, out, _ = run("compare", images["a"], images["small"], "-m", ",".join(hist), "--json")
    assert code == 0 and list(json.loads(out)["metrics"]) == hist


@pytest.mark.skipif("ssim" not in metric_names(), reason="ssim is not registered yet in this checkout")
def test_all_metrics_as_json(images: dict[str, str]) -> None:
    code, out, err = run("compare", images["a"], images["b"], "--metric", "all", "--json")
    assert (code, err) == (0, "")
    values = json.loads(out)["metrics"]
    assert list(values) == metric_names()
    for name, value in values.items():
        low, high = get_metric(name).bounds
        assert isinstance(value, float) and low <= value <= high, name


@pytest.mark.skipif("ssim" not in metric_names(), reason="ssim is not registered yet in this checkout")
def test_default_metrics(images: dict[str, str]) -> None:
    code, out, _ = run("compare", images["a"], images["b"], "--json")
    assert code == 0 and list(json.loads(out)["metrics"]) == ["ssim", "psnr", "mse"]


def _console_script() -> Path:
    script = Path(sys.executable).parent / "lookalike"
    if not script.exists():
        pytest.skip(f"the console script is not installed beside {sys.executable} (pip install -e .)")
    return script


def test_real_subprocess(images: dict[str, str]) -> None:
    done = subprocess.run([str(_console_script()), "compare", images["a"], images["a"], "-m", "mse,psnr", "--json"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert (done.returncode, done.stderr) == (0, "")
    assert json.loads(done.stdout) == {"a": images["a"], "b": images["a"], "metrics": {"mse": 0.0, "psnr": None},
                                       "infinite": {"metrics/psnr": "+inf"}}


# --- against the official values (../shared/data) ---------------------------------------------

# reference/tid2013_matlab/reference_values_tidy.csv: skimage PSNR on RGB uint8, full precision from
# pyiqa's results_compare_2022_ycbcr/pnsr_org_result.txt (8 decimals); MATLAB ssim.m without downsampling (4 dp).
_TID2013 = {"I03": (21.11363373, 0.6993), "I04": (20.98719596, 0.9978), "I06": (27.01387096, 0.9989),
            "I08": (23.30025543, 0.9669), "I19": (21.61864985, 0.6519)}


@pytest.mark.shared_data
@pytest.mark.parametrize(("metric", "column", "tolerance"), [
    ("psnr", 0, 1e-6),  # 8-dp source
    pytest.param("ssim", 1, 1e-4,  # 4-dp source
                 marks=pytest.mark.skipif("ssim" not in metric_names(), reason="ssim is not registered yet")),
])
@pytest.mark.parametrize("name", sorted(_TID2013))
def test_tid2013_through_the_cli(metric: str, column: int, tolerance: float, name: str) -> None:
    root = shared_path("reference", "tid2013_matlab")
    code, out, _ = run("compare", str(root / "ref_dir" / f"{name}.bmp"), str(root / "dist_dir" / f"{name}.bmp"),
                       "-m", metric, "--json")
    assert code == 0
    value = json.loads(out)["metrics"][metric]
    assert not math.isnan(value) and value == pytest.approx(_TID2013[name][column], abs=tolerance)
