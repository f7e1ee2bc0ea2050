"""``python -m lookalike.demo``: runs on the committed samples, prints a table, writes JSON and pictures."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from lookalike import demo
from lookalike.metrics import metric_names

SAMPLES = demo.default_images()


def test_samples_are_committed_and_small() -> None:
    assert (SAMPLES / "pairs.csv").is_file(), f"missing {SAMPLES}/pairs.csv: run examples/make_samples.py"
    with open(SAMPLES / "pairs.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) >= 7
    for row in rows:
        with Image.open(SAMPLES / row["original"]) as a, Image.open(SAMPLES / row["copy"]) as b:
            assert a.size == b.size, row  # full-reference metrics apply to every pair
    total = sum(p.stat().st_size for p in SAMPLES.iterdir())
    assert total < 2_000_000
    for name in ("chelsea.png", "coffee.jpg", "astronaut.png", "astronaut--patch.jpg", "camera--patch.jpg"):
        assert (SAMPLES / name).is_file()  # the demo's unrelated pair and difference pictures


@pytest.fixture
def few_samples(tmp_path: Path) -> Path:
    """A copy of the samples with pairs.csv cut to two pairs, so the test stays quick."""
    folder = tmp_path / "images"
    shutil.copytree(SAMPLES, folder)
    lines = (folder / "pairs.csv").read_text(encoding="utf-8").splitlines()
    edits = [line for line in lines[1:] if ",patch," in line or ",jpeg20," in line]
    keep = [lines[0], *edits[:2]]
    (folder / "pairs.csv").write_text("\n".join(keep) + "\n", encoding="utf-8")
    return folder


def test_demo_runs_and_writes_its_results(few_samples: Path, tmp_path: Path) -> None:
    out = io.StringIO()
    code = demo.main(["--out", str(tmp_path / "result"), "--images", str(few_samples), "--no-tour"], stdout=out)
    text = out.getvalue()
    assert code == 0, text
    for name in metric_names():
        assert name in text  # every metric in the table
    report = json.loads((tmp_path / "result" / "compare.json").read_text(encoding="utf-8"))
    assert len(report["pairs"]) == 3  # two edits and the unrelated pair
    for pair in report["pairs"]:
        assert "error" not in pair and list(pair["metrics"]) == metric_names()
    unrelated = report["pairs"][-1]["metrics"]
    assert report["pairs"][0]["metrics"]["psnr"] > unrelated["psnr"]  # an edited copy is closer than another picture
    pictures = sorted(p.name for p in (tmp_path / "result").glob("diff-*.png"))
    assert pictures == ["diff-astronaut--patch.png", "diff-camera--patch.png"]


def test_demo_without_samples_says_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = demo.main(["--out", str(tmp_path / "result"), "--images", str(tmp_path / "nowhere")], stdout=io.StringIO())
    assert code == 2
    assert "make_samples.py" in capsys.readouterr().err
    assert not (tmp_path / "result").exists()


def test_demo_tours_every_job_and_links_what_it_made(few_samples: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    out = io.StringIO()
    result = tmp_path / "result"
    code = demo.main(["--out", str(result), "--images", str(few_samples)], stdout=out)
    text = out.getvalue()
    assert code == 0, text
    for command in ("$ lookalike match", "$ lookalike index build", "$ lookalike search", "$ lookalike duplicates",
                    "$ lookalike evaluate", "$ lookalike classify"):
        assert command in text
    made = ["match.png", "search.json", "duplicates.html", "classify/embedding/confusion.png",
            "classify/embedding/misclassified.html", "classify/ssim/confusion.png", "classify/classify.json",
            "diff-astronaut--patch.png", "compare.json"]
    page = (result / "index.html").read_text(encoding="utf-8")
    for name in made:
        assert (result / name).is_file(), name
        assert f'href="{name}"' in page, name
    evaluation = json.loads((result / "classify" / "embedding" / "evaluation.json").read_text(encoding="utf-8"))
    assert evaluation["accuracy"] >= 0.9  # texture crops by the embedding (measured 1.0; SSIM 0.42)
    predictions = json.loads((result / "classify" / "classify.json").read_text(encoding="utf-8"))["predictions"]
    assert sorted(p["label"] for p in predictions) == ["brick", "brick", "grass", "grass", "gravel", "gravel"]


def test_the_tour_never_deletes_a_folder_of_the_users_named_index(tmp_path: Path) -> None:
    """The tour made room for its index with shutil.rmtree(OUT/index), whatever was there: `--out ~/work`
    deleted ~/work/index. Only an index (its files) an earlier run left goes now."""
    from lookalike.index import Index

    mine = tmp_path / "out" / "index"
    mine.mkdir(parents=True)
    (mine / "thesis.tex").write_text("mine")
    demo._fresh_index(mine)
    assert (mine / "thesis.tex").read_text() == "mine"
    old = tmp_path / "out2" / "index"
    Index.create(old, descriptors=["phash"]).close()
    demo._fresh_index(old)
    assert not (old / "manifest.json").exists()
    Index.create(old, descriptors=["phash"]).close()  # the place can take the new index


def test_the_page_links_names_with_a_hash_as_files(tmp_path: Path) -> None:
    (tmp_path / "a#1.png").write_bytes(b"x")
    page = demo._write_index(tmp_path).read_text(encoding="utf-8")
    assert 'href="a%231.png"' in page
