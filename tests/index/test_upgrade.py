"""An index written before the dihedral hashes existed is upgraded in place by ``update``, and then finds more."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from tests.index.conftest import as_previous_version, make_photos


def _turned_copies(folder: Path) -> None:
    """A copy of chelsea turned by 90 degrees and a mirrored copy of coffee, beside the photos."""
    Image.fromarray(np.rot90(np.asarray(Image.open(folder / "chelsea.jpg")))).save(folder / "chelsea-rot90.png")
    Image.fromarray(np.asarray(Image.open(folder / "coffee.jpg"))[:, ::-1]).save(folder / "coffee-flip.png")


def test_update_adds_the_dihedral_hashes_to_an_older_index_and_duplicates_then_finds_turned_copies(
    tmp_path: Path,
) -> None:
    from lookalike.features import dihedral_hashes
    from lookalike.index import Index
    from lookalike.io import load_image
    from lookalike.pipelines import find_duplicates

    folder = tmp_path / "photos"
    make_photos(folder, ("astronaut", "camera", "chelsea", "coffee", "rocket"))
    _turned_copies(folder)
    # what the previous version wrote: the same catalogue, a manifest without the new descriptors and
    # without "upgrades" (its defaults were phash, embedding, rootsift; no embedding, to keep the test light)
    with Index.create(tmp_path / "idx", descriptors=["phash", "rootsift"]) as index:
        index.update(folder, jobs=1)
        assert index.pending_upgrades() == []  # created by this version without them: kept so
    as_previous_version(tmp_path / "idx")
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert [d["name"] for d in manifest["descriptors"]] == ["phash", "rootsift"] and "upgrades" not in manifest

    with Index.open(tmp_path / "idx") as index:
        assert index.pending_upgrades() == ["dihedral", "words"]
        before = find_duplicates(index)
        assert before.groups == ()  # turned copies are 30+ bits away by the plain pHash; nothing verifies them
        stages: list[tuple[str, int, int]] = []
        report = index.update(folder, jobs=1, progress=lambda *a: stages.append(a))
        assert (report.upgraded, report.upgrade_left, report.processed) == (7, 0, 0)  # no file indexed again
        assert ("upgrading", 7, 7) in stages
        assert [s.name for s in index.descriptors] == ["phash", "rootsift", "dihedral", "words"]
        ids, stored = index.vectors("dihedral")
        _ids, plain = index.vectors("phash", ids)
        assert stored.shape == (7, 64) and np.array_equal(stored[:, :8], plain)  # row 0 is the stored pHash
        for file_id, row in zip(ids, stored, strict=True):  # what a fresh index computes from its decode
            [path] = index.paths([file_id])
            small = load_image(path, draft=index.descriptor("phash").draft)
            assert np.array_equal(row, dihedral_hashes(small).ravel())
        after = find_duplicates(index)
        assert index.update(folder, jobs=1).upgraded == 0  # once only
    groups = sorted(sorted(Path(m.path).name for m in g.files) for g in after.groups)
    assert groups == [["chelsea-rot90.png", "chelsea.jpg"], ["coffee-flip.png", "coffee.jpg"]]
    reopened = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert [d["name"] for d in reopened["descriptors"]] == ["phash", "rootsift", "dihedral", "words"]
