"""One writer at a time: a second ``index update`` refuses with one clear line while searches keep working.

Issue 11 item 6: two updates at once both did all the work ("120 added" twice).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.index.conftest import make_photos
from tests.integration.runner import run_cli

pytest.importorskip("faiss")


def _cli(*argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "lookalike.cli", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})


def test_a_second_writer_is_refused_while_the_first_holds_the_index(tmp_path: Path, three_photos: Path) -> None:
    from lookalike.index import Index

    folder = Path(shutil.copytree(three_photos, tmp_path / "photos"))
    index_path = tmp_path / "photos.idx"
    code, _out, err = run_cli("index", "build", str(folder), "--index", str(index_path), "-d", "phash", "-j", "1")
    assert code == 0, err
    make_photos(folder, ("rocket",), longest=200)
    with Index.open(index_path) as index, index.writing():  # this test process is "the first update"
        update = _cli("index", "update", str(folder), "--index", str(index_path), "-j", "1")
        search = _cli("search", str(folder / "coffee.jpg"), "--index", str(index_path), "--top", "1", "-j", "1")
        out, err = update.communicate(timeout=300)
        assert update.returncode == 2 and out == ""
        assert err.startswith("lookalike: error: another process is changing the index at ")
        assert f"process {os.getpid()}" in err and "searching the index works meanwhile" in err
        assert err.count("\n") == 1
        out, err = search.communicate(timeout=300)
        assert search.returncode == 0 and "coffee.jpg" in out, err
        assert len(index) == 3  # the refused update wrote nothing
    # the lock goes with the writer: now the update runs
    code, out, err = run_cli("index", "update", str(folder), "--index", str(index_path), "-j", "1")
    assert code == 0 and "1 added" in out, err


def test_two_updates_at_once_do_the_work_once(tmp_path: Path) -> None:
    from lookalike.index import Index

    folder = tmp_path / "photos"
    make_photos(folder, longest=256)
    index_path = tmp_path / "photos.idx"
    Index.create(index_path, descriptors=["phash", "rootsift"]).close()
    runs = [_cli("index", "update", str(folder), "--index", str(index_path), "-j", "1") for _ in range(2)]
    results = [(run.wait(timeout=300), *run.communicate()) for run in runs]
    added = [out for code, out, _err in results if code == 0 and "8 added" in out]
    refused = [err for code, _out, err in results if code == 2 and "another process is changing the index" in err]
    current = [out for code, out, _err in results if code == 0 and "0 added" in out]  # the second came after
    assert len(added) == 1 and len(refused) + len(current) == 1, results
    with Index.open(index_path) as index:
        assert len(index) == 8


def test_build_force_does_not_delete_an_index_another_process_is_changing(tmp_path: Path, three_photos: Path) -> None:
    """``index build --force`` deleted the catalogue (and the writer lock file) under a running update."""
    from lookalike.index import Index

    folder = Path(shutil.copytree(three_photos, tmp_path / "photos"))
    index_path = tmp_path / "photos.idx"
    code, _out, err = run_cli("index", "build", str(folder), "--index", str(index_path), "-d", "phash", "-j", "1")
    assert code == 0, err
    with Index.open(index_path) as index, index.writing():  # this test process is the running update
        before = sorted(p.name for p in index_path.iterdir())
        code, out, err = run_cli("index", "build", str(folder), "--index", str(index_path), "-d", "phash", "-j", "1",
                                 "--force")
        assert code == 2 and out == ""
        assert err.startswith("lookalike: error: another process is changing the index at "), err
        assert sorted(p.name for p in index_path.iterdir()) == before
        assert len(index) == 3


def test_build_force_with_a_bad_vectors_option_keeps_the_old_index(tmp_path: Path, three_photos: Path) -> None:
    folder = Path(shutil.copytree(three_photos, tmp_path / "photos"))
    index_path = tmp_path / "photos.idx"
    code, _out, err = run_cli("index", "build", str(folder), "--index", str(index_path), "-d", "phash", "-j", "1")
    assert code == 0, err
    code, _out, err = run_cli("index", "build", str(folder), "--index", str(index_path), "--force", "-j", "1",
                              "--vectors", "milvus-lite:///x.db", "--backend", "flat")
    assert code == 2 and "leave out --backend flat" in err
    assert (index_path / "manifest.json").is_file()
    code, out, err = run_cli("index", "info", "--index", str(index_path))
    assert code == 0 and "images:         3" in out, err


def test_build_backend_on_an_existing_index_is_refused_not_ignored(tmp_path: Path, three_photos: Path) -> None:
    folder = Path(shutil.copytree(three_photos, tmp_path / "photos"))
    index_path = tmp_path / "photos.idx"
    code, _out, err = run_cli("index", "build", str(folder), "--index", str(index_path), "-d", "phash", "-j", "1")
    assert code == 0, err
    code, out, err = run_cli("index", "build", str(folder), "--index", str(index_path), "--backend", "hnsw", "-j", "1")
    assert code == 2 and out == ""
    assert "was built with --backend auto" in err and "--force" in err, err
    code, _out, err = run_cli("index", "build", str(folder), "--index", str(index_path), "--backend", "auto",
                              "-j", "1")
    assert code == 0, err
