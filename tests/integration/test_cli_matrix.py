"""``lookalike matrix``: exit codes, the files it writes and what the user reads."""

from __future__ import annotations

import csv
import shutil
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.integration.runner import Terminal, run_cli
from tests.pipelines.test_matrix import BAD_KEPT, BAD_SKIPPED, GRAFFITI, OBJECTS, build_folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_folder(tmp_path_factory.mktemp("photos"))


run = partial(run_cli, "matrix")


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


@pytest.fixture(scope="module")
def default_run(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str, str]:
    out_dir = tmp_path_factory.mktemp("out") / "result"
    code, out, err = run(str(folder), "--out", str(out_dir), "--jobs", "1")
    return out_dir, code, out, err


def test_writes_a_square_matrix_with_relative_labels(default_run: tuple[Path, int, str, str]) -> None:
    out_dir, code, _, _ = default_run
    assert code == 0
    rows = read_csv(out_dir / "matrix.csv")
    labels = sorted(GRAFFITI + OBJECTS + BAD_KEPT, key=str.casefold)
    assert rows[0] == ["", *labels]
    assert [r[0] for r in rows[1:]] == labels
    values = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    assert values.shape == (len(labels), len(labels))
    np.testing.assert_array_equal(values, values.T)
    np.testing.assert_array_equal(np.diag(values), 1.0)


def test_pairs_csv_is_sorted_most_similar_first(default_run: tuple[Path, int, str, str]) -> None:
    out_dir = default_run[0]
    rows = read_csv(out_dir / "pairs.csv")
    assert rows[0] == ["a", "b", "similarity", "matches", "inliers", "error"]
    n = len(GRAFFITI + OBJECTS + BAD_KEPT)
    assert len(rows) - 1 == n * (n - 1) // 2
    similarities = [float(r[2]) for r in rows[1:]]
    assert similarities == sorted(similarities, reverse=True)
    assert {frozenset(r[:2]) for r in rows[1:4]} == {frozenset((a, b)) for a in GRAFFITI for b in GRAFFITI if a < b}
    assert all(int(r[4]) <= int(r[3]) for r in rows[1:])


def test_bad_files_are_listed_on_stderr_and_in_errors_csv(default_run: tuple[Path, int, str, str]) -> None:
    out_dir, _, out, err = default_run
    rows = read_csv(out_dir / "errors.csv")
    assert rows[0] == ["file", "other", "stage", "skipped", "reason", "path"]
    skipped = {r[0] for r in rows[1:] if r[3] == "yes"}
    assert skipped == set(BAD_SKIPPED)
    assert {r[0] for r in rows[1:] if r[3] == "no"} == set(BAD_KEPT)
    assert "3 files skipped" in err
    for name in BAD_SKIPPED:
        assert f"  {name}: " in err
    assert "no keypoints" in err
    assert "\x1b[" not in err  # not a terminal: no progress bar
    assert "compared 8 images with rootsift: 28 pairs" in out
    assert out.index("graffiti") < out.index("wrote ")


def test_heatmap_is_a_picture_with_labels_room(default_run: tuple[Path, int, str, str]) -> None:
    with Image.open(default_run[0] / "heatmap.png") as picture:
        assert picture.mode == "RGB"
        width, height = picture.size
        pixels = np.asarray(picture)
    assert width > 300 and height > 300
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20  # cells, colour bar and text, not a blank


def test_two_jobs_write_the_same_matrix_and_a_terminal_gets_a_progress_bar(
    folder: Path, tmp_path: Path, default_run: tuple[Path, int, str, str]
) -> None:
    terminal = Terminal()
    code, _, err = run(str(folder), "--out", str(tmp_path), "--jobs", "2", err=terminal)
    assert code == 0
    assert (tmp_path / "matrix.csv").read_text() == (default_run[0] / "matrix.csv").read_text()
    assert (tmp_path / "pairs.csv").read_text() == (default_run[0] / "pairs.csv").read_text()
    assert "comparing pairs" in err


