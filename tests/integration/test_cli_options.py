"""Options shared by the commands and the messages that name them.

* ``--min-similarity`` has one rule everywhere: a fraction in [0, 1] or a
  percentage in [0, 100] with one ``%``.
* A message suggests only options the command has, by their command-line name
  (``--max-pixels none``, ``--convention matlab``), never a Python keyword.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import pytest

from lookalike.cli._main import build_parser
from lookalike.cli._options import cli_message, similarity
from tests.integration.runner import run_cli
from tests.io.bad_files import bomb_png

#: Python keyword hints as the library writes them; none may reach a user of the command line.
PYTHON_SYNTAX = ("max_pixels=", "convention=", "data_range=", "resize=", "recursive=", "='")


def assert_no_python_syntax(text: str) -> None:
    for token in PYTHON_SYNTAX:
        assert token not in text, (token, text)


@pytest.fixture(scope="module")
def photos(three_photos: Path) -> Path:
    return three_photos


@pytest.fixture(scope="module")
def with_bomb(photos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The photos and a 20000x20000 PNG (400 MP, over the default limit; a few tens of KB on disk)."""
    import shutil

    folder = Path(shutil.copytree(photos, tmp_path_factory.mktemp("options") / "with-bomb"))
    (folder / "bomb.png").write_bytes(bomb_png())
    return folder


# -- --min-similarity ------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "value"), [
    ("0", 0.0), ("0.7", 0.7), ("1", 1.0), (" 0.85 ", 0.85), ("70%", 0.7), ("0%", 0.0), ("100%", 1.0), ("85.5%", 0.855),
])
def test_similarity_accepts_a_fraction_or_a_percentage(text: str, value: float) -> None:
    assert similarity(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["1.5", "50%%", "-3", "abc", "70", "101%", "-1%", "nan", "inf", "%", ""])
@pytest.mark.parametrize("command", [["search", "q.jpg", "--index", "nowhere"], ["duplicates", "nowhere"]])
def test_anything_else_is_refused_naming_the_rule(command: list[str], text: str) -> None:
    code, out, err = run_cli(*command, f"--min-similarity={text}")
    assert code == 2 and out == ""
    assert "expected a fraction from 0 to 1 (0.7) or a percentage from 0% to 100% (70%), got " in err
    assert repr(text) in err
    if text == "70":
        assert "did you mean 70%?" in err


def test_every_command_with_min_similarity_uses_the_one_parser() -> None:
    found = []

    def walk(parser: argparse.ArgumentParser, name: str) -> None:
        for action in parser._actions:
            if "--min-similarity" in action.option_strings:
                found.append((name, action.type))
            if isinstance(action, argparse._SubParsersAction):
                for child_name, child in action.choices.items():
                    walk(child, f"{name} {child_name}".strip())

    walk(build_parser(), "")
    assert {name for name, _ in found} >= {"search", "duplicates"}
    assert all(kind is similarity for _, kind in found), found


# -- --max-pixels -----------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["compare", "diff", "match", "matrix"])
def test_every_command_that_reads_given_images_has_max_pixels(command: str) -> None:
    code, out, _err = run_cli(command, "--help")
    assert code == 0 and "--max-pixels N" in " ".join(out.split())
    assert "'none' for no limit" in " ".join(out.split())


@pytest.mark.parametrize("command", ["compare", "match", "diff"])
def test_a_too_large_image_suggests_the_option_of_the_command(command: str, photos: Path, tmp_path: Path) -> None:
    extra = ["--out", str(tmp_path / "d.png")] if command == "diff" else []
    a, b = str(photos / "coffee.jpg"), str(photos / "coffee.jpg")
    code, out, err = run_cli(command, a, b, *extra, "--max-pixels", "1000")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "exceeds the limit of 1,000 pixels" in err
    assert err.rstrip().endswith("pass a larger --max-pixels N or --max-pixels none if you trust the file")
    assert_no_python_syntax(err)
    assert run_cli(command, a, b, *extra, "--max-pixels", "none")[0] == 0


def test_matrix_reads_with_its_max_pixels(photos: Path, tmp_path: Path) -> None:
    code, _out, err = run_cli("matrix", str(photos), "--metric", "mse", "--out", str(tmp_path / "m"),
                              "--max-pixels", "30000", "-j", "1")
    # 200 px on the longest side: astronaut and camera (40,000 pixels) are refused, coffee (26,600) is read
    assert code == 0
    assert "2 files skipped" in err and "exceeds the limit of 30,000 pixels" in err
    assert "--max-pixels N or --max-pixels none" in err
    rows = list(csv.reader((tmp_path / "m" / "errors.csv").read_text(encoding="utf-8").splitlines()))
    assert_no_python_syntax(" ".join(rows[1]))


