"""Where duplicates finds its candidates: dihedral hashes (turned and mirrored copies), visual words (crops)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tests.index.conftest import make_photos


def _names(report) -> list[list[str]]:  # type: ignore[no-untyped-def]
    return sorted(sorted(Path(m.path).name for m in g.files) for g in report.groups)


def test_a_half_crop_is_found_through_the_visual_words_without_an_embedding(tmp_path: Path) -> None:
    from lookalike.index import Index
    from lookalike.pipelines import find_duplicates

    folder = tmp_path / "photos"
    make_photos(folder, ("astronaut", "camera", "chelsea", "coffee", "rocket", "coins"), longest=512)
    pixels = np.asarray(Image.open(folder / "chelsea.jpg"))
    h, w = pixels.shape[:2]
    Image.fromarray(pixels[h // 5: h // 5 + h // 2, w // 3: w // 3 + w // 2]).save(folder / "chelsea-crop50.png")
    # no embedding, and a pHash 20+ bits away: only the words can bring the crop and its original together
    with Index.create(tmp_path / "words", descriptors=["phash", "rootsift", "words"]) as index:
        index.update(folder, jobs=1)
        found = find_duplicates(index, min_similarity=0.5)
    with Index.create(tmp_path / "plain", descriptors=["phash", "rootsift"]) as index:
        index.update(folder, jobs=1)
        missed = find_duplicates(index, min_similarity=0.5)
    assert _names(found) == [["chelsea-crop50.png", "chelsea.jpg"]]
    assert _names(missed) == []