def test_two_folders_give_a_rectangular_matrix(folder: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    for name in GRAFFITI[:2]:
        shutil.copyfile(folder / name, a / name)
    for name in [GRAFFITI[2], *OBJECTS]:
        shutil.copyfile(folder / name, b / name)
    code, out, _ = run(str(a), str(b), "--out", str(tmp_path / "out"), "--jobs", "1", "--method", "sift")
    assert code == 0
    rows = read_csv(tmp_path / "out" / "matrix.csv")
    assert rows[0] == ["", "Faces_easy.jpg", GRAFFITI[2], "pizza.jpg", "watch.jpg"]
    assert [r[0] for r in rows[1:]] == GRAFFITI[:2]
    assert len(read_csv(tmp_path / "out" / "pairs.csv")) - 1 == 8
    assert "2 x 4 images with sift" in out


def test_a_metric_writes_its_name_and_direction(folder: Path, tmp_path: Path) -> None:
    code, out, err = run(str(folder), "--metric", "mse", "--out", str(tmp_path), "--jobs", "1")
    assert code == 0
    rows = read_csv(tmp_path / "pairs.csv")
    assert rows[0] == ["a", "b", "mse", "error"]
    values = [float(r[2]) for r in rows[1:]]
    assert values == sorted(values)  # lower is more similar
    assert "resized once to 256x256" in err
    assert "lower = more similar" in out


def test_json_is_the_result_s_own_to_dict_and_valid_json(folder: Path, tmp_path: Path) -> None:
    import json

    from lookalike.pipelines import similarity_matrix

    code, out, err = run(str(folder), "--metric", "mse", "--out", str(tmp_path), "--jobs", "1", "--json")
    assert code == 0, err
    payload = json.loads(out)  # strict JSON: no NaN or Infinity tokens
    assert "NaN" not in out and "Infinity" not in out
    expected = similarity_matrix(folder, metric="mse", exclude=[tmp_path]).to_dict()
    assert payload == json.loads(json.dumps(expected, allow_nan=False))
    assert payload["measure"] == "mse" and payload["higher_is_better"] is False
    assert [row["label"] for row in payload["rows"]] == read_csv(tmp_path / "matrix.csv")[0][1:]
    assert all(isinstance(row["path"], str) and Path(row["path"]).is_absolute() for row in payload["rows"])
    assert {e["label"] for e in payload["errors"]} >= set(BAD_SKIPPED)  # the files left out are named
    assert (tmp_path / "matrix.csv").exists()  # the files are written as without --json


def test_json_of_identical_images_names_the_infinite_psnr_and_holds_no_string(tmp_path: Path) -> None:
    """PSNR of two identical pictures is infinite: null in the matrix and in the pair, named in "infinite"."""
    import json

    folder = tmp_path / "same"
    folder.mkdir()
    pixels = np.random.default_rng(3).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(folder / "a.png")
    Image.fromarray(pixels).save(folder / "b.png")
    Image.fromarray(255 - pixels).save(folder / "c.png")
    code, out, err = run(str(folder), "--metric", "psnr", "--out", str(tmp_path / "out"), "--jobs", "1", "--json")
    assert code == 0, err
    payload = json.loads(out)
    labels = [row["label"] for row in payload["rows"]]
    a, b, c = (labels.index(n) for n in ("a.png", "b.png", "c.png"))
    assert payload["values"][a][b] is None and isinstance(payload["values"][a][c], float)
    assert payload["infinite"][f"values/{a}/{b}"] == "+inf"
    assert all(v == "+inf" for v in payload["infinite"].values())
    [same] = [p for p in payload["pairs"] if {p["a"], p["b"]} == {"a.png", "b.png"}]
    assert same["value"] is None and same["infinite"] == {"value": "+inf"}
    assert not any(isinstance(v, str) for row in payload["values"] for v in row)


def test_output_folder_inside_the_input_is_not_compared(folder: Path, tmp_path: Path) -> None:
    for name in GRAFFITI[:2]:
        shutil.copyfile(folder / name, tmp_path / name)
    for _ in range(2):  # the second run must not pick up the first run's heatmap.png
        code, out, _ = run(str(tmp_path), "--out", str(tmp_path / "out"), "--recursive", "--jobs", "1")
        assert code == 0
        assert "compared 2 images" in out


def test_one_image_gives_a_1x1_matrix(folder: Path, tmp_path: Path) -> None:
    shutil.copyfile(folder / "pizza.jpg", tmp_path / "pizza.jpg")
    code, out, _ = run(str(tmp_path), "--out", str(tmp_path / "out"))
    assert code == 0
    assert read_csv(tmp_path / "out" / "matrix.csv") == [["", "pizza.jpg"], ["pizza.jpg", "1"]]
    assert read_csv(tmp_path / "out" / "pairs.csv") == [["a", "b", "similarity", "matches", "inliers", "error"]]
    assert "0 pairs" in out


def test_an_empty_folder_exits_2_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    code, out, err = run(str(tmp_path / "in"), "--out", str(tmp_path / "out"))
    assert code == 2 and out == ""
    assert err.startswith("lookalike: error: no images found in") and err.count("\n") == 1


def test_only_unreadable_files_exit_2_after_writing_errors_csv(folder: Path, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    shutil.copyfile(folder / "truncated.jpg", tmp_path / "in" / "truncated.jpg")
    code, _, err = run(str(tmp_path / "in"), "--out", str(tmp_path / "out"))
    assert code == 2
    assert "none of the image files could be read" in err
    assert read_csv(tmp_path / "out" / "errors.csv")[1][0] == "truncated.jpg"


def test_usage_errors_exit_2(folder: Path, tmp_path: Path) -> None:
    assert run(str(folder), "--metric", "mse", "--method", "sift")[0] == 2
    code, _, err = run(str(folder), "--metric", "mse", "--draw-matches", "--out", str(tmp_path))
    assert code == 2 and "--draw-matches needs a matching method" in err
    code, _, err = run(str(folder), "--metric", "nope", "--out", str(tmp_path))
    assert code == 2 and "unknown metric" in err
    code, _, err = run(str(folder), "--jobs", "0", "--out", str(tmp_path))
    assert code == 2 and "--jobs" in err


def test_draw_matches_writes_one_picture_per_pair(folder: Path, tmp_path: Path) -> None:
    (tmp_path / "in" / "sub dir").mkdir(parents=True)
    shutil.copyfile(folder / GRAFFITI[0], tmp_path / "in" / GRAFFITI[0])
    shutil.copyfile(folder / GRAFFITI[1], tmp_path / "in" / "sub dir" / "view #2.png")
    shutil.copyfile(folder / "watch.jpg", tmp_path / "in" / "watch.jpg")
    code, out, _ = run(str(tmp_path / "in"), "--recursive", "--draw-matches", "--jobs", "2",
                       "--out", str(tmp_path / "out"))
    assert code == 0
    names = sorted(p.name for p in (tmp_path / "out" / "matches").iterdir())
    assert names == sorted([
        f"{GRAFFITI[0]}--sub_dir__view_2.png.jpg",
        f"{GRAFFITI[0]}--watch.jpg.jpg",
        "sub_dir__view_2.png--watch.jpg.jpg",
    ])
    with Image.open(tmp_path / "out" / "matches" / names[0]) as picture:
        assert picture.mode == "RGB" and picture.size[0] >= 2 * 320
        assert picture.size[1] >= 256
    assert "(3 pictures)" in out


def test_match_picture_names_are_unique_after_sanitising() -> None:
    from lookalike.cli._matrix import match_picture_names
    from lookalike.pipelines import MatrixResult, PairScore

    labels = ["a/b.jpg", "a_b.jpg", "a__b.jpg", "x" * 300 + ".jpg", "\u00e9t\u00e9.png"]
    pairs = [PairScore(labels[i], labels[j], i, j, 0.0) for i in range(5) for j in range(i + 1, 5)]
    result = MatrixResult(labels, labels, labels, labels, np.zeros((5, 5)), pairs, [], "sift", "matching",
                          True, True)
    names = match_picture_names(result)
    assert len(set(n.casefold() for n in names)) == len(names) == 10
    assert all(len(n.encode()) <= 200 and "/" not in n and n.endswith(".jpg") for n in names)
    assert all(n.isascii() for n in names)


def test_resize_none_names_the_files_of_a_pair_that_differ_in_size(tmp_path: Path) -> None:
    """Issue 11 item 19: errors.csv said '<ndarray> is 498x415' instead of the files."""
    from PIL import Image

    folder = tmp_path / "two"
    folder.mkdir()
    Image.new("L", (60, 40), 90).save(folder / "small.png")
    Image.new("L", (80, 50), 90).save(folder / "large.png")
    code, _out, err = run(str(folder), "--metric", "mse", "--resize", "none", "--out", str(tmp_path / "o"),
                          "--jobs", "1")
    assert code == 2, err
    [issue] = read_csv(tmp_path / "o" / "errors.csv")[1:]
    assert "<ndarray>" not in issue[4] and "<ndarray>" not in err
    assert "large.png is 80x50" in issue[4] and "small.png is 60x40" in issue[4]
