"""draw_heatmap: the more similar end is always bright, missing values grey, labels checked."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.errors import ParameterError
from lookalike.viz import draw_heatmap


def _cell_colours(picture: np.ndarray, n: int) -> np.ndarray:
    """Colours at the centre of each cell of an n x n heat map drawn without labels."""
    coloured = np.any(picture != 255, axis=2)
    left = int(np.nonzero(coloured.any(axis=0))[0].min())  # without labels the grid is the leftmost part
    top = int(np.nonzero(coloured[:, left + 3])[0].min())
    cell = min(56, 720 // n)
    return np.array([[picture[top + i * cell + cell // 2, left + j * cell + cell // 2] for j in range(n)]
                     for i in range(n)])


def _brightness(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(float) @ np.array([0.299, 0.587, 0.114])


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_the_more_similar_end_is_bright_whatever_the_direction(higher_is_better: bool) -> None:
    values = np.array([[0.0, 1.0], [1.0, 0.0]])
    picture = draw_heatmap(values, higher_is_better=higher_is_better, annotate=False)
    colours = _cell_colours(picture, 2)
    brightness = _brightness(colours)
    similar = brightness[0, 1] if higher_is_better else brightness[0, 0]
    other = brightness[0, 0] if higher_is_better else brightness[0, 1]
    assert similar > other + 100


def test_missing_values_are_grey_and_infinite_ones_take_the_end_colour() -> None:
    values = np.array([[np.inf, 20.0], [np.nan, 30.0]])  # PSNR-like: the identity is inf
    colours = _cell_colours(draw_heatmap(values, annotate=False), 2)
    np.testing.assert_array_equal(colours[1, 0], [205, 205, 205])
    np.testing.assert_array_equal(colours[0, 0], colours[1, 1])  # inf drawn like the largest finite value


def test_labels_title_and_colour_bar_make_the_picture_larger() -> None:
    values = np.eye(3)
    bare = draw_heatmap(values)
    labelled = draw_heatmap(values, row_labels=["a.jpg", "b.jpg", "\u00e9t\u00e9.jpg"], title="rootsift similarity")
    assert labelled.shape[0] > bare.shape[0] and labelled.shape[1] > bare.shape[1]
    assert labelled.dtype == np.uint8 and labelled.shape[2] == 3


def test_rectangular_matrices_need_their_own_column_labels() -> None:
    values = np.zeros((2, 3))
    draw_heatmap(values, row_labels=["a", "b"], column_labels=["x", "y", "z"])
    with pytest.raises(ParameterError, match="column_labels has 2 entries for 3"):
        draw_heatmap(values, row_labels=["a", "b"], column_labels=["x", "y"])


def test_many_images_drop_the_labels_but_keep_every_cell() -> None:
    n = 300
    picture = draw_heatmap(np.random.default_rng(0).random((n, n)), row_labels=[f"img{i}.jpg" for i in range(n)])
    assert picture.shape[0] >= 2 * n and picture.shape[1] >= 2 * n


@pytest.mark.parametrize("kwargs, message", [
    ({"values": np.zeros((0, 0))}, "non-empty 2-D"),
    ({"values": np.zeros(3)}, "non-empty 2-D"),
    ({"values": np.eye(2), "value_range": (1.0, 1.0)}, "low < high"),
    ({"values": np.eye(2), "colormap": "jet"}, "colormap must be"),
])
def test_bad_arguments_are_parameter_errors(kwargs: dict[str, object], message: str) -> None:
    values = kwargs.pop("values")
    with pytest.raises(ParameterError, match=message):
        draw_heatmap(values, **kwargs)  # type: ignore[arg-type]
