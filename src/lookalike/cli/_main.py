"""Argument parsing and the error boundary of the command-line tool."""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

from lookalike.cli._options import ErrorsOnly, add_quiet_option, cli_message, record_options
from lookalike.errors import LookalikeError

# Each module defines ``register(subparsers)``; the parser it adds sets ``run(args, out, err) -> int``.
_COMMANDS = ("compare", "matrix", "diff", "index", "match", "search", "duplicates", "classify", "evaluate", "serve")


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that writes help to its own ``stdout`` and usage errors to its own ``stderr``
    (exit code 2): streams given per parser, so two runs in one process never share them."""

    def __init__(self, *args: Any, stdout: TextIO | None = None, stderr: TextIO | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stdout: TextIO = stdout if stdout is not None else sys.stdout
        self.stderr: TextIO = stderr if stderr is not None else sys.stderr

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(self.stderr)
        self.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)

    def _print_message(self, message: str, file: object = None) -> None:
        # argparse passes file=None or sys.stdout for help/usage, sys.stderr or our stream for errors
        if message:
            to_stdout = file is None or file is sys.stdout or file is self.stdout
            (self.stdout if to_stdout else self.stderr).write(message)


def build_parser(*, stdout: TextIO | None = None, stderr: TextIO | None = None) -> argparse.ArgumentParser:
    """The parser of every command, writing help to ``stdout`` and usage errors to ``stderr``
    (default: the process's streams at the time of the call)."""
    from lookalike._version import __version__

    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    parser = _Parser(prog="lookalike", description="Find and measure images that look alike.", stdout=out,
                     stderr=err)
    parser.add_argument("--version", action="version", version=f"lookalike {__version__}")
    make: Any = functools.partial(_Parser, stdout=out, stderr=err)  # argparse calls parser_class(**kwargs)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=make)
    subparsers.required = True
    for name in _COMMANDS:
        importlib.import_module(f"lookalike.cli._{name}").register(subparsers)
    add_quiet_option(parser)
    record_options(parser)
    return parser


#: Commands that handle SIGTERM themselves (the web server stops gracefully on it).
_OWN_SIGNALS = frozenset({"serve"})


class _Terminated(BaseException):
    """SIGTERM arrived: unwind like Ctrl-C, so process pools stop and release what they hold."""


def _terminate(signum: int, frame: object) -> None:
    raise _Terminated


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """While the command runs, SIGTERM raises ``_Terminated`` (where nobody else handles SIGTERM).

    Killed by the default action, the process would leave its pool's semaphores for the
    resource tracker to report as leaked; unwinding shuts the pool down and releases them.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) not in (
            signal.SIG_DFL, None):
        yield
        return
    signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def main(
    argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """Run the command line; return the exit code (143 after SIGTERM, 130 after Ctrl-C)."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    parser = build_parser(stdout=out, stderr=err)
    args = None
    try:
        args = parser.parse_args(argv)
        if getattr(args, "quiet", False):
            err = ErrorsOnly(err)
        if args.command in _OWN_SIGNALS:
            return int(args.run(args, out, err))
        with _sigterm_unwinds():
            return int(args.run(args, out, err))
    except _Terminated:
        err.write("lookalike: terminated\n")
        return 128 + signal.SIGTERM
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else 2
    except LookalikeError as exc:
        err.write(f"lookalike: error: {cli_message(str(exc), args)}\n")
        return 2
    except KeyboardInterrupt:
        err.write("lookalike: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0


def write_error(err: TextIO, message: str) -> None:
    """One line on stderr, prefixed like every other error of the tool."""
    err.write(f"lookalike: error: {message}\n")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
