"""How the stages of the ``progress(stage, done, total)`` callback are called on screen.

The pipelines (and the index's ingestion below them) report progress through one callback;
the CLI's progress bar and the web service's jobs (their ``label``) show it with these words,
so one callback reads the same everywhere.
"""

from __future__ import annotations

__all__ = ["PROGRESS_LABELS"]

#: Stage name -> label; a stage without a label is shown by its own name.
PROGRESS_LABELS: dict[str, str] = {
    "indexing": "indexing images",  # lookalike.index.build_index, Index.update / add
    "features": "reading images",  # similarity_matrix, then "pairs"
    "pairs": "comparing pairs",
    "drawing": "drawing matches",  # lookalike matrix --draw-matches
}
