"""Which files ``find_duplicates`` considers and which one of each group it keeps.

``keep`` names the rule that picks a group's keeper (the file never moved):

``"pixels"`` (default)
    most pixels, then the largest file, then the first path;
``"largest"``
    the largest file, then most pixels;
``"oldest"`` / ``"newest"``
    the earliest / latest modification time;
``"shortest-path"``
    the shortest path (a file high in the folder tree rather than in ``backup/old/copies``);
``"pattern:GLOB"``
    a file whose path or name matches GLOB (``pattern:*/originals/*``), then the default rule.

``include`` / ``exclude`` are globs (``fnmatch``, matched against the full path and the
file name): only files matching an ``include`` (when any is given) and no ``exclude``
are considered; ``min_size`` leaves out files smaller than that many bytes.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lookalike.errors import ParameterError

if TYPE_CHECKING:
    from lookalike.index import FileRecord

__all__ = ["KEEP_RULES", "Selection"]

#: The rules ``keep`` accepts (and ``pattern:GLOB``).
KEEP_RULES = ("pixels", "largest", "oldest", "newest", "shortest-path", "pattern:GLOB")


def _matches(path: str, globs: Iterable[str]) -> bool:
    name = os.path.basename(path)
    return any(fnmatch.fnmatchcase(path, g) or fnmatch.fnmatchcase(name, g) for g in globs)


@dataclass(frozen=True)
class Selection:
    """The files considered and the keeper rule (see the module docstring)."""

    keep: str = "pixels"
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    min_size: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.keep, str) or (self.keep not in KEEP_RULES[:-1] and not (
                self.keep.startswith("pattern:") and len(self.keep) > len("pattern:"))):
            raise ParameterError(f"keep must be one of {', '.join(KEEP_RULES)}; got {self.keep!r}")
        if isinstance(self.min_size, bool) or not isinstance(self.min_size, int) or self.min_size < 0:
            raise ParameterError(f"min_size must be a whole number of bytes, 0 or more; got {self.min_size!r}")

    def wanted(self, record: FileRecord) -> bool:
        """Whether ``record`` is considered at all."""
        if self.min_size and (record.size or 0) < self.min_size:
            return False
        if self.include and not _matches(record.path, self.include):
            return False
        return not (self.exclude and _matches(record.path, self.exclude))

    @property
    def keeper_key(self) -> Callable[[FileRecord], Any]:
        """A sort key: the smallest is the keeper."""
        def default(r: FileRecord) -> tuple[int, int, str]:
            return (-(r.width or 0) * (r.height or 0), -(r.size or 0), r.path)

        if self.keep == "largest":
            return lambda r: (-(r.size or 0), *default(r))
        if self.keep == "oldest":
            return lambda r: (r.mtime_ns or 0, *default(r))
        if self.keep == "newest":
            return lambda r: (-(r.mtime_ns or 0), *default(r))
        if self.keep == "shortest-path":
            return lambda r: (len(r.path), *default(r))
        if self.keep.startswith("pattern:"):
            glob = self.keep[len("pattern:"):]
            return lambda r: (not _matches(r.path, (glob,)), *default(r))
        return default
