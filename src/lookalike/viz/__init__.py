"""Pictures of results (presentation only; the core never imports this package).

:func:`diff_image` and :func:`render_diff` draw where two images differ (the analysis,
:func:`diff_analysis` / :func:`diff_regions` / :class:`DiffAnalysis`, is :mod:`lookalike.pipelines`'s,
named here too).
:func:`draw_heatmap` draws a similarity matrix; :func:`duplicates_html` makes the duplicates page;
:func:`draw_confusion` and :func:`evaluation_html` show a classification evaluation.
"""

from lookalike.pipelines import DIFF_THRESHOLD, DiffAnalysis, diff_analysis, diff_regions
from lookalike.viz._classify_report import draw_confusion, evaluation_html, write_evaluation_html
from lookalike.viz._diff import diff_image, render_diff
from lookalike.viz._heatmap import HEATMAP_COLORMAPS, draw_heatmap
from lookalike.viz._matches import draw_matches
from lookalike.viz._report import duplicates_html, thumbnail_data_uri, write_duplicates_html

__all__: list[str] = [
    "DIFF_THRESHOLD",
    "HEATMAP_COLORMAPS",
    "DiffAnalysis",
    "diff_analysis",
    "diff_image",
    "diff_regions",
    "draw_confusion",
    "draw_heatmap",
    "draw_matches",
    "duplicates_html",
    "evaluation_html",
    "render_diff",
    "thumbnail_data_uri",
    "write_duplicates_html",
    "write_evaluation_html",
]
