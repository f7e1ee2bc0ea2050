"""The ``lookalike`` command: one subcommand a module, each writing to injected streams.

``main(argv, stdout=..., stderr=...)`` returns the exit code, so tests read
exactly what a user sees. Exit codes (the README's rule): 0 when the job ran,
even with some files skipped and listed; 2 when nothing usable was given or
every item failed (one line on stderr, no traceback); 1 an internal error.
"""

from lookalike.cli._main import main

__all__ = ["main"]
