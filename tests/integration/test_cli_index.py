"""``lookalike index build|update|add|remove|info``: exit codes and what the user reads."""

from __future__ import annotations

import json
import os
import re
import shutil
from functools import partial
from pathlib import Path

import pytest

from lookalike.index import FORMAT_VERSION
from tests.index.conftest import make_photos
from tests.integration.runner import Terminal, run_cli

pytest.importorskip("faiss")


@pytest.fixture(scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli-index-template")
    make_photos(folder, ("astronaut", "camera", "chelsea", "coffee", "rocket"))
    return folder


@pytest.fixture
def folder(tmp_path: Path, _template: Path) -> Path:
    return Path(shutil.copytree(_template, tmp_path / "photos"))


run = partial(run_cli, "index")


def counts(text: str) -> dict[str, int]:
    return {word: int(n) for n, word in re.findall(r"(\d+) (added|changed|removed|unchanged|errors?)\b", text)}


def test_build_then_build_again_then_update(folder: Path) -> None:
    code, out, err = run("build", str(folder), "--descriptor", "phash", "-j", "1")
    assert code == 0, err
    assert out.startswith("built in ")
    assert counts(out) == {"added": 5, "changed": 0, "removed": 0, "unchanged": 0, "errors": 0}
    index = folder / ".lookalike-index"
    assert (index / "manifest.json").is_file()
    assert f"index: {index} (5 images, " in out
    # the same command again resumes / updates: nothing to do
    code, out, _ = run("build", str(folder), "-j", "1")
    assert code == 0 and out.startswith("updated in ")
    assert counts(out)["unchanged"] == 5
    # one deleted, one unreadable, one new
    (folder / "camera.png").unlink()
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    shutil.copy(folder / "rocket.jpg", folder / "rocket2.jpg")
    code, out, err = run("update", str(folder), "--index", str(index), "-j", "1")
    assert code == 0
    assert counts(out) == {"added": 1, "changed": 0, "removed": 1, "unchanged": 4, "error": 1}
    assert err.startswith("lookalike: 1 file could not be indexed:\n")
    assert f"  {(folder / 'broken.jpg').resolve()}: " in err


def test_add_remove_and_info(folder: Path, tmp_path: Path) -> None:
    index = tmp_path / "idx"
    assert run("build", str(folder), "--index", str(index), "-d", "phash", "-d", "dhash", "-d", "rootsift",
               "-j", "1")[0] == 0
    assert not (folder / ".lookalike-index").exists()
    extra = tmp_path / "extra.jpg"
    shutil.copy(folder / "coffee.jpg", extra)
    code, out, _ = run("add", str(extra), "--index", str(index), "-j", "1")
    assert code == 0 and counts(out)["added"] == 1 and "(6 images)" in out
    code, out, _ = run("remove", str(extra), str(folder / "rocket.jpg"), "--index", str(index))
    assert (code, out) == (0, "removed 2 files from the index; 4 images left\n")
    assert extra.exists()
    code, out, _ = run("info", "--index", str(index))
    assert code == 0
    assert f"index:          {index}\n" in out
    assert f"format version: {FORMAT_VERSION} (created by lookalike " in out
    assert "images:         4\n" in out and "descriptors:    phash, dhash, rootsift\n" in out
    assert "  phash:        binary, 4 vectors\n" in out
    assert re.search(r"  rootsift:     keypoints of 4 files, [\d.]+ (KB|MB)\n", out)
    assert re.search(r"size on disk:   [\d.]+ (KB|MB)\n", out)
    code, out, _ = run("info", "--index", str(index), "--json")
    data = json.loads(out)
    assert code == 0 and data["files"] == 4 and data["descriptors"] == ["phash", "dhash", "rootsift"]
    assert data["format_version"] == FORMAT_VERSION == 2 and data["stores"]["dhash"]["count"] == 4
    assert data["size_bytes"] > 0


def test_progress_bar_on_a_terminal_does_not_change_the_output(folder: Path) -> None:
    err = Terminal()
    code, out, shown = run("build", str(folder), "-d", "phash", "-j", "1", err=err)
    assert code == 0 and counts(out)["added"] == 5
    assert "indexing images" in shown  # the bar's label (lookalike.cli._progress)


@pytest.mark.parametrize("argv, message", [
    (["info", "--index", "{tmp}/nothing"], "no index at '{tmp}/nothing': the folder does not exist"),
    (["update", "{tmp}/empty", "--index", "{tmp}/idx"], "no index at"),
    (["build", "{tmp}/empty", "-d", "phash"], "found no images in '{tmp}/empty'"),
    (["build", "{tmp}/missing", "-d", "phash"], "no such folder: '{tmp}/missing'"),
    (["build", "{folder}", "-d", "phash", "--jobs", "0"], "--jobs must be at least 1, got 0"),
    (["add", "{folder}/rocket.jpg", "--index", "{folder}"], "is not a lookalike index"),
])
def test_errors_are_one_line_and_exit_code_2(folder: Path, tmp_path: Path, argv: list[str], message: str) -> None:
    (tmp_path / "empty").mkdir()
    argv = [a.format(tmp=tmp_path, folder=folder) for a in argv]
    code, out, err = run(*argv)
    assert code == 2 and out == ""
    assert err.startswith("lookalike: error: ") and err.count("\n") == 1
    assert message.format(tmp=tmp_path, folder=folder) in err


def test_a_newer_index_and_a_descriptor_mismatch_are_refused(folder: Path) -> None:
    assert run("build", str(folder), "-d", "phash", "-j", "1")[0] == 0
    code, _, err = run("build", str(folder), "-d", "dhash", "-j", "1")
    assert code == 2 and "holds the descriptors phash, not dhash" in err
    manifest = folder / ".lookalike-index" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["format_version"] = 99
    manifest.write_text(json.dumps(data))
    code, _, err = run("update", str(folder), "-j", "1")
    assert code == 2
    assert err == (f"lookalike: error: index at {os.path.abspath(folder / '.lookalike-index')} was written by "
                   f"format version 99; this lookalike reads up to {FORMAT_VERSION}: upgrade lookalike\n")


def test_help_lists_the_actions() -> None:
    code, out, _ = run("--help")
    assert code == 0
    for action in ("build", "update", "add", "remove", "info"):
        assert action in out
