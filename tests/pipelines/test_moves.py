"""Moves that cannot happen leave everything as it was (issue 11 item 8); the review folder is never scanned
and undo run twice says "already restored" (item 17).

Root ignores permission bits: the real read-only folder is a read-only bind mount in a
user namespace (``unshare -rm``, skipped where the kernel forbids it); a folder whose files
cannot be deleted half-way through is an injected ``PermissionError``.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from pathlib import Path

import pytest

from lookalike.errors import ParameterError
from lookalike.pipelines import DuplicateReport, find_duplicates, move_duplicates, undo_moves
from tests.index.conftest import make_photos
from tests.integration.runner import in_read_only_mount, run_cli

pytest.importorskip("faiss")


@pytest.fixture(scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three photos and two byte copies of them in a sub-folder: two exact duplicates to move."""
    folder = tmp_path_factory.mktemp("moves") / "photos"
    make_photos(folder, ("astronaut", "camera", "coffee"), longest=160)
    (folder / "backup").mkdir()
    shutil.copyfile(folder / "camera.png", folder / "backup" / "camera.png")
    shutil.copyfile(folder / "coffee.jpg", folder / "backup" / "coffee.jpg")
    return folder


@pytest.fixture
def folder(tmp_path: Path, _template: Path) -> Path:
    return Path(shutil.copytree(_template, tmp_path / "photos"))


@pytest.fixture
def report(folder: Path) -> DuplicateReport:
    found = find_duplicates(folder, min_similarity=1.0, verify=False, jobs=1)
    assert found.duplicates == 2
    return found


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_a_read_only_folder_is_refused_before_anything_moves(folder: Path, tmp_path: Path) -> None:
    review = tmp_path / "review"
    before = _files(folder)
    line = shlex.join([sys.executable, "-m", "lookalike.cli", "duplicates", str(folder), "-s", "100%",
                       "--move-to", str(review), "-j", "1"])
    done = in_read_only_mount(str(folder), line)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
    assert "read-only medium" in done.stderr and "nothing was moved" in done.stderr
    assert _files(folder) == before
    assert _files(review) == []  # no stray copy, no manifest with 0 moves


def _deny_delete(monkeypatch: pytest.MonkeyPatch, victim: str) -> None:
    real_unlink = os.unlink

    def unlink(path: str | os.PathLike[str], *args: object, **kwargs: object) -> None:
        if os.fspath(path) == victim:
            raise PermissionError(13, "Permission denied", victim)
        real_unlink(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "unlink", unlink)


def test_a_file_that_cannot_be_deleted_leaves_no_copy_and_a_manifest_of_what_moved(
        report: DuplicateReport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    review = tmp_path / "review"
    victims = [m.path for g in report.groups for m in g.members]
    _deny_delete(monkeypatch, victims[-1])  # the last of the two moves fails
    with pytest.raises(ParameterError, match="Permission denied; 1 file moved before it") as caught:
        move_duplicates(report, review, manifest=tmp_path / "m.json")
    assert "lookalike duplicates --undo" in str(caught.value)
    assert os.path.isfile(victims[-1])
    manifest = json.loads((tmp_path / "m.json").read_text())
    assert [m["from"] for m in manifest["moves"]] == victims[:1]
    assert _files(review) == [str(Path(manifest["moves"][0]["to"]).relative_to(review))]  # no stray copy
    monkeypatch.undo()
    assert len(undo_moves(tmp_path / "m.json").moved) == 1


def test_when_the_first_move_fails_nothing_is_left(report: DuplicateReport, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    review = tmp_path / "review"
    first = report.groups[0].members[0].path
    _deny_delete(monkeypatch, first)
    with pytest.raises(ParameterError, match="nothing was moved"):
        move_duplicates(report, review)
    assert os.path.isfile(first) and _files(review) == []


def test_a_review_folder_inside_the_searched_folder_is_refused_before_the_search(folder: Path) -> None:
    before = _files(folder)
    for inside in (folder / "review", folder, folder / "backup" / "deeper"):
        code, out, err = run_cli("duplicates", str(folder), "-s", "100%", "--move-to", str(inside), "-j", "1")
        assert code == 2 and out == ""
        assert err == (f"lookalike: error: the destination {str(inside)!r} is inside the searched folder "
                       f"{str(folder)!r}: the moved files would be found again by the next search; choose a folder "
                       "outside it\n")
    assert _files(folder) == before and not (folder / "review").exists()
    # through a symbolic link too
    (folder.parent / "link").symlink_to(folder)
    code, _out, err = run_cli("duplicates", str(folder), "--move-to", str(folder.parent / "link" / "r"), "-j", "1")
    assert code == 2 and "inside the searched folder" in err


def test_undo_run_twice_says_already_restored(report: DuplicateReport, tmp_path: Path) -> None:
    moved = move_duplicates(report, tmp_path / "review")
    assert moved.manifest is not None and len(moved.moved) == 2
    code, out, err = run_cli("duplicates", "--undo", moved.manifest)
    assert (code, out, err) == (0, "put back 2 files\n", "")
    code, out, err = run_cli("duplicates", "--undo", moved.manifest)
    assert (code, out, err) == (0, "put back 0 files; 2 already restored (in place, unchanged)\n", "")
    assert undo_moves(moved.manifest).already_restored == tuple(reversed([src for src, _dst in moved.moved]))


@pytest.mark.parametrize("kind", ["hard", "symbolic"])
def test_link_leaves_a_link_to_the_keeper_and_undo_puts_the_file_back(folder: Path, tmp_path: Path,
                                                                        kind: str) -> None:
    import hashlib

    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}
    review = tmp_path / "review"
    code, out, err = run_cli("duplicates", str(folder), "-s", "100%", "--no-verify", "-j", "1",
                             "--move-to", str(review), "--link", kind)
    assert code == 0, err
    for name in ("camera.png", "coffee.jpg"):
        place, keeper = folder / name, folder / "backup" / name  # the keeper: the same pixels, the first path
        assert (place.is_symlink() and os.readlink(place) == str(keeper.resolve())) if kind == "symbolic" else (
            not place.is_symlink() and place.samefile(keeper))
        assert (review / name).is_file()
    manifest = out.splitlines()[-1].split("--undo ", 1)[1]
    assert {m["link"] for m in json.loads(Path(manifest).read_text())["moves"]} == {kind}
    code, out, err = run_cli("duplicates", "--undo", manifest)
    assert (code, out, err) == (0, "put back 2 files\n", "")
    assert not (folder / "camera.png").is_symlink()
    assert not (folder / "camera.png").samefile(folder / "backup" / "camera.png")
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()} == before
    code, _out, err = run_cli("duplicates", str(folder), "--link", kind)
    assert code == 2 and "give --move-to DEST too" in err


