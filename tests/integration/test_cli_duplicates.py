"""``lookalike duplicates``: text, JSON, CSV and HTML output; --move-to with a manifest and --undo."""

from __future__ import annotations

import csv
import io
import json
import shutil
from functools import partial
from pathlib import Path

import pytest
from PIL import Image

from tests.index.conftest import make_photos, photo
from tests.integration.runner import run_cli
from tests.pipelines.test_duplicates import tree_digest

pytest.importorskip("faiss")
pytest.importorskip("onnxruntime")

EVIL = '<img src=x onerror="alert(1)">.jpg'


@pytest.fixture(scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli-dup-template")
    make_photos(folder, ("astronaut", "camera", "coffee"), longest=320)
    (folder / "old").mkdir()
    shutil.copyfile(folder / "coffee.jpg", folder / "old" / "coffee.jpg")
    Image.fromarray(photo("astronaut", longest=320)).resize((160, 160)).save(folder / EVIL, quality=50)
    return folder


@pytest.fixture
def folder(tmp_path: Path, _template: Path) -> Path:
    return Path(shutil.copytree(_template, tmp_path / "photos"))


run = partial(run_cli, "duplicates")


def test_text_report_and_nothing_changes(folder: Path) -> None:
    before = tree_digest(folder)
    code, out, err = run(str(folder), "-j", "1")
    assert code == 0, err
    assert out.startswith("2 groups, 2 duplicates (1 exact) among 5 images, at a similarity of 85% or more")
    assert "  keeper  " in out and "exact copy" in out and EVIL in out
    assert tree_digest(folder) == before


def test_json_and_csv(folder: Path) -> None:
    code, out, _err = run(str(folder), "--json", "-j", "1")
    assert code == 0
    data = json.loads(out)
    assert data["files"] == 5 and len(data["groups"]) == 2
    keepers = sorted(Path(g["keeper"]["path"]).name for g in data["groups"])
    assert keepers == ["astronaut.jpg", "coffee.jpg"]
    code, out, _err = run(str(folder), "--csv", "-j", "1", "--min-similarity", "0.9")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and {r["role"] for r in rows} == {"keeper", "duplicate"}
    assert all(float(r["similarity"]) >= 0.9 for r in rows)
    assert {Path(r["path"]).name for r in rows if r["role"] == "duplicate"} == {"coffee.jpg", EVIL}


def test_no_recursive_leaves_the_sub_folder_out(folder: Path) -> None:
    # old/coffee.jpg, the exact copy, is in the sub-folder: without it one group remains (astronaut's)
    code, out, err = run(str(folder), "--json", "-j", "1", "--no-recursive")
    assert code == 0, err
    data = json.loads(out)
    assert data["files"] == 4 and len(data["groups"]) == 1
    [group] = data["groups"]
    assert Path(group["keeper"]["path"]).name == "astronaut.jpg"
    assert [Path(m["path"]).name for m in group["duplicates"]] == [EVIL]


def test_html_report_embeds_thumbnails_and_escapes_names(folder: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    code, out, err = run(str(folder), "--html", str(page), "-j", "1")
    assert code == 0, err and f"wrote {page}" in out
    text = page.read_text(encoding="utf-8")
    assert text.count('src="data:image/jpeg;base64,') == 4
    assert EVIL not in text and "<script" not in text and "onerror=" not in text.replace("onerror=&quot;", "")
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;.jpg" in text


def test_move_to_and_undo(folder: Path, tmp_path: Path) -> None:
    before = tree_digest(folder)
    dest = tmp_path / "dups"
    code, out, err = run(str(folder), "--move-to", str(dest), "-j", "1")
    assert code == 0, err
    manifest = out.splitlines()[-1].split("--undo ", 1)[1]
    assert Path(manifest).is_file() and "moved 2 files" in out
    assert not (folder / EVIL).exists() and (dest / EVIL).is_file()
    code, out, err = run("--undo", manifest)
    assert code == 0 and out == "put back 2 files\n", err
    assert {k: v[0] for k, v in tree_digest(folder).items()} == {k: v[0] for k, v in before.items()}


def test_move_never_overwrites(folder: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dups"
    dest.mkdir()
    (dest / EVIL).write_bytes(b"keep me")
    before = tree_digest(folder)
    code, _out, err = run(str(folder), "--move-to", str(dest), "-j", "1")
    assert code == 2 and "already exists" in err and err.count("lookalike: error") == 1
    assert tree_digest(folder) == before and (dest / EVIL).read_bytes() == b"keep me"


def test_two_folders(folder: Path, tmp_path: Path) -> None:
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    shutil.copyfile(folder / "camera.png", incoming / "IMG_0001.png")
    code, out, _err = run(str(folder), str(incoming), "--json", "-j", "1")
    data = json.loads(out)
    assert code == 0 and len(data["groups"]) == 1
    assert Path(data["groups"][0]["keeper"]["path"]).name == "camera.png"
    assert [Path(d["path"]).name for d in data["groups"][0]["duplicates"]] == ["IMG_0001.png"]


def test_usage_errors(tmp_path: Path) -> None:
    assert run()[0] == 2
    code, _out, err = run(str(tmp_path / "nowhere"))
    assert code == 2 and "not a folder" in err
    code, _out, err = run("--undo", str(tmp_path / "none.json"))
    assert code == 2 and "no such manifest" in err
    code, _out, err = run(str(tmp_path), "--json", "--csv")
    assert code == 2


def test_max_verify_budget_note_and_errors(folder: Path) -> None:
    camera = photo("camera", longest=320)
    h, w = camera.shape[:2]
    Image.fromarray(camera[h // 8 : h - h // 8, w // 6 :]).save(folder / "camera-crop.jpg", quality=90)
    code, out, err = run(str(folder), "-j", "1", "--max-verify", "0", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["unverified_pairs"] >= 1  # the crop needs keypoints
    assert f"{data['unverified_pairs']} plausible pair" in err and "--max-verify all" in err
    code, out, err = run(str(folder), "-j", "1", "--max-verify", "all", "--json")
    assert code == 0 and json.loads(out)["unverified_pairs"] == 0 and "left unverified" not in err
    code, _out, err = run(str(folder), "--max-verify", "many")
    assert code == 2 and "--max-verify" in err and "'many'" in err
