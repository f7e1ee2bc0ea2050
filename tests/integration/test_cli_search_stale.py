"""A stale index: results deleted since indexing are marked, counted, and ``index update`` is suggested
(issue 11 item 5: ``search --index`` listed a deleted file at 95% with no warning)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.integration.runner import run_cli

pytest.importorskip("faiss")


def test_a_deleted_file_is_left_out_named_and_an_update_suggested(tmp_path: Path, three_photos: Path) -> None:
    from lookalike.pipelines import search

    folder = Path(shutil.copytree(three_photos, tmp_path / "photos"))
    index = tmp_path / "photos.idx"
    code, _out, err = run_cli("index", "build", str(folder), "--index", str(index), "-d", "phash", "-d", "rootsift",
                              "-j", "1")
    assert code == 0, err
    query = tmp_path / "query.jpg"
    shutil.copyfile(folder / "coffee.jpg", query)
    code, out, _err = run_cli("search", str(query), "--index", str(index), "--top", "1")
    assert code == 0 and out.splitlines()[1].endswith("coffee.jpg")
    (folder / "coffee.jpg").unlink()

    code, out, err = run_cli("search", str(query), "--index", str(index), "--top", "1", "-s", "90%")
    assert code == 0
    gone = str((folder / "coffee.jpg").resolve())
    assert out == f"{query}\n    1    100%  {gone}  (no longer on disk)\n"
    assert err == (f"lookalike: note: 1 result of {query} is no longer on disk ({gone}); the index is "
                   f"out of date: run `lookalike index update DIR --index {index}`\n")
    code, out, err = run_cli("search", str(query), "--index", str(index), "--top", "1", "-s", "90%", "--json")
    assert code == 0 and json.loads(out)["missing"] == [gone] and json.loads(out)["results"][0]["path"] == gone
    [result] = search([query], index, top=1, min_similarity=0.9)
    assert result.missing == (gone,) and [hit.path for hit in result.results] == [gone]
    assert result.to_dict()["missing"] == [gone]
    # after the update the note is gone
    assert run_cli("index", "update", str(folder), "--index", str(index), "-j", "1")[0] == 0
    code, out, err = run_cli("search", str(query), "--index", str(index), "--top", "1", "-s", "90%")
    assert (code, out, err) == (0, f"{query}\n  no results at or above 90%\n", "")


def test_the_stale_note_names_a_query_with_a_line_break_on_one_line(tmp_path: Path, three_photos: Path) -> None:
    folder = Path(shutil.copytree(three_photos, tmp_path / "photos"))
    index = tmp_path / "photos.idx"
    code, _out, err = run_cli("index", "build", str(folder), "--index", str(index), "-d", "phash", "-j", "1")
    assert code == 0, err
    query = tmp_path / "que\nry.jpg"
    shutil.copyfile(folder / "coffee.jpg", query)
    (folder / "coffee.jpg").unlink()
    code, out, err = run_cli("search", str(query), "--index", str(index), "--top", "1", "--no-verify")
    assert code == 0, err
    assert err.count("\n") == 1 and repr(str(query)) in err, err
    assert out.splitlines()[0] == repr(str(query))


def test_a_folder_alone_is_not_called_not_a_folder(tmp_path: Path, three_photos: Path) -> None:
    code, out, err = run_cli("search", str(three_photos))
    assert code == 2 and out == ""
    assert "is not a folder" not in err and f"only the folder {str(three_photos)!r} was given" in err, err
