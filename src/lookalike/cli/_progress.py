"""The terminal progress bar the CLI commands share (``index``, ``search``, ``duplicates``, ``matrix``).

The pipelines report progress as ``progress(stage, done, total)``; :class:`ProgressBar`
turns that into one rich bar per stage on the error stream, and into nothing at all
when that stream is not a terminal (pipes, files, tests), so the output a script reads
never changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TextIO

from lookalike.pipelines import PROGRESS_LABELS


class ProgressBar:
    """A rich progress bar on the error stream when it is a terminal; otherwise nothing.

    Use as ``with ProgressBar(err) as progress: pipeline(..., progress=progress)``:
    ``progress`` is the callback, or ``None`` off a terminal. Each stage gets its own
    bar, labelled from ``LABELS`` (the stage's own name when it has no label).
    """

    #: The labels the web service's jobs show too (one callback, one wording).
    LABELS: ClassVar[dict[str, str]] = PROGRESS_LABELS

    def __init__(self, err: TextIO) -> None:
        self.err = err
        self.progress: Any = None
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> Callable[[str, int, int], None] | None:
        isatty = getattr(self.err, "isatty", None)
        if not (callable(isatty) and isatty()):
            return None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=Console(file=self.err), transient=True,
        )
        self.progress.start()
        return self.update

    def update(self, stage: str, done: int, total: int) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(self.LABELS.get(stage, stage), total=total)
        self.progress.update(self.tasks[stage], completed=done, total=total)

    def __exit__(self, *exc_info: object) -> None:
        if self.progress is not None:
            self.progress.stop()
