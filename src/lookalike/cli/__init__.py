"""The ``lookalike`` command: one subcommand a module, each writing to injected streams.

``main(argv, stdout=..., stderr=...)`` returns the exit code, so tests read
exactly what a user sees. Exit codes: 0 success, 1 a negative answer where a
command defines one, 2 bad input or usage (one line on stderr, no traceback).
"""

from lookalike.cli._main import main

__all__ = ["main"]
