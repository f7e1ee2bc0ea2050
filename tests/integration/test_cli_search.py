"""``lookalike search``: ranked percentages, JSON Lines, a folder without an index, unreadable queries."""

from __future__ import annotations

import io
import json
import re
import shutil
from functools import partial
from pathlib import Path

import pytest
from PIL import Image

from lookalike.cli import main
from tests.index.conftest import make_photos
from tests.integration.runner import run_cli

pytest.importorskip("faiss")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("cli-search-photos")
    make_photos(folder, ("astronaut", "camera", "chelsea", "coffee"), longest=320)
    index = tmp_path_factory.mktemp("cli-search-index") / "idx"
    code = main(["index", "build", str(folder), "--index", str(index), "-j", "1"], stdout=io.StringIO(),
                stderr=io.StringIO())
    assert code == 0
    return folder, index


@pytest.fixture(scope="module")
def queries(tmp_path_factory: pytest.TempPathFactory, indexed: tuple[Path, Path]) -> Path:
    folder, _index = indexed
    out = tmp_path_factory.mktemp("cli-search-queries")
    Image.open(folder / "chelsea.jpg").transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(out / "cat mirrored.jpg")
    Image.open(folder / "coffee.jpg").save(out / "coffee-q20.jpg", quality=20)
    (out / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    return out


run = partial(run_cli, "search")


def test_ranked_results_as_percentages(indexed: tuple[Path, Path], queries: Path) -> None:
    _folder, index = indexed
    code, out, err = run(str(queries / "cat mirrored.jpg"), str(queries / "coffee-q20.jpg"), "--index", str(index),
                         "--top", "2")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == str(queries / "cat mirrored.jpg")
    first = re.match(r"^\s+1\s+(\d+(?:\.\d)?)%\s+(.+)$", lines[1])
    assert first and Path(first.group(2)).name == "chelsea.jpg" and float(first.group(1)) >= 70
    assert re.match(r"^\s+2\s+(\d+(\.\d)?|<1)%\s+/", lines[2])  # an unrelated photo: "<1%"
    assert lines[3] == str(queries / "coffee-q20.jpg") and lines[4].endswith("coffee.jpg")
    assert len(lines) == 6


def test_json_lines_one_object_per_query(indexed: tuple[Path, Path], queries: Path) -> None:
    _folder, index = indexed
    code, out, _err = run(str(queries / "cat mirrored.jpg"), str(queries / "coffee-q20.jpg"), "-i", str(index),
                          "--json", "--min-similarity", "70%")
    assert code == 0
    objects = [json.loads(line) for line in out.splitlines()]
    assert [o["query"] for o in objects] == [str(queries / "cat mirrored.jpg"), str(queries / "coffee-q20.jpg")]
    for o in objects:
        assert set(o) == {"query", "kind", "similarity_scale", "results"} and o["kind"] == "copy"
        assert o["similarity_scale"] == "calibrated-copy"
        # SearchResult.to_dict(): the document the web API returns too (there without path), with the full path
        assert o["results"] and all(set(r) == {"id", "name", "path", "similarity", "evidence"}
                                    and 0.7 <= r["similarity"] <= 1 for r in o["results"])
    assert Path(objects[0]["results"][0]["path"]).name == "chelsea.jpg"
    assert objects[0]["results"][0]["name"] == "chelsea.jpg"  # relative to the indexed folder


def test_no_verify_and_semantic(indexed: tuple[Path, Path], queries: Path) -> None:
    _folder, index = indexed
    for extra in (["--no-verify"], ["--kind", "semantic"], ["--no-verify", "--views", "1"]):
        code, out, err = run(str(queries / "coffee-q20.jpg"), "--index", str(index), "--json", "-k", "1", *extra)
        assert code == 0, err
        assert Path(json.loads(out)["results"][0]["path"]).name == "coffee.jpg"
    for views in ("0", "5"):
        code, _out, err = run(str(queries / "coffee-q20.jpg"), "--index", str(index), "--views", views)
        assert code == 2 and "--views" in err


def test_an_unreadable_query_is_one_error_line_the_others_are_answered(
        indexed: tuple[Path, Path], queries: Path) -> None:
    _folder, index = indexed
    code, out, err = run(str(queries / "broken.jpg"), str(queries / "coffee-q20.jpg"), "--index", str(index),
                         "--json", "-k", "1")
    assert code == 0  # the job ran: the unreadable query is listed, the other answered (the README's rule)
    assert err.count("\n") == 1 and err.startswith("lookalike: error: cannot read image") and "broken.jpg" in err
    # JSON Lines keep one record per query: the failed one says why (issue 11 item 19), it is not dropped
    failed, answered = [json.loads(line) for line in out.splitlines()]
    assert failed["query"].endswith("broken.jpg") and failed["results"] == []
    assert failed["error"].startswith("cannot read image")
    assert answered["query"].endswith("coffee-q20.jpg") and "error" not in answered
    # every query failed: exit 2
    code, out, err = run(str(queries / "broken.jpg"), "--index", str(index), "-k", "1")
    assert code == 2 and out == "" and "broken.jpg" in err


def test_search_a_folder_without_an_index(indexed: tuple[Path, Path], queries: Path, tmp_path: Path) -> None:
    folder, _index = indexed
    photos = Path(shutil.copytree(folder, tmp_path / "photos"))
    before = sorted(p.name for p in photos.iterdir())
    code, out, err = run(str(queries / "cat mirrored.jpg"), str(photos), "-k", "1", "-j", "1")
    assert code == 0, err
    assert out.splitlines()[1].endswith("chelsea.jpg")
    assert sorted(p.name for p in photos.iterdir()) == before  # the temporary index went elsewhere
    # --no-recursive: the folder's own files only (chelsea moved into a sub-folder drops out)
    (photos / "sub").mkdir()
    (photos / "chelsea.jpg").rename(photos / "sub" / "chelsea.jpg")
    code, out, err = run(str(queries / "cat mirrored.jpg"), str(photos), "--json", "-j", "1")
    assert code == 0, err
    assert json.loads(out)["results"][0]["name"] == "sub/chelsea.jpg"
    code, out, err = run(str(queries / "cat mirrored.jpg"), str(photos), "--json", "-j", "1", "--no-recursive")
    assert code == 0, err
    names = [r["name"] for r in json.loads(out)["results"]]
    assert names and "sub/chelsea.jpg" not in names and all("/" not in n for n in names)


def test_errors(indexed: tuple[Path, Path], queries: Path, tmp_path: Path) -> None:
    _folder, index = indexed
    code, _out, err = run(str(queries / "coffee-q20.jpg"))
    assert code == 2 and "--index" in err
    code, _out, err = run(str(queries / "coffee-q20.jpg"), "--index", str(tmp_path / "nowhere"))
    assert code == 2 and err.count("\n") == 1 and "no index" in err
    code, _out, err = run(str(queries / "coffee-q20.jpg"), "--index", str(index), "--min-similarity", "150%")
    assert code == 2 and "a fraction from 0 to 1 (0.7) or a percentage from 0% to 100% (70%)" in err
    code, _out, err = run(str(queries / "coffee-q20.jpg"), "--index", str(index), "--top", "0")
    assert code == 2