@pytest.mark.parametrize("command", [["index", "build"], ["duplicates"]])
def test_commands_without_max_pixels_do_not_suggest_it(command: list[str], with_bomb: Path, tmp_path: Path) -> None:
    pytest.importorskip("faiss")
    if command == ["duplicates"]:
        pytest.importorskip("onnxruntime")
        argv = [*command, str(with_bomb), "--index", str(tmp_path / "idx"), "-j", "1"]
    else:
        argv = [*command, str(with_bomb), "--index", str(tmp_path / "idx"), "-d", "phash", "-j", "1"]
    code, _out, err = run_cli(*argv)
    assert code == 0  # three photos were read: the job ran
    [line] = [line for line in err.splitlines() if "bomb.png" in line]
    assert line.endswith("20000x20000 = 400,000,000 pixels exceeds the limit of 268,435,456 pixels "
                         "(a decompression-bomb guard)")
    assert "--max-pixels" not in err
    assert_no_python_syntax(err)


# -- other hints ------------------------------------------------------------------------------------

def test_compare_names_its_convention_option_matrix_has_none(photos: Path, tmp_path: Path) -> None:
    from PIL import Image

    small = tmp_path / "small"
    small.mkdir()
    for path in sorted(photos.iterdir()):
        Image.open(path).convert("RGB").resize((10, 10)).save(small / f"{path.stem}.png")
    code, _out, err = run_cli("compare", str(small / "coffee.png"), str(small / "astronaut.png"), "-m", "ssim")
    assert code == 2 and "Use larger images, or --convention matlab (padded, any size)." in err
    assert_no_python_syntax(err)
    code, _out, err = run_cli("matrix", str(small), "--metric", "ssim", "--out", str(tmp_path / "m"), "-j", "1")
    assert "both sides must be at least 11 pixels. Use larger images.\n" in err
    assert "convention" not in err
    rows = list(csv.reader((tmp_path / "m" / "errors.csv").read_text(encoding="utf-8").splitlines()))
    assert rows[1][4].endswith("Use larger images.") and "convention" not in rows[1][4]


def test_compare_names_its_resize_option(photos: Path) -> None:
    code, _out, err = run_cli("compare", str(photos / "coffee.jpg"), str(photos / "astronaut.jpg"), "-m", "mse")
    assert code == 2
    assert "pass --resize smaller, --resize larger or --resize first to compare them anyway" in err
    assert_no_python_syntax(err)


def test_matrix_suggests_recursive_only_for_sub_folders_with_images(photos: Path, tmp_path: Path) -> None:
    import shutil

    empty = tmp_path / "empty"
    empty.mkdir()
    code, _out, err = run_cli("matrix", str(empty), "--out", str(tmp_path / "m1"))
    assert code == 2 and err == f"lookalike: error: no images found in {str(empty)!r}\n"
    (empty / "sub").mkdir()  # a sub-folder without images: still nothing to suggest
    code, _out, err = run_cli("matrix", str(empty), "--out", str(tmp_path / "m2"))
    assert code == 2 and err == f"lookalike: error: no images found in {str(empty)!r}\n"
    shutil.copy(photos / "coffee.jpg", empty / "sub" / "coffee.jpg")
    code, _out, err = run_cli("matrix", str(empty), "--out", str(tmp_path / "m3"))
    assert code == 2 and err.endswith("; its sub-folders hold 1 image: pass --recursive\n")


@pytest.mark.parametrize(("options", "expected"), [
    (frozenset({"--max-pixels"}),
     "too large (a guard); pass a larger --max-pixels N or --max-pixels none if you trust it"),
    (frozenset(), "too large (a guard)"),
])
def test_cli_message_maps_or_drops_a_hint(options: frozenset[str], expected: str) -> None:
    text = "too large (a guard); pass a larger max_pixels=N or max_pixels=None if you trust it"
    assert cli_message(text, argparse.Namespace(cli_options=options)) == expected


def test_cli_message_drops_only_the_clause_of_a_missing_option() -> None:
    args = argparse.Namespace(cli_options=frozenset({"--resize"}))
    assert cli_message("bad window. Use larger images, or convention='matlab' (padded, any size). Or resize='smaller'.",
                       args) == "bad window. Use larger images. Or --resize smaller."
    # a hint after the message's colon goes with its clause, never the whole message ("lookalike: error: " and
    # nothing was what `diff` printed for float images); a message of nothing but hints is kept as it is
    assert cli_message("data_range is required for float32/float32 input: pass data_range=255 for 0-255 values, "
                       "data_range=1.0 for 0-1 values (integer images infer it)", args) == (
        "data_range is required for float32/float32 input")
    text = "pass data_range=255 for 0-255 values, data_range=1.0 for 0-1 values"
    assert cli_message(text, args) == text
    assert cli_message("no images; pass recursive=True", argparse.Namespace(cli_options=frozenset({"--recursive"}))) \
        == "no images; pass --recursive"
