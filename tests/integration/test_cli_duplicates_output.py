"""``duplicates`` output: hard links reported as such and never moved (issue 11 item 18); a keeper marked
``exact`` only when its group is, the CSV header naming ``size`` as the JSON does, file names with line
breaks escaped in text output (item 19)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from lookalike.pipelines import find_duplicates, move_duplicates
from tests.index.conftest import make_photos
from tests.integration.runner import run_cli

pytest.importorskip("faiss")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """camera.png with a hard link, coffee.jpg with a byte copy, astronaut.jpg with a copy named with a line break."""
    folder = tmp_path / "photos"
    make_photos(folder, ("astronaut", "camera", "coffee"), longest=160)
    os.link(folder / "camera.png", folder / "camera_link.png")
    shutil.copyfile(folder / "coffee.jpg", folder / "coffee_copy.jpg")
    shutil.copyfile(folder / "astronaut.jpg", folder / "astronaut_\nb.jpg")
    return folder


def test_a_hard_link_is_reported_as_one_and_not_moved(folder: Path, tmp_path: Path) -> None:
    report = find_duplicates(folder, min_similarity=1.0, verify=False, jobs=1)
    members = {Path(m.path).name: m for g in report.groups for m in g.members}
    assert members["camera_link.png"].hard_link and members["camera_link.png"].exact
    assert not members["coffee_copy.jpg"].hard_link
    moved = move_duplicates(report, tmp_path / "review")
    assert sorted(Path(src).name for src, _dst in moved.moved) == ["astronaut_\nb.jpg", "coffee_copy.jpg"]
    assert (folder / "camera_link.png").exists()


def test_text_csv_and_json_say_the_same_thing(folder: Path) -> None:
    code, out, err = run_cli("duplicates", str(folder), "-s", "100%", "--no-verify", "-j", "1")
    assert code == 0, err
    assert "hard link of the keeper (the same file: moving it frees nothing)" in out
    assert repr(str((folder / "astronaut_\nb.jpg").resolve())) in out  # escaped: one file, one line
    assert all(line.startswith(("3 groups", "group", "  ")) or line == "" for line in out.splitlines())
    code, out, _err = run_cli("duplicates", str(folder), "-s", "100%", "--no-verify", "-j", "1", "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["group", "role", "path", "similarity", "exact", "hard_link", "width", "height", "size",
                             "via"]
    link = next(r for r in rows if r["path"].endswith("camera_link.png"))
    assert link["hard_link"] == "1" and link["size"] == str((folder / "camera.png").stat().st_size)
    code, out, _err = run_cli("duplicates", str(folder), "-s", "100%", "--no-verify", "-j", "1", "--json")
    groups = json.loads(out)["groups"]
    assert {g["keeper"]["exact"] for g in groups} == {True}
    assert sum(d["hard_link"] for g in groups for d in g["duplicates"]) == 1


def test_the_keeper_of_a_near_duplicate_group_is_not_marked_exact(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    folder = tmp_path / "photos"
    make_photos(folder, ("chelsea", "camera"), longest=320)
    Image.open(folder / "chelsea.jpg").save(folder / "chelsea-q30.jpg", quality=30)
    report = find_duplicates(folder, jobs=1)
    [group] = report.groups
    assert not group.members[0].exact and not group.exact
    assert group.keeper.exact is False and group.to_dict()["keeper"]["exact"] is False


def test_symbolic_links_are_followed_as_index_build_and_matrix_do(tmp_path: Path) -> None:
    """One rule (README): a link to an image is followed; the file is known by its real path."""
    outside = tmp_path / "elsewhere"
    make_photos(outside, ("coffee",), longest=160)
    folder = tmp_path / "photos"
    make_photos(folder, ("coffee", "camera"), longest=160)
    (folder / "linked-coffee.jpg").symlink_to(outside / "coffee.jpg")
    report = find_duplicates(folder, min_similarity=1.0, verify=False, jobs=1)
    [group] = report.groups
    assert {Path(m.path).parent.name for m in group.files} == {"photos", "elsewhere"}
    assert report.files == 3
    # a link to a file inside the folder is the same file, never its own duplicate
    (folder / "camera-again.png").symlink_to(folder / "camera.png")
    assert len(find_duplicates(folder, min_similarity=1.0, verify=False, jobs=1).groups) == 1


def test_skip_lists_show_every_file_the_same_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 11 item 19: a file refused when listed showed as given (relative), one that failed to decode
    as an absolute path; now both are the real absolute path, in duplicates and index build alike."""
    folder = tmp_path / "p"
    make_photos(folder, ("camera", "coffee"), longest=64)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "trunc.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"x" * 50)
    monkeypatch.chdir(tmp_path)
    real = tmp_path.resolve() / "p"
    code, _out, err = run_cli("duplicates", "p", "-j", "1", "--no-verify")
    assert code == 0
    assert sorted(line.split(": ")[1].split("skipped ")[1] for line in err.splitlines()) == [
        str(real / "empty.jpg"), str(real / "trunc.jpg")]
    code, _out, err = run_cli("index", "build", "p", "--index", "idx", "-d", "phash", "-j", "1")
    assert code == 0
    assert sorted(line.split(": ")[0].strip() for line in err.splitlines()[1:]) == [
        str(real / "empty.jpg"), str(real / "trunc.jpg")]


def test_an_html_page_that_cannot_be_written_is_refused_before_the_search(tmp_path: Path) -> None:
    """--html into a missing folder raised FileNotFoundError (a traceback) after the whole search."""
    make_photos(tmp_path / "photos", ("camera",), longest=64)
    code, out, err = run_cli("duplicates", str(tmp_path / "photos"), "--html", str(tmp_path / "nowhere" / "r.html"),
                             "-j", "1")
    assert code == 2 and out == "" and "Traceback" not in err
    assert err == (f"lookalike: error: cannot write {str(tmp_path / 'nowhere' / 'r.html')!r}: folder "
                   f"{str(tmp_path / 'nowhere')!r} does not exist; create it or choose another --html\n")


def test_the_page_does_not_name_the_default_keeper_rule_when_another_was_chosen() -> None:
    from lookalike.pipelines import DuplicateReport
    from lookalike.viz import duplicates_html

    page = duplicates_html(DuplicateReport((), ("/photos",), 3, 0.85))
    assert "most pixels, then largest file" not in page and "--keep" in page
