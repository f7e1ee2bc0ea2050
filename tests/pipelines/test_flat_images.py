"""Images without structure are not copies of each other unless their pixels are identical (issue 11, item 1).

The real case: a folder of solid red, blue, white and black pictures, as PNG and as JPEG, and a grey
ramp. Every one of them has the same pHash (its 63 AC coefficients are 0, so the bits are ties at the
median) and no keypoints; ``duplicates`` grouped them as one group at 98-99.5% and ``search`` scored
them alike. Now the hash and the cosine of such a pair are no evidence: only the same bytes, or the
same decoded pixels, make a copy, and search and duplicates say the same.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.index.conftest import photo

pytest.importorskip("faiss")
pytest.importorskip("onnxruntime")

COLOURS = {"red": (255, 0, 0), "blue": (0, 0, 255), "white": (255, 255, 255), "black": (0, 0, 0)}


def _flat_folder(folder: Path) -> Path:
    folder.mkdir()
    for name, colour in COLOURS.items():
        pixels = np.zeros((200, 300, 3), np.uint8)
        pixels[:] = colour
        Image.fromarray(pixels).save(folder / f"{name}.png")
        Image.fromarray(pixels).save(folder / f"{name}.jpg", quality=90)  # red and blue decode to 254, not 255
    Image.fromarray(np.zeros((200, 300, 3), np.uint8)).save(folder / "black.bmp")  # black.png's pixels, other bytes
    ramp = np.tile(np.linspace(0, 255, 300).astype(np.uint8), (200, 1))
    Image.fromarray(np.dstack([ramp] * 3)).save(folder / "gradient.png")
    return folder


def _groups(report) -> list[list[str]]:  # type: ignore[no-untyped-def]
    return sorted(sorted(os.path.basename(m.path) for m in g.files) for g in report.groups)


def _decoded(path: Path) -> bytes:
    from lookalike.matching import load_for_descriptors

    return np.ascontiguousarray(load_for_descriptors(path)).tobytes()


def test_flat_images_are_copies_only_where_their_pixels_are_identical(tmp_path: Path) -> None:
    from lookalike import search
    from lookalike.features import image_hash
    from lookalike.matching import flat_hashes
    from lookalike.pipelines import find_duplicates

    folder = _flat_folder(tmp_path / "flat")
    names = sorted(p.name for p in folder.iterdir())
    assert all(flat_hashes(image_hash(np.asarray(Image.open(folder / n).convert("RGB")))) for n in names)
    # which pairs really are pixel-identical (the JPEG of solid white and black decodes exactly; of red, to 254)
    same = {n: {m for m in names if _decoded(folder / m) == _decoded(folder / n)} for n in names}
    assert same["black.png"] == {"black.png", "black.jpg", "black.bmp"} and same["red.png"] == {"red.png"}
    expected = sorted(sorted(s) for s in {frozenset(s) for s in same.values()} if len(s) > 1)
    assert expected == [["black.bmp", "black.jpg", "black.png"], ["white.jpg", "white.png"]]

    index_path = tmp_path / "idx"
    for threshold in (0.85, 0.5):
        report = find_duplicates(folder, index=index_path, min_similarity=threshold)
        assert _groups(report) == expected, threshold  # was one group of all 10 at 98-99.5%
        for group in report.groups:
            for member in group.members:  # identical pixels, other bytes: similarity 1, not "exact"
                assert member.similarity == 1.0 and not member.exact
            assert not group.exact and not group.keeper.exact

    [red] = search(folder / "red.png", index_path, top=len(names))
    scores = {os.path.basename(h.path): h.similarity for h in red.results}
    assert scores.pop("red.png") == 1.0  # itself (the same bytes)
    assert max(scores.values()) < 0.01, scores  # was 99.5% for every other flat image, 87% for red.jpg
    assert all(e.flat for e in red.evidence)
    [black] = search(folder / "black.png", index_path, top=len(names))
    shown = {os.path.basename(h.path) for h in black.results if h.similarity >= 0.5}
    assert shown == {"black.png", "black.jpg", "black.bmp"}  # search agrees with duplicates
    assert {os.path.basename(h.path) for h, e in zip(black.results, black.evidence, strict=True)
            if e.same_pixels} == {"black.jpg", "black.bmp"}


def test_real_photos_beside_flat_images_still_group(tmp_path: Path) -> None:
    """A photo and its re-encoded, half-size copy are still one group, the flat pictures around them none."""
    from lookalike import search
    from lookalike.pipelines import find_duplicates

    folder = _flat_folder(tmp_path / "mixed")
    chelsea = Image.fromarray(photo("chelsea", longest=384))
    chelsea.save(folder / "chelsea.png")
    chelsea.resize((192, 128), Image.Resampling.LANCZOS).save(folder / "chelsea-small.jpg", quality=60)
    index_path = tmp_path / "idx"
    report = find_duplicates(folder, index=index_path)
    assert ["chelsea-small.jpg", "chelsea.png"] in _groups(report)
    assert ["blue.jpg", "blue.png"] not in _groups(report) and len(report.groups) == 3
    [result] = search(folder / "chelsea.png", index_path, top=3)
    assert [os.path.basename(h.path) for h in result.results[:2]] == ["chelsea.png", "chelsea-small.jpg"]
    assert result.results[1].similarity > 0.85 and not result.evidence[1].flat
    assert result.results[2].similarity < 0.01  # a flat picture is nothing like a photo


def test_the_flat_measure_is_the_stored_phash_so_an_older_index_has_it(tmp_path: Path) -> None:
    """No new descriptor: an index written before this change (the same catalogue) gives the same answer."""
    from lookalike.index import Index
    from lookalike.pipelines import find_duplicates
    from tests.index.conftest import as_previous_version

    folder = _flat_folder(tmp_path / "flat")
    with Index.create(tmp_path / "idx", descriptors=["phash", "embedding"]) as index:
        index.update(folder, jobs=1)
    as_previous_version(tmp_path / "idx")
    with Index.open(tmp_path / "idx") as index:
        assert _groups(find_duplicates(index)) == [["black.bmp", "black.jpg", "black.png"], ["white.jpg", "white.png"]]
