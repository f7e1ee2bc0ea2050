"""Pictures of a classification evaluation: the confusion matrix, and a page of the misclassified images.

The page is one self-contained HTML file (thumbnails as base64 JPEG data URIs, no script, no
external resource); every name is HTML-escaped.
"""

from __future__ import annotations

import html
import os
from typing import Any

import numpy as np

from lookalike.errors import ParameterError
from lookalike.viz._heatmap import draw_heatmap
from lookalike.viz._report import picture_html

__all__ = ["draw_confusion", "evaluation_html", "write_evaluation_html"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; } p.summary { color: #555; }
table { border-collapse: collapse; margin: 0.5em 0 1em 0; } td, th { border: 1px solid #ccc; padding: 2px 8px; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
section.query { border: 1px solid #ccc; border-radius: 6px; margin: 1em 0; padding: 0.6em; }
section.query h2 { font-size: 1em; margin: 0 0 0.5em 0; }
div.row { display: flex; flex-wrap: wrap; gap: 0.8em; }
figure { margin: 0; width: %(size)dpx; }
figure img { max-width: %(size)dpx; max-height: %(size)dpx; display: block; background: #eee; }
figure.query img { outline: 3px solid #c33; }
figure.same img { outline: 2px solid #2a7; }
figcaption { font-size: 0.8em; word-break: break-all; }
div.missing { width: %(size)dpx; height: %(size)dpx; background: #eee; color: #a33; font-size: 0.8em;
              display: flex; align-items: center; justify-content: center; text-align: center; }
"""


def draw_confusion(evaluation: Any) -> np.ndarray:
    """The confusion matrix of an :class:`~lookalike.pipelines.Evaluation` as an RGB picture.

    Rows are the true classes, columns the predicted ones; each cell holds the
    share of its row (the recall on the diagonal), its count written in it.

    Examples
    --------
    >>> from lookalike.pipelines import score_predictions
    >>> from types import SimpleNamespace
    >>> s = score_predictions(["a", "a", "b"], ["a", "b", "b"], ("a", "b"))
    >>> e = SimpleNamespace(confusion=s["confusion"], classes=("a", "b"), predicted_labels=s["columns"],
    ...                     method="knn", accuracy=s["accuracy"])
    >>> draw_confusion(e).shape[2]
    3
    """
    counts = np.asarray(evaluation.confusion, np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    title = f"confusion: {evaluation.method}, accuracy {evaluation.accuracy:.3f} (rows true, columns predicted)"
    return draw_heatmap(shares, row_labels=list(evaluation.classes), column_labels=list(evaluation.predicted_labels),
                        title=title, value_range=(0.0, 1.0), annotate=len(evaluation.predicted_labels) <= 15)


def _figure(path: str, caption: str, css: str, size: int) -> str:
    name = html.escape(os.path.basename(path))
    return (f'<figure class="{css}">{picture_html(path, size)}<figcaption>{caption}<br>'
            f'<span title="{html.escape(path)}">{name}</span></figcaption></figure>')


def evaluation_html(evaluation: Any, *, thumbnail: int = 128, title: str = "Classification: misclassified images",
                    limit: int = 200) -> str:
    """The HTML page of an evaluation: the scores, per-class table, and each misclassified query beside its
    nearest references (a green outline marks a neighbour of the query's true class).

    Parameters
    ----------
    evaluation : Evaluation
    thumbnail : int, keyword-only
        Longest side of the thumbnails, in pixels.
    title : str, keyword-only
    limit : int, keyword-only
        Show at most this many misclassified queries (the least confident wrong ones last).
    """
    if isinstance(thumbnail, bool) or not isinstance(thumbnail, int) or not 16 <= thumbnail <= 1024:
        raise ParameterError(f"thumbnail must be an integer from 16 to 1024 pixels, got {thumbnail!r}")
    wrong = sorted(evaluation.misclassified, key=lambda item: -item[0].confidence)
    setting = f"{evaluation.folds}-fold cross-validation" if evaluation.folds else "a separate test set"
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{html.escape(title)}</title>",
        f"<style>{_STYLE % {'size': thumbnail}}</style></head><body>", f"<h1>{html.escape(title)}</h1>",
        f'<p class="summary">Method {html.escape(evaluation.method)} (k = {evaluation.k}), {setting}: '
        f"{len(evaluation.predictions)} queries, accuracy {evaluation.accuracy:.4f}, balanced accuracy "
        f"{evaluation.balanced_accuracy:.4f}; {len(wrong)} misclassified.</p>",
        "<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>",
    ]
    for label, row in evaluation.per_class.items():
        parts.append(f'<tr><td>{html.escape(label)}</td><td class="n">{row["precision"]:.3f}</td>'
                     f'<td class="n">{row["recall"]:.3f}</td><td class="n">{row["f1"]:.3f}</td>'
                     f'<td class="n">{int(row["support"])}</td></tr>')
    parts.append("</table>")
    if evaluation.skipped:
        parts.append(f"<p>{len(evaluation.skipped)} files could not be used:</p><ul>")
        parts += [f"<li>{html.escape(s.path)}: {html.escape(s.reason)}</li>" for s in evaluation.skipped[:limit]]
        parts.append("</ul>")
    for prediction, truth in wrong[:limit]:
        parts.append(f"<section class=\"query\"><h2>{html.escape(os.path.basename(prediction.path))}: true "
                     f"{html.escape(truth)}, predicted {html.escape(prediction.label)} "
                     f"({prediction.confidence * 100:.0f}%)</h2><div class=\"row\">")
        parts.append(_figure(prediction.path, f"query, true {html.escape(truth)}", "query", thumbnail))
        for n in prediction.neighbours:
            caption = f"{html.escape(n.label)}, similarity {n.similarity:.3f}"
            parts.append(_figure(n.path, caption, "same" if n.label == truth else "other", thumbnail))
        parts.append("</div></section>")
    if not wrong:
        parts.append("<p>Every query got its label.</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_evaluation_html(evaluation: Any, path: str | os.PathLike[str], **options: Any) -> str:
    """Write :func:`evaluation_html` to ``path`` (UTF-8); returns the path written."""
    target = os.fspath(path)
    with open(target, "w", encoding="utf-8") as handle:
        handle.write(evaluation_html(evaluation, **options))
    return target
