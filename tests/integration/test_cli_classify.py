"""``lookalike classify`` and ``lookalike evaluate``: exit codes, what is printed, the files written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import shared_path
from tests.integration.runner import run_cli


@pytest.fixture(scope="module")
def refs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 cats and 8 dogs (real photos), an empty class folder, a broken file; embeddings cached once."""
    pytest.importorskip("onnxruntime")
    from lookalike.errors import MissingDependencyError
    from lookalike.features import Embedder

    try:
        Embedder()
    except MissingDependencyError as exc:
        pytest.skip(str(exc))
    source = shared_path("classification", "cats_dogs")
    folder = tmp_path_factory.mktemp("labelled")
    for name in ("cats", "dogs"):
        (folder / name).mkdir()
        for path in sorted((source / name).iterdir())[:8]:
            shutil.copy(path, folder / name / path.name)
    (folder / "empty class").mkdir()
    (folder / "dogs" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 30)
    return folder


def test_classify_json(refs: Path) -> None:
    query = refs / "cats" / sorted(p.name for p in (refs / "cats").iterdir())[3]
    code, out, err = run_cli("classify", "--train", str(refs), str(query), "--k", "5", "--json")
    assert code == 0, err
    assert "empty class' holds no image" in err  # the empty class folder is named
    assert "broken.png" in err  # the unreadable reference is listed
    data = json.loads(out)
    [prediction] = data["predictions"]
    assert set(prediction) == {"path", "label", "confidence", "neighbours"}
    assert prediction["label"] == "cats" and prediction["confidence"] >= 0.8
    assert len(prediction["neighbours"]) == 5
    assert set(prediction["neighbours"][0]) == {"path", "name", "label", "similarity"}
    assert prediction["neighbours"][0]["path"] == str(query)  # itself, a reference
    assert prediction["neighbours"][0]["name"] == f"cats/{query.name}"  # relative to --train


def test_classify_text_and_unreadable_query(refs: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    good = refs / "dogs" / sorted(p.name for p in (refs / "dogs").iterdir() if p.suffix == ".jpg")[0]
    code, out, err = run_cli("classify", "--train", str(refs), str(good), str(bad))
    assert code == 2  # a query could not be read; the others are still answered
    assert out.splitlines()[0].split("\t")[:2] == [str(good), "dogs"]
    assert f"skipped {bad}" in err


def test_evaluate_cv_writes_picture_page_and_json(refs: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "eval"
    code, out, err = run_cli("evaluate", "--train", str(refs), "--cv", "4", "--k", "3", "--out", str(out_dir))
    assert code == 0, err
    assert "accuracy" in out and "balanced accuracy" in out and "cats" in out
    from PIL import Image

    with Image.open(out_dir / "confusion.png") as picture:
        assert picture.size[0] > 100
    page = (out_dir / "misclassified.html").read_text(encoding="utf-8")
    assert "<script" not in page and "http" not in page.replace('lang="en"', "")  # self-contained
    data = json.loads((out_dir / "evaluation.json").read_text(encoding="utf-8"))
    assert data["confusion"]["labels"] == ["cats", "dogs"] and data["n_test"] == 16
    weighted = sum(row["recall"] * row["support"] for row in data["per_class"].values()) / data["n_test"]
    assert weighted == pytest.approx(data["accuracy"], abs=1e-6)


def test_evaluate_json_test_set_and_bad_arguments(refs: Path) -> None:
    code, out, _err = run_cli("evaluate", "--train", str(refs), "--test", str(refs), "--json", "--method", "logistic")
    assert code == 0
    data = json.loads(out)
    assert data["accuracy"] == 1.0 and set(data["per_class"]) == {"cats", "dogs"}
    code, _out, err = run_cli("evaluate", "--train", str(refs), "--cv", "1")
    assert code == 2 and "at least 2 folds" in err
    code, _out, err = run_cli("classify", "--train", str(refs), str(refs / "cats"), "--method", "nope")
    assert code == 2 and "unknown method 'nope'" in err


def test_a_skipped_query_with_a_line_break_is_one_line_under_its_real_path(refs: Path, tmp_path: Path) -> None:
    """The classify skip list printed the path raw (a line break split it) and as given, where every other
    command's skip list shows the real absolute path, escaped."""
    bad = tmp_path / "bad\nname.jpg"
    bad.write_bytes(b"not a jpeg")
    (tmp_path / "via").symlink_to(tmp_path)
    code, _out, err = run_cli("classify", "--train", str(refs), str(tmp_path / "via" / bad.name))
    assert code == 2
    assert any(line.startswith(f"lookalike: skipped {str(bad)!r}: ") for line in err.splitlines()), err
    assert not any(line.startswith("name.jpg") for line in err.splitlines()), err


def test_evaluate_out_that_is_a_file_is_refused_before_the_work(refs: Path, tmp_path: Path) -> None:
    """--out FILE raised FileExistsError from os.makedirs (a traceback) after the whole evaluation."""
    taken = tmp_path / "taken"
    taken.write_text("x")
    code, out, err = run_cli("evaluate", "--train", str(refs), "--cv", "2", "--out", str(taken))
    assert code == 2 and out == "" and "Traceback" not in err
    assert err == f"lookalike: error: --out {str(taken)!r} is a file; give a folder (it is created if needed)\n"
