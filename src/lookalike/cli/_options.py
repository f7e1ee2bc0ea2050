"""Options and messages shared by the commands: one parser per kind of value, one Python -> CLI name map.

The library's error messages name what to change with the Python keyword
(``max_pixels=None``, ``convention='matlab'``); :func:`cli_message` rewrites
those hints into the options of the command that is running
(``--max-pixels none``, ``--convention matlab``), and drops a hint whose option
the command does not have, so a message never suggests something that does not
exist. :func:`record_options` tells every parser which options it has.
"""

from __future__ import annotations

import argparse
import math
import re
from typing import Any

from lookalike.io import DEFAULT_MAX_PIXELS

#: Keyword arguments of the library that a message may suggest, and the option each one is on the command line.
_KEYWORD_OPTIONS = {
    "max_pixels": "--max-pixels",
    "convention": "--convention",
    "data_range": "--data-range",
    "resize": "--resize",
    "recursive": "--recursive",
}
_HINT = re.compile(r"\b(" + "|".join(_KEYWORD_OPTIONS) + r")=('[^']*'|\"[^\"]*\"|[A-Za-z0-9_]+(?:\.[0-9]+)?)")
_CLAUSE_START = (", ", "; ", ": ")


def add_max_pixels_option(parser: argparse.ArgumentParser) -> None:
    """``--max-pixels N|none``: the decompression-bomb limit of every image the command reads."""
    parser.add_argument("--max-pixels", type=max_pixels, default=DEFAULT_MAX_PIXELS, metavar="N",
                        help=f"refuse images larger than N pixels, read from the header before decoding "
                        f"(default: {DEFAULT_MAX_PIXELS}; 'none' for no limit)")


def max_pixels(text: str) -> int | None:
    """``--max-pixels``: a positive whole number, or ``none`` for no limit."""
    if text.strip().lower() == "none":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'none', got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'none', got {text!r}")
    return value


SIMILARITY_RULE = "a fraction from 0 to 1 (0.7) or a percentage from 0% to 100% (70%)"


def similarity(text: str) -> float:
    """``--min-similarity``: a fraction in [0, 1] (``0.7``) or a percentage in [0, 100] with one ``%`` (``70%``).

    Nothing else: ``70`` without ``%`` is refused (is it 70% or a typo of 0.70?), as are
    ``1.5``, ``50%%``, ``-3``, ``nan`` and words.
    """
    raw = text.strip()
    percent = raw.endswith("%")
    number = raw[:-1].strip() if percent else raw
    try:
        value = float(number)
    except ValueError:
        value = math.nan
    limit = 100.0 if percent else 1.0
    if not math.isfinite(value) or not 0.0 <= value <= limit:
        hint = f"; did you mean {text.strip()}%?" if not percent and math.isfinite(value) and 1 < value <= 100 else ""
        raise argparse.ArgumentTypeError(f"expected {SIMILARITY_RULE}, got {text!r}{hint}")
    return value / 100 if percent else value


def add_quiet_option(parser: argparse.ArgumentParser) -> None:
    """``--quiet`` on every command (every parser that runs something): only errors on standard error."""
    has_actions = False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            has_actions = True
            for child in action.choices.values():
                add_quiet_option(child)
    if not has_actions and parser.get_default("run") is not None:
        parser.add_argument("--quiet", action="store_true",
                            help="only errors on standard error: no progress bar, no notes, no list of skipped "
                            "files (the results are printed as usual)")


#: What ``--quiet`` keeps of the messages on standard error.
_KEPT = ("lookalike: error", "lookalike: terminated", "lookalike: interrupted")


class ErrorsOnly:
    """The error stream of a ``--quiet`` command: passes error lines (``lookalike: error: ...`` and the
    indented lines that continue them), drops every other message, and is never a terminal (no progress bar)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self._passing = True
        self._pending = ""

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            if not line.startswith(" "):
                self._passing = line.startswith(_KEPT) or not line.startswith("lookalike: ")
            if self._passing:
                self.stream.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        if self._pending and self._passing:
            self.stream.write(self._pending)
            self._pending = ""
        flush = getattr(self.stream, "flush", None)
        if callable(flush):
            flush()


def record_options(parser: argparse.ArgumentParser) -> None:
    """Store in every (sub)parser's defaults the option strings it accepts, for :func:`cli_message`."""
    options: set[str] = set()
    for action in parser._actions:
        options.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                record_options(child)
    parser.set_defaults(cli_options=frozenset(options))


def cli_message(text: str, args: Any) -> str:
    """A library message with its Python keyword hints turned into this command's options.

    ``max_pixels=None`` becomes ``--max-pixels none``, ``convention='matlab'``
    ``--convention matlab``, ``recursive=True`` ``--recursive``. A hint whose
    option the command lacks is dropped with its clause (from the preceding
    ``, `` or ``; `` to the end of the sentence), so "Use larger images, or
    convention='matlab' (padded, any size)." reads "Use larger images." there.
    A message that would be left empty is kept as it is: an error always says something.
    """
    original = text
    options: frozenset[str] = getattr(args, "cli_options", frozenset())
    while (found := _HINT.search(text)) is not None:
        keyword, value = found.group(1), found.group(2).strip("'\"")
        option = _KEYWORD_OPTIONS[keyword]
        if option in options:
            if value == "True":
                replacement = option
            elif value == "False":
                replacement = f"--no-{option[2:]}"
            else:
                replacement = f"{option} {value.lower() if value == 'None' else value}"
            text = text[:found.start()] + replacement + text[found.end():]
            continue
        start = max(text.rfind(sep, 0, found.start()) for sep in _CLAUSE_START)
        start = 0 if start < 0 else start
        end = _clause_end(text, found.end())
        text = (text[:start] + text[end:]).strip() if start else text[end:].lstrip(" ;,:")
    return text or original


def _clause_end(text: str, position: int) -> int:
    """Where the clause holding ``position`` ends: before the next ``; `` or the sentence's full stop."""
    depth = 0
    for i in range(position, len(text)):
        char = text[i]
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
        elif depth == 0 and (text.startswith("; ", i) or (char == "." and (i + 1 == len(text) or text[i + 1] == " "))):
            return i
    return len(text)


def shown_path(path: str) -> str:
    """A path for one line of text output: as it is, or quoted with escapes when it holds a line break,
    a tab or another control character (a file name may), so one file is always one line."""
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        return repr(path)
    return path


def skipped_path(path: str) -> str:
    """A skipped file as every skip list shows it: its real absolute path (as the index records it, so a
    file refused when listed and one that failed to decode read alike), escaped as :func:`shown_path` does."""
    from lookalike.io import resolve_path

    try:
        return shown_path(resolve_path(path))
    except (OSError, ValueError):
        return shown_path(path)
