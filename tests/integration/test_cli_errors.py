"""Bad input through ``lookalike compare``: one line on stderr, exit code 2, no traceback, nothing written.

The same broken files as the API tests (tests/io/bad_files.py). An ndarray of
the wrong shape cannot reach the command line; its API test is in
tests/io/test_load.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.integration.runner import run_cli as run
from tests.io.bad_files import BAD_FILES, sample_rgb


def snapshot(folder: Path) -> list[tuple[str, int, int]]:
    return sorted((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*"))


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.png"
    Image.fromarray(sample_rgb()).save(path)
    return path


def assert_one_error_line(code: int, out: str, err: str, path: Path, words: tuple[str, ...]) -> None:
    assert code == 2
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("lookalike: error: ")
    assert repr(str(path)) in err  # names the file
    assert "Traceback" not in err
    for word in words:
        assert word in err


@pytest.mark.parametrize("case", sorted(BAD_FILES))
@pytest.mark.parametrize("position", ["first", "second"])
def test_bad_file(tmp_path: Path, good: Path, case: str, position: str) -> None:
    build, words = BAD_FILES[case]
    bad = build(tmp_path)
    before = snapshot(tmp_path)
    a, b = (bad, good) if position == "first" else (good, bad)
    code, out, err = run("compare", str(a), str(b), "--metric", "mse,psnr")
    assert_one_error_line(code, out, err, bad, words)
    assert snapshot(tmp_path) == before


def test_permission_denied(tmp_path: Path, good: Path) -> None:
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.skip("running as root: chmod 000 does not stop root from reading (see the simulated test)")
    locked = tmp_path / "locked.png"
    Image.fromarray(sample_rgb()).save(locked)
    locked.chmod(0)
    try:
        code, out, err = run("compare", str(good), str(locked), "-m", "mse")
    finally:
        locked.chmod(0o644)
    assert_one_error_line(code, out, err, locked, ("permission denied",))


def test_permission_denied_simulated(good: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("lookalike.io._load.open", denied, raising=False)
    code, out, err = run("compare", str(good), str(good), "-m", "mse")
    assert_one_error_line(code, out, err, good, ("permission denied",))


def test_bomb_is_refused_unless_the_limit_is_raised(tmp_path: Path, good: Path) -> None:
    bomb = BAD_FILES["bomb"][0](tmp_path)
    code, _, err = run("compare", str(bomb), str(good), "-m", "mse", "--max-pixels", str(10**8))
    assert code == 2 and "the limit of 100,000,000 pixels" in err and "--max-pixels N or --max-pixels none" in err


@pytest.mark.parametrize("case", ["truncated-jpeg", "bomb", "missing"])
def test_real_process_prints_no_traceback(tmp_path: Path, good: Path, case: str) -> None:
    script = Path(sys.executable).parent / "lookalike"
    if not script.exists():
        pytest.skip(f"the console script is not installed beside {sys.executable} (pip install -e .)")
    build, words = BAD_FILES[case]
    bad = build(tmp_path)
    done = subprocess.run([str(script), "compare", str(bad), str(good), "-m", "mse"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert_one_error_line(done.returncode, done.stdout, done.stderr, bad, words)


def test_two_bad_files_report_the_first(tmp_path: Path) -> None:
    first, second = tmp_path / "one.png", tmp_path / "two.png"
    code, out, err = run("compare", str(first), str(second), "-m", "mse")
    assert_one_error_line(code, out, err, first, ("no such file",))


def test_ndarray_of_wrong_shape_is_api_only() -> None:
    # documented here so the matrix of failure modes is complete: the CLI takes paths only
    from lookalike.errors import ImageReadError
    from lookalike.io import load_image

    with pytest.raises(ImageReadError, match=r"got shape \(3, 3, 7\)"):
        load_image(np.zeros((3, 3, 7), np.uint8))
