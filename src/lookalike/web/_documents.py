"""The JSON documents of ``compare``, ``match`` and ``search``: what the CLI prints with ``--json``
and what the HTTP API returns. One function per document, used by both (one schema).

The mapping from result types to JSON lives here only, built on their ``to_dict()`` where they
have one, so that a change of the result types touches one place. Links (``thumbnail``,
``difference``, ``drawing``) exist only where something serves them (the web app); the command
line leaves them out.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

#: What each stage of the pipelines' ``progress(stage, done, total)`` callback is called on screen:
#: the CLI's progress bar and the web service's jobs (``label``) show the same callback the same way.
PROGRESS_LABELS: dict[str, str] = {
    "indexing": "indexing images",  # lookalike.pipelines.build_index, Index.update / add
    "features": "reading images",  # similarity_matrix, then "pairs"
    "pairs": "comparing pairs",
    "drawing": "drawing matches",  # lookalike matrix --draw-matches
}


def json_number(value: float) -> float | str | None:
    """JSON has no infinity or NaN: PSNR of identical images is written as the string "inf", NaN as null."""
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def compare_document(
    a: str, b: str, values: Mapping[str, float], *, convention: str | None = None, difference: str | None = None
) -> dict[str, Any]:
    """``{"a": ..., "b": ..., "metrics": {name: value}}`` (+ ``convention``, + ``difference``: a picture's URL)."""
    document: dict[str, Any] = {"a": a, "b": b, "metrics": {k: json_number(float(v)) for k, v in values.items()}}
    if convention:
        document["convention"] = convention
    if difference is not None:
        document["difference"] = difference
    return document


def match_document(result: Any, *, drawing: str | None = None) -> dict[str, Any]:
    """A :class:`lookalike.matching.MatchResult` as JSON (+ ``drawing``: the match picture's URL)."""
    document = dict(result.to_dict())
    if drawing is not None:
        document["drawing"] = drawing
    return document


def common_root(paths: Iterable[str]) -> str | None:
    """The deepest folder holding every path (None for no path): what search names are relative to."""
    folders = {os.path.dirname(p) for p in paths}
    if not folders:
        return None
    try:
        return os.path.commonpath(sorted(folders))
    except ValueError:  # paths on different drives (Windows)
        return None


def display_name(path: str, roots: Iterable[str | None]) -> str:
    """``path`` relative to the first of ``roots`` that holds it, else its file name: never an absolute path."""
    for root in roots:
        if root and (path == root or path.startswith(root.rstrip(os.sep) + os.sep)):
            return os.path.relpath(path, root)
    return os.path.basename(path)


def search_document(
    result: Any,
    *,
    roots: Iterable[str | None] = (),
    show_paths: bool = True,
    thumbnail: Callable[[int], str] | None = None,
) -> dict[str, Any]:
    """A :class:`lookalike.pipelines.SearchResult` as JSON: ``{"query", "kind", "results": [...]}``.

    Each result has ``id`` (the index's file id), ``name`` (the path relative to the first of
    ``roots`` that holds it, else the file name), ``similarity`` and ``evidence``; ``path`` (the
    indexed path) only with ``show_paths``, ``thumbnail`` (a URL) only when ``thumbnail`` is given.
    """
    base = result.to_dict(evidence=True)
    roots = tuple(roots)
    rows = []
    for row in base["results"]:
        evidence = row["evidence"]
        out: dict[str, Any] = {"id": evidence["id"], "name": display_name(row["path"], roots),
                               "similarity": row["similarity"]}
        if show_paths:
            out["path"] = row["path"]
        if thumbnail is not None:
            out["thumbnail"] = thumbnail(int(evidence["id"]))
        out["evidence"] = evidence
        rows.append(out)
    document: dict[str, Any] = {"query": base["query"], "kind": result.kind, "results": rows}
    if "error" in base:
        document["error"] = base["error"]
    return document
