"""An index on a read-only medium is searched, never called damaged; a damaged one gets a command that rebuilds it.

Issue 11 item 11. Root ignores permission bits, so the real read-only medium is a
read-only bind mount made in a user namespace (``unshare -rm``, skipped where the
kernel forbids it); the same rules are also checked in-process with write permission
denied (``os.access``) and with SQLite refusing the write (an injected read-only error).
"""

from __future__ import annotations

import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.runner import in_read_only_mount, run_cli

pytest.importorskip("faiss")


@pytest.fixture
def built(tmp_path: Path, three_photos: Path) -> tuple[Path, Path]:
    """(photos, index): a healthy phash + rootsift index of three photos, closed cleanly."""
    folder = Path(shutil.copytree(three_photos, tmp_path / "photos"))
    index = tmp_path / "photos.idx"
    code, _out, err = run_cli("index", "build", str(folder), "--index", str(index), "-d", "phash", "-d", "rootsift",
                              "-j", "1")
    assert code == 0, err
    return folder, index


def _in_read_only_mount(index: Path, *commands: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Run lookalike commands in a user namespace where ``index`` is a read-only bind mount."""
    return [in_read_only_mount(str(index), shlex.join([sys.executable, "-m", "lookalike.cli", *argv]))
            for argv in commands]


def test_a_read_only_mount_is_searched_and_refuses_changes_as_read_only(built: tuple[Path, Path]) -> None:
    folder, index = built
    (folder / "camera.png").unlink()  # so update and duplicates would have something to write
    search, update, remove, duplicates = _in_read_only_mount(
        index,
        ["search", str(folder / "astronaut.jpg"), "--index", str(index), "--top", "1", "-j", "1"],
        ["index", "update", str(folder), "--index", str(index), "-j", "1"],
        ["index", "remove", str(folder / "coffee.jpg"), "--index", str(index)],
        ["duplicates", str(folder), "--index", str(index), "-j", "1"],
    )
    assert search.returncode == 0, search.stderr
    assert "astronaut.jpg" in search.stdout and "damaged" not in search.stderr
    for done in (update, remove, duplicates):
        assert done.returncode == 2, done.stderr
        assert "read-only" in done.stderr and "damaged" not in done.stderr and "Traceback" not in done.stderr
        assert done.stderr.count("\n") == 1
    assert sorted(p.name for p in index.iterdir()) == ["catalog.sqlite", "manifest.json", "vectors", "writer.lock"]


def test_without_write_permission_the_catalogue_opens_read_only(built: tuple[Path, Path],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from lookalike.errors import IndexReadOnlyError
    from lookalike.index import Index

    folder, index = built
    real_access = os.access

    def access(path: str | os.PathLike[str], mode: int, **kwargs: object) -> bool:
        if mode & os.W_OK and str(path).startswith(str(index)):
            return False  # what a non-root user gets in a folder without write permission
        return real_access(path, mode, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", access)
    with Index.open(index) as opened:
        assert opened.catalog.readonly and opened.catalog.mode == "ro"
        assert len(opened) == 3
        with pytest.raises(IndexReadOnlyError, match="read-only") as caught:
            opened.remove([folder / "coffee.jpg"])
        assert isinstance(caught.value, PermissionError) and "damaged" not in str(caught.value)
        assert len(opened) == 3
    code, out, err = run_cli("search", str(folder / "coffee.jpg"), "--index", str(index), "--top", "1", "-j", "1")
    assert code == 0 and "coffee.jpg" in out, err
    code, out, err = run_cli("index", "remove", str(folder / "coffee.jpg"), "--index", str(index))
    assert code == 2 and "read-only" in err and "damaged" not in err


def test_a_catalogue_sqlite_cannot_write_is_read_only_not_damaged(built: tuple[Path, Path]) -> None:
    """SQLite's own refusal (SQLITE_READONLY, as a read-only medium gives it) is a read-only error."""
    from lookalike.errors import IndexReadOnlyError
    from lookalike.index._catalog import Catalog

    _folder, index = built
    catalog = Catalog(str(index / "catalog.sqlite"))
    try:
        catalog._db.execute("PRAGMA query_only = ON")  # every write now fails with SQLITE_READONLY
        with pytest.raises(IndexReadOnlyError, match="read-only"):
            catalog.remove(["/nowhere.jpg"])
        assert not catalog._db.in_transaction
    finally:
        catalog.close()


def test_immutable_opening_is_used_only_without_a_write_ahead_log(built: tuple[Path, Path]) -> None:
    from lookalike.index._catalog import _has_log

    _folder, index = built
    path = index / "catalog.sqlite"
    assert not _has_log(str(path))  # a cleanly closed index: the log was checkpointed away
    db = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        assert db.execute("SELECT COUNT(*) FROM files").fetchone()[0] == 3
    finally:
        db.close()


def test_a_damaged_catalogue_names_the_command_that_rebuilds_it(built: tuple[Path, Path]) -> None:
    folder, index = built
    (index / "catalog.sqlite").write_bytes(b"this is not a database" * 100)
    code, out, err = run_cli("search", str(folder / "coffee.jpg"), "--index", str(index), "-j", "1")
    assert code == 2 and out == ""
    assert "damaged" in err and "lookalike index build DIR --index IDX --force" in err
    # without --force, build refuses in the same words; with it, the index is rebuilt and searched again
    code, _out, err = run_cli("index", "build", str(folder), "--index", str(index), "-d", "phash", "-j", "1")
    assert code == 2 and "--force" in err
    code, out, err = run_cli("index", "build", str(folder), "--index", str(index), "-d", "phash", "-j", "1", "--force")
    assert code == 0, err
    assert "3 added" in out
    code, out, err = run_cli("search", str(folder / "coffee.jpg"), "--index", str(index), "--top", "1", "-j", "1")
    assert code == 0 and "coffee.jpg" in out, err
