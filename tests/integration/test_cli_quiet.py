"""``--quiet`` on every command: errors only on standard error, results unchanged (issue 11 item 22)."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest

from lookalike.cli._main import build_parser
from tests.integration.runner import Terminal, run_cli


def _leaves(parser: argparse.ArgumentParser, name: str = "lookalike") -> list[tuple[str, argparse.ArgumentParser]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child_name, child in action.choices.items():
                found += _leaves(child, f"{name} {child_name}")
    return found or [(name, parser)]


def test_every_command_has_quiet() -> None:
    leaves = _leaves(build_parser())
    assert len(leaves) >= 12
    missing = [name for name, parser in leaves
               if "--quiet" not in {s for a in parser._actions for s in a.option_strings}]
    assert missing == []


def test_quiet_drops_progress_notes_and_skips_but_keeps_results_and_errors(tmp_path: Path,
                                                                           three_photos: Path) -> None:
    pytest.importorskip("faiss")
    folder = Path(shutil.copytree(three_photos, tmp_path / "photos"))
    shutil.copyfile(folder / "coffee.jpg", folder / "coffee-copy.jpg")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    argv = ("duplicates", str(folder), "-s", "100%", "--no-verify", "-j", "1")
    loud = Terminal()
    code, loud_out, loud_err = run_cli(*argv, err=loud)
    assert code == 0 and "lookalike: skipped" in loud_err
    quiet = Terminal()
    code, out, err = run_cli(*argv, "--quiet", err=quiet)
    assert (code, out, err) == (0, loud_out, "")
    # an error still gets through
    code, out, err = run_cli("duplicates", str(tmp_path / "nowhere"), "--quiet")
    assert code == 2 and out == "" and err.startswith("lookalike: error: ") and err.count("\n") == 1
