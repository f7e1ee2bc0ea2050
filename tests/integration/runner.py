"""Run the command-line tool in-process, as a user would see it: exit code, standard output, standard error."""

from __future__ import annotations

import io

from lookalike.cli import main


class Terminal(io.StringIO):
    """An error stream that says it is a terminal, so commands draw their progress bars on it."""

    def isatty(self) -> bool:
        return True


def run_cli(*argv: str, err: io.StringIO | None = None) -> tuple[int, str, str]:
    """``lookalike ARGV...`` through :func:`lookalike.cli.main`; ``err`` replaces the captured error stream."""
    out = io.StringIO()
    err = err if err is not None else io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()
