"""``lookalike index``: places an index cannot be made, failed builds that leave nothing, and ``remove``/``help``."""

from __future__ import annotations

import shutil
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest

from tests.integration.runner import run_cli

pytest.importorskip("faiss")

run = partial(run_cli, "index")


@pytest.fixture
def folder(tmp_path: Path, three_photos: Path) -> Path:
    return Path(shutil.copytree(three_photos, tmp_path / "photos"))


def test_build_where_the_index_cannot_be_created_is_one_error_line(folder: Path, tmp_path: Path) -> None:
    # a regular file where a folder must go: refused even for root (who ignores permission bits)
    (tmp_path / "notes.txt").write_text("not a folder\n")
    place = tmp_path / "notes.txt" / "photos.idx"
    code, out, err = run("build", str(folder), "--index", str(place), "-d", "phash", "-j", "1")
    assert code == 2 and out == ""
    assert err == (f"lookalike: error: cannot create the index folder {str(place)!r}: Not a directory; "
                   "give a place where you can create folders\n")
    # the same in a real process: no traceback
    done = subprocess.run([sys.executable, "-m", "lookalike.cli", "index", "build", str(folder), "--index", str(place),
                           "-d", "phash", "-j", "1"], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr and done.stderr.count("\n") == 1


def test_a_failed_build_leaves_no_index_behind(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _out, err = run("build", str(empty), "--index", str(tmp_path / "new.idx"), "-d", "phash")
    assert code == 2 and "found no images" in err
    assert not (tmp_path / "new.idx").exists()
    # a folder that existed (empty) before the run stays, empty
    (tmp_path / "kept.idx").mkdir()
    code, _out, _err = run("build", str(empty), "--index", str(tmp_path / "kept.idx"), "-d", "phash")
    assert code == 2 and list((tmp_path / "kept.idx").iterdir()) == []
    # the default place inside the folder is not left behind either
    code, _out, _err = run("build", str(empty), "-d", "phash")
    assert code == 2 and list(empty.iterdir()) == []


def test_search_on_an_empty_index_is_an_error_not_silence(folder: Path, tmp_path: Path) -> None:
    from lookalike.index import Index

    # an empty index, as a failed build of an earlier version left it
    Index.create(tmp_path / "empty.idx", descriptors=["phash"]).close()
    code, out, err = run_cli("search", str(folder / "coffee.jpg"), "--index", str(tmp_path / "empty.idx"))
    assert code == 2 and out == ""
    assert "holds no images" in err and "lookalike index build DIR --index" in err and err.count("\n") == 1


def test_remove_says_which_paths_were_not_indexed(folder: Path, tmp_path: Path) -> None:
    index = tmp_path / "photos.idx"
    assert run("build", str(folder), "--index", str(index), "-d", "phash", "-j", "1")[0] == 0
    stranger = tmp_path / "stranger.jpg"
    shutil.copy(folder / "coffee.jpg", stranger)
    # nothing given is in the index: said, and exit 2
    code, out, err = run("remove", str(stranger), str(tmp_path / "gone.png"), "--index", str(index))
    assert code == 2
    assert out == "removed 0 files from the index; 3 images left\n"
    assert f"lookalike: not removed: {stranger}: it is not in the index {index}\n" in err
    assert f"lookalike: not removed: {tmp_path / 'gone.png'}: it is not in the index" in err
    assert err.endswith("lookalike: error: none of the paths given was in the index\n")
    # one indexed, one not: the job ran (exit 0), the stranger is named
    code, out, err = run("remove", str(folder / "coffee.jpg"), str(stranger), "--index", str(index))
    assert code == 0 and out == "removed 1 file from the index; 2 images left\n"
    assert err == f"lookalike: not removed: {stranger}: it is not in the index {index}\n"
    # a folder stands for every file indexed under it
    code, out, err = run("remove", str(folder), "--index", str(index))
    assert code == 0 and out == "removed 2 files from the index; 0 images left\n" and err == ""
    code, out, err = run("remove", str(folder), "--index", str(index))
    assert code == 2 and f"lookalike: not removed: {folder}: no file under it is in the index {index}\n" in err


def test_a_nul_character_in_a_path_is_a_clear_error(folder: Path, tmp_path: Path) -> None:
    from lookalike.errors import ParameterError
    from lookalike.index import Index

    with pytest.raises(ParameterError, match="NUL character"):
        Index.create(tmp_path / "idx\0", descriptors=["phash"])
    with Index.create(tmp_path / "ok.idx", descriptors=["phash"]) as index:
        assert index.held([str(folder / "x\0.png")]) == [0]
        assert index.remove([str(folder / "x\0.png")]) == 0
        assert index.ids_of([str(folder / "x\0.png")]).tolist() == [-1]


@pytest.mark.parametrize(("action", "words"), [
    ("add", "Add image files to an existing index"),
    ("remove", "Drop files from an index"),
    ("info", "Describe an index"),
])
def test_every_action_has_a_description(action: str, words: str) -> None:
    code, out, _err = run(action, "--help")
    assert code == 0 and words in out
