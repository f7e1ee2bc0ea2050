"""Pictures of results (presentation only; the core never imports this package).

:func:`diff_regions` and :func:`diff_analysis` return data (boxes, the SSIM map,
the mask); :func:`diff_image` and :func:`render_diff` draw it with OpenCV.
:func:`draw_heatmap` draws a similarity matrix; :func:`duplicates_html` makes the duplicates page.
"""

from lookalike.viz._diff import DEFAULT_THRESHOLD as DIFF_THRESHOLD
from lookalike.viz._diff import DiffAnalysis, diff_analysis, diff_image, diff_regions, render_diff
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
    "draw_heatmap",
    "draw_matches",
    "duplicates_html",
    "render_diff",
    "thumbnail_data_uri",
    "write_duplicates_html",
]
