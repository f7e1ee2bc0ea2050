"""Transparent images are described as a viewer shows them: composited on white (hashes, embedding, keypoints).

With the loader's default ``alpha="drop"`` black line art on a transparent background decodes as a
solid black square: every such drawing hashed and embedded identically, whatever it showed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

import lookalike
from lookalike.features import image_hash
from lookalike.index import DESCRIPTOR_ALPHA, Index, load_for_descriptors


def drawing(path: Path, shape: str) -> Path:
    """Black strokes on a fully transparent background; every pixel's stored colour is black."""
    rgba = np.zeros((160, 160, 4), np.uint8)
    alpha = np.zeros((160, 160), np.uint8)
    if shape == "circle":
        cv2.circle(alpha, (80, 80), 50, 255, 6)
    else:
        cv2.line(alpha, (20, 20), (140, 140), 255, 6)
        cv2.line(alpha, (140, 20), (20, 140), 255, 6)
    rgba[..., 3] = alpha
    Image.fromarray(rgba, "RGBA").save(path)
    return path


def test_line_art_is_composited_on_white(tmp_path: Path) -> None:
    circle = drawing(tmp_path / "circle.png", "circle")
    assert DESCRIPTOR_ALPHA == "white"
    pixels = load_for_descriptors(circle)
    assert pixels.shape == (160, 160, 3) and pixels[0, 0].tolist() == [255, 255, 255] and pixels.min() == 0
    cross = load_for_descriptors(drawing(tmp_path / "cross.png", "cross"))
    assert not np.array_equal(image_hash(pixels), image_hash(cross))  # alpha dropped: both solid black, equal


def test_index_and_query_see_the_drawing(tmp_path: Path, embedder: Any) -> None:
    folder = tmp_path / "art"
    folder.mkdir()
    drawing(folder / "circle.png", "circle")
    drawing(folder / "cross.png", "cross")
    with Index.create(tmp_path / "idx", descriptors=["phash", "embedding", "rootsift"]) as index:
        index.update(folder, jobs=1)
        ids = index.ids_of([folder / "circle.png", folder / "cross.png"])
        _ids, vectors = index.vectors("embedding", ids)
        assert float(vectors[0] @ vectors[1]) < 0.95  # not one vector for every drawing (was 1.0)
        _ids, hashes = index.vectors("phash", ids)
        assert not np.array_equal(hashes[0], hashes[1])
        stored = index.local_features(ids)
        assert all(len(stored[int(i)]) > 0 for i in ids)  # strokes have corners; a black square has none
        [result] = lookalike.search(folder / "circle.png", index, top=2)
        hit = result.results[0]
        assert hit.path.endswith("circle.png") and hit.similarity == 1.0
