"""Pictures of results (presentation only; the core never imports this package)."""

from lookalike.viz._heatmap import HEATMAP_COLORMAPS, draw_heatmap

__all__: list[str] = ["HEATMAP_COLORMAPS", "draw_heatmap"]