def _keepers(*options: str, folder: Path) -> dict[str, str]:
    code, out, err = run_cli("duplicates", str(folder), "-s", "100%", "--no-verify", "-j", "1", "--json", *options)
    assert code == 0, err
    root = folder.resolve()
    return {Path(g["keeper"]["path"]).name: str(Path(g["keeper"]["path"]).relative_to(root))
            for g in json.loads(out)["groups"]}


def test_keep_include_exclude_and_min_size_choose_the_files(folder: Path) -> None:
    # the default keeps the first path of the same pixels and size: the copy in backup/
    assert _keepers(folder=folder) == {"camera.png": "backup/camera.png", "coffee.jpg": "backup/coffee.jpg"}
    assert _keepers("--keep", "shortest-path", folder=folder) == {"camera.png": "camera.png",
                                                                  "coffee.jpg": "coffee.jpg"}
    assert _keepers("--keep", "pattern:*/backup/*", folder=folder) == {"camera.png": "backup/camera.png",
                                                                       "coffee.jpg": "backup/coffee.jpg"}
    info = (folder / "coffee.jpg").stat()
    os.utime(folder / "coffee.jpg", ns=(info.st_atime_ns, info.st_mtime_ns + 10**10))
    assert _keepers("--keep", "newest", folder=folder)["coffee.jpg"] == "coffee.jpg"
    assert _keepers("--keep", "oldest", folder=folder)["coffee.jpg"] == "backup/coffee.jpg"
    assert _keepers("--exclude", "*/backup/*", folder=folder) == {}
    assert set(_keepers("--include", "*.png", folder=folder)) == {"camera.png"}
    sizes = {name: (folder / name).stat().st_size for name in ("camera.png", "coffee.jpg")}
    larger = max(sizes, key=lambda n: sizes[n])
    assert set(_keepers("--min-size", str(min(sizes.values()) + 1), folder=folder)) == {larger}
    code, _out, err = run_cli("duplicates", str(folder), "--keep", "prettiest")
    assert code == 2 and "expected one of pixels, largest, oldest, newest, shortest-path, pattern:GLOB" in err
    code, _out, err = run_cli("duplicates", str(folder), "--min-size", "lots")
    assert code == 2 and "expected a size in bytes" in err


