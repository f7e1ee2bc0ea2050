"""The one exit-code rule of the README, command by command.

0 when the job ran (files that could not be used are skipped and listed), 2
when nothing usable was given or every item failed, 1 for an internal error.
The files are real photos (scikit-image's samples, re-encoded) and copies of
them cut short, as a failed download or copy leaves them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.integration.runner import run_cli


def truncated_copies(source: Path, folder: Path) -> Path:
    """Every photo of ``source`` cut to a third of its bytes: the header reads, the pixels do not."""
    folder.mkdir()
    for path in sorted(source.iterdir()):
        data = path.read_bytes()
        (folder / path.name).write_bytes(data[: len(data) // 3])
    return folder


@pytest.fixture(scope="module")
def photos(three_photos: Path) -> Path:
    return three_photos


@pytest.fixture(scope="module")
def allbad(photos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return truncated_copies(photos, tmp_path_factory.mktemp("exit-codes") / "allbad")


@pytest.fixture(scope="module")
def somebad(photos: Path, allbad: Path) -> Path:
    folder = Path(shutil.copytree(photos, allbad.parent / "somebad"))
    shutil.copy(allbad / "coffee.jpg", folder / "coffee-cut.jpg")
    return folder


def test_matrix_exit_2_when_every_pair_fails(photos: Path, tmp_path: Path) -> None:
    # 10x10 is below SSIM's 11x11 window: every pair fails, the run is not a success
    code, _out, err = run_cli("matrix", str(photos), "--metric", "ssim", "--resize", "10x10",
                             "--out", str(tmp_path / "out"), "-j", "1")
    assert code == 2
    assert "every one of the 3 pairs failed" in err
    assert (tmp_path / "out" / "errors.csv").is_file()  # the failures are still written down
    # the same folder at a size SSIM can use: exit 0
    code, _out, err = run_cli("matrix", str(photos), "--metric", "ssim", "--resize", "64x64",
                              "--out", str(tmp_path / "out2"), "-j", "1")
    assert code == 0, err


def test_matrix_some_files_skipped_is_exit_0_all_unreadable_is_exit_2(
        somebad: Path, allbad: Path, tmp_path: Path) -> None:
    code, _out, err = run_cli("matrix", str(somebad), "--metric", "mse", "--out", str(tmp_path / "a"), "-j", "1")
    assert code == 0 and "1 file skipped" in err
    code, _out, err = run_cli("matrix", str(allbad), "--metric", "mse", "--out", str(tmp_path / "b"), "-j", "1")
    assert code == 2 and "none of the image files could be read" in err


def test_index_build_update_add_exit_2_when_every_file_fails(somebad: Path, allbad: Path, tmp_path: Path) -> None:
    pytest.importorskip("faiss")
    code, out, err = run_cli("index", "build", str(allbad), "--index", str(tmp_path / "bad.idx"), "-d", "phash",
                             "-j", "1")
    assert code == 2
    assert "3 errors" in out and "none of the 3 image files could be indexed" in err
    code, _out, err = run_cli("index", "build", str(somebad), "--index", str(tmp_path / "some.idx"), "-d", "phash",
                              "-j", "1")
    assert code == 0 and "1 file could not be indexed" in err
    # adding only unreadable files: every item failed
    code, _out, err = run_cli("index", "add", str(allbad / "camera.png"), "--index", str(tmp_path / "some.idx"),
                              "-j", "1")
    assert code == 2 and "none of the 1 image files could be indexed" in err
    # an update where the only new file is unreadable still ran: the others are current
    shutil.copy(allbad / "astronaut.jpg", somebad / "astronaut-cut.jpg")
    try:
        code, out, err = run_cli("index", "update", str(somebad), "--index", str(tmp_path / "some.idx"), "-j", "1")
    finally:
        (somebad / "astronaut-cut.jpg").unlink()
    assert code == 0 and "3 unchanged" in out, err


def test_duplicates_exit_2_when_no_file_can_be_read(somebad: Path, allbad: Path) -> None:
    pytest.importorskip("faiss")
    pytest.importorskip("onnxruntime")
    code, out, err = run_cli("duplicates", str(allbad), "-j", "1")
    assert code == 2
    assert err.count("lookalike: skipped ") == 3 and "none of the 3 image files could be read" in err
    code, out, err = run_cli("duplicates", str(somebad), "-j", "1")
    assert code == 0 and "among 3 images" in out and err.count("lookalike: skipped ") == 1


def test_search_exit_2_only_when_every_query_fails(photos: Path, allbad: Path) -> None:
    pytest.importorskip("faiss")
    pytest.importorskip("onnxruntime")
    code, out, err = run_cli("search", str(allbad / "coffee.jpg"), str(photos / "coffee.jpg"), str(photos),
                             "-k", "1", "-j", "1")
    assert code == 0 and "coffee.jpg" in out and err.count("lookalike: error: cannot read image") == 1
    code, out, err = run_cli("search", str(allbad / "coffee.jpg"), str(photos), "-k", "1", "-j", "1")
    assert code == 2 and out == ""
    # a folder in which nothing can be read: nothing to search
    code, out, err = run_cli("search", str(photos / "coffee.jpg"), str(allbad), "-k", "1", "-j", "1")
    assert code == 2 and out == "" and "none of the 3 image files" in err


def test_compare_diff_match_exit_2_on_an_unreadable_image(photos: Path, allbad: Path, tmp_path: Path) -> None:
    for argv in (["compare"], ["match"], ["diff", "--out", str(tmp_path / "d.png")]):
        code, out, err = run_cli(*argv, str(photos / "coffee.jpg"), str(allbad / "coffee.jpg"))
        assert code == 2 and out == "" and err.count("\n") == 1 and "truncated" in err, argv