def test_a_file_outside_the_folder_reached_through_a_link_is_not_moved(tmp_path: Path, _template: Path) -> None:
    """The index knows a linked file by its real path; moving it would move a file of another folder into
    DEST/<its absolute path> and leave the link in the searched folder pointing at nothing."""
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copyfile(_template / "camera.png", folder / "camera.png")
    elsewhere = tmp_path / "zz-elsewhere"  # sorts after photos/: the linked file is the duplicate, not the keeper
    elsewhere.mkdir()
    shutil.copyfile(_template / "camera.png", elsewhere / "original.png")
    (folder / "link.png").symlink_to(elsewhere / "original.png")
    report = find_duplicates(folder, min_similarity=1.0, verify=False, jobs=1)
    assert [m.path for g in report.groups for m in g.members] == [str((elsewhere / "original.png").resolve())]
    moved = move_duplicates(report, tmp_path / "review")
    assert moved.moved == ()
    assert len(moved.problems) == 1 and "outside the searched folder" in moved.problems[0]
    assert (elsewhere / "original.png").is_file() and (folder / "link.png").resolve().is_file()
    code, out, err = run_cli("duplicates", str(folder), "-s", "100%", "--no-verify", "-j", "1",
                             "--move-to", str(tmp_path / "review2"))
    assert code == 0 and "moved 0 files" in out
    assert err.startswith("lookalike: not moved: ") and "outside the searched folder" in err
    assert (elsewhere / "original.png").is_file()


def test_a_vanished_keeper_or_a_changed_file_is_refused_before_anything_moves(
        report: DuplicateReport, tmp_path: Path) -> None:
    group = report.groups[0]
    keeper, member = Path(group.keeper.path), Path(group.members[0].path)
    keeper_bytes = keeper.read_bytes()
    keeper.unlink()  # the index is stale: its duplicates would be the last copies
    with pytest.raises(ParameterError, match=r"the keeper .* no longer exists.*nothing was moved"):
        move_duplicates(report, tmp_path / "review")
    keeper.write_bytes(keeper_bytes)
    with member.open("ab") as handle:  # edited since the search: no longer the duplicate the report found
        handle.write(b"\0")
    with pytest.raises(ParameterError, match=r"changed since it was indexed.*nothing was moved"):
        move_duplicates(report, tmp_path / "review")
    assert all(os.path.isfile(m.path) for g in report.groups for m in g.files)
    assert _files(tmp_path / "review") == []


def test_a_link_that_fails_after_its_move_keeps_the_moved_file_in_the_manifest(
        report: DuplicateReport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file is moved, the link cannot be made and the file cannot be moved back: the manifest must still
    list it, or --undo could never put it back."""
    from lookalike.pipelines import _moves

    first = report.groups[0].members[0].path

    def no_link(*args: object, **kwargs: object) -> None:
        raise OSError(95, "Operation not supported")

    real = _moves._move_no_overwrite
    calls: list[str] = []

    def move(src: str, dst: str) -> None:
        calls.append(src)
        if len(calls) > 1:  # the move back
            raise PermissionError(13, "Permission denied", src)
        real(src, dst)

    monkeypatch.setattr(os, "symlink", no_link)
    monkeypatch.setattr(_moves, "_move_no_overwrite", move)
    with pytest.raises(ParameterError, match="this one left at the destination") as caught:
        move_duplicates(report, tmp_path / "review", manifest=tmp_path / "m.json", link="symbolic")
    assert "--undo" in str(caught.value)
    entries = json.loads((tmp_path / "m.json").read_text())["moves"]
    assert [e["from"] for e in entries] == [first]
    monkeypatch.undo()
    assert undo_moves(tmp_path / "m.json").moved == ((entries[0]["to"], first),)
    assert os.path.isfile(first)


def test_a_hard_link_to_a_keeper_on_another_file_system_is_refused_before_anything_moves(
        report: DuplicateReport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keeper = report.groups[-1].keeper.path
    real_stat = os.stat

    def stat(path: str | os.PathLike[str], *args: object, **kwargs: object) -> os.stat_result:
        info = real_stat(path, *args, **kwargs)  # type: ignore[arg-type]
        if os.fspath(path) != keeper:
            return info
        fields = list(info)
        fields[2] = info.st_dev + 1  # st_dev
        return os.stat_result(fields)

    monkeypatch.setattr(os, "stat", stat)
    with pytest.raises(ParameterError, match="another file system; use --link symbolic; nothing was moved"):
        move_duplicates(report, tmp_path / "review", link="hard")
    monkeypatch.undo()
    assert all(os.path.isfile(m.path) for g in report.groups for m in g.files)
    assert _files(tmp_path / "review") == []


def test_an_undo_that_puts_nothing_back_says_why_under_quiet_too(report: DuplicateReport, tmp_path: Path) -> None:
    """--quiet keeps errors only; the lines that said why nothing came back were notes, so a failed undo exited
    2 with nothing on stderr."""
    moved = move_duplicates(report, tmp_path / "review")
    assert moved.manifest is not None
    for _src, dst in moved.moved:
        os.unlink(dst)  # the moved files are gone from the review folder
    code, out, err = run_cli("duplicates", "--undo", moved.manifest, "--quiet")
    assert code == 2 and out == "put back 0 files\n"
    lines = err.splitlines()
    assert len(lines) == 2 and all(line.startswith("lookalike: error: not put back: ") for line in lines), err
    assert all("no longer there" in line for line in lines)
