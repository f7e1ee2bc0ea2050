"""The stored verification keypoints (descriptor "rootsift"): equal to extraction, kept with the file's row."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.errors import IndexFormatError, ParameterError
from lookalike.features import LocalFeatures, extract_local
from lookalike.index import (
    DEFAULT_DESCRIPTORS,
    VERIFY_KEYPOINTS,
    VERIFY_SIZE,
    Index,
    describe_keypoints,
    descriptor_spec,
)
from lookalike.index._descriptors import parse_specs
from lookalike.matching import verify_features, verify_pixels
from tests.index.conftest import photo

pytest.importorskip("faiss")

NAMES = ("astronaut", "camera", "chelsea", "coffee")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Four small real photos; astronaut at 640 px so the verification decode is downscaled."""
    out = tmp_path / "photos"
    out.mkdir()
    for name in NAMES:
        pixels = photo(name, longest=640 if name == "astronaut" else 200)
        Image.fromarray(pixels).save(out / (f"{name}.jpg" if pixels.ndim == 3 else f"{name}.png"), quality=90)
    return out


def build(folder: Path, tmp_path: Path, *, jobs: int = 1) -> Index:
    index = Index.create(tmp_path / "idx", descriptors=["phash", "rootsift"])
    index.update(folder, jobs=jobs)
    return index


def same(a: LocalFeatures, b: LocalFeatures) -> bool:
    return (np.array_equal(a.keypoints, b.keypoints) and np.array_equal(a.descriptors, b.descriptors)
            and a.descriptors.dtype == b.descriptors.dtype and a.method == b.method
            and a.image_size == b.image_size and a.working_scale == b.working_scale)


def on_the_fly(path: str | Path) -> LocalFeatures:
    """What search extracts from a file: RootSIFT of the 512-pixel draft decode, 1000 keypoints."""
    return extract_local(verify_pixels(path), method="rootsift", working_size=VERIFY_SIZE,
                         max_keypoints=VERIFY_KEYPOINTS)


def test_rootsift_is_a_default_keypoint_descriptor() -> None:
    assert DEFAULT_DESCRIPTORS == ("phash", "dihedral", "embedding", "rootsift", "words")
    spec = descriptor_spec("rootsift")
    assert (spec.kind, spec.dim, spec.draft, spec.is_vector) == ("keypoints", 128, (512, 512), False)
    # the global descriptors share one decode; the keypoints keep their own
    assert [s.draft for s in parse_specs(["phash", "rootsift", "embedding"])] == [(256, 256), (512, 512), (256, 256)]
    with pytest.raises(ParameterError, match="add phash or embedding"):
        parse_specs(["rootsift"])


def test_stored_features_equal_the_extracted_ones_and_survive_reopening(folder: Path, tmp_path: Path) -> None:
    with build(folder, tmp_path, jobs=2) as index:
        paths = sorted(folder.iterdir())
        ids = index.ids_of(paths)
        stored = index.local_features(ids)
        assert list(stored) == [int(i) for i in ids]  # the order asked for
    with Index.open(tmp_path / "idx") as index:
        again = index.local_features([*reversed(ids.tolist()), -1, 10_000])
        assert list(again) == [int(i) for i in reversed(ids)]  # unknown ids and -1 are absent
        for file_id, path in zip(ids, paths, strict=True):
            expected = on_the_fly(path)
            assert len(expected) > 20
            assert same(stored[int(file_id)], expected) and same(again[int(file_id)], expected), path.name
        astronaut = stored[int(index.ids_of([folder / "astronaut.jpg"])[0])]
        assert astronaut.working_scale > 1 and astronaut.image_size == (640, 640)
        assert index.local_features([]) == {}


def test_sift_descriptors_are_small_integers_and_the_blob_is_compact(folder: Path) -> None:
    # the storage relies on OpenCV's SIFT descriptors holding integers 0..255 (saturate_cast<uchar>)
    sift = extract_local(verify_pixels(folder / "chelsea.jpg"), method="sift", working_size=VERIFY_SIZE,
                         max_keypoints=VERIFY_KEYPOINTS)
    assert np.array_equal(sift.descriptors, np.rint(sift.descriptors))
    assert sift.descriptors.min() >= 0 and sift.descriptors.max() <= 255
    spec = descriptor_spec("rootsift")
    blob = describe_keypoints(folder / "chelsea.jpg", spec)
    assert len(blob) == 24 + 144 * len(sift)  # header, 4 float32 and 128 bytes per keypoint
    assert same(spec.features_from_bytes(blob), verify_features(verify_pixels(folder / "chelsea.jpg")))
    with pytest.raises(IndexFormatError, match="damaged rootsift"):
        spec.features_from_bytes(blob[:-1])


def test_update_replaces_and_remove_drops_them(folder: Path, tmp_path: Path) -> None:
    with build(folder, tmp_path) as index:
        target = folder / "coffee.jpg"
        [old] = index.ids_of([target])
        Image.fromarray(photo("rocket", longest=200)).save(target, quality=90)
        info = target.stat()
        os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))
        report = index.update(folder, jobs=1)
        assert report.changed == 1
        [new] = index.ids_of([target])
        assert new != old and index.local_features([old]) == {}
        assert same(index.local_features([new])[int(new)], on_the_fly(target))
        assert index.info().stores["rootsift"]["count"] == 4

        [gone] = index.ids_of([folder / "camera.png"])
        assert index.remove(folder / "camera.png") == 1
        assert index.local_features([gone]) == {}
        count, size = index.catalog.descriptor_totals("rootsift")
        assert count == 3 and size == sum(24 + 144 * len(f) for f in index.local_features(index.ids_of(
            [folder / n for n in ("astronaut.jpg", "chelsea.jpg", "coffee.jpg")])).values())


def test_info_lists_them_and_vector_calls_refuse_them(folder: Path, tmp_path: Path) -> None:
    with build(folder, tmp_path) as index:
        info = index.info()
        assert info.descriptors == ("phash", "rootsift")
        entry = info.stores["rootsift"]
        assert entry["backend"] == "catalogue" and entry["count"] == 4 and entry["bytes"] > 4 * 24
        assert all(n.startswith("phash") for n in os.listdir(tmp_path / "idx" / "vectors"))  # no rootsift store
        with pytest.raises(ParameterError, match="local_features"):
            index.vectors("rootsift")
        with pytest.raises(ParameterError, match="local_features"):
            index.search_vectors(np.zeros((1, 128), np.float32), 1, descriptor="rootsift")
        assert index.descriptor().name == "phash"  # the default vector descriptor is never the keypoints


def test_an_index_without_them_still_opens_and_has_none(folder: Path, tmp_path: Path) -> None:
    with Index.create(tmp_path / "old", descriptors=["phash"]) as index:
        index.update(folder, jobs=1)
        ids = index.ids_of(sorted(folder.iterdir()))
    # an index written before the descriptor existed: the same manifest and catalogue layout
    manifest = json.loads((tmp_path / "old" / "manifest.json").read_text())
    assert [d["name"] for d in manifest["descriptors"]] == ["phash"]
    with Index.open(tmp_path / "old") as index:
        assert len(index) == 4 and index.local_features(ids) == {}
        assert "rootsift" not in index.info().stores


def test_a_file_whose_keypoints_fail_is_recorded_with_the_error(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lookalike.index import _keypoints

    real = _keypoints.describe_keypoints

    def failing(source: object, spec: object) -> bytes:
        if isinstance(source, bytes) and source == (folder / "chelsea.jpg").read_bytes():
            raise MemoryError("no room for keypoints")
        return real(source, spec)  # type: ignore[arg-type]

    monkeypatch.setattr(_keypoints, "describe_keypoints", failing)
    with build(folder, tmp_path) as index:  # jobs=1: in this process, where the patch holds
        rows = {Path(r.path).name: (r.status, r.error) for r in index.records()}
        assert rows["chelsea.jpg"] == ("error", "rootsift: MemoryError: no room for keypoints")
        assert len(index) == 3 and index.catalog.descriptor_totals("rootsift")[0] == 3
        assert index.vectors("phash")[0].size == 3  # the file's other descriptors went with it
    monkeypatch.setattr(_keypoints, "describe_keypoints", real)
    with Index.open(tmp_path / "idx") as index:
        assert index.update(folder, jobs=1).changed == 1  # a failed file is tried again
        assert len(index) == 4


def test_copies_of_an_index_folder_keep_them(folder: Path, tmp_path: Path) -> None:
    with build(folder, tmp_path):
        pass
    shutil.copytree(tmp_path / "idx", tmp_path / "copy")
    with Index.open(tmp_path / "copy") as index:
        ids = index.ids_of([folder / "chelsea.jpg"])
        assert same(index.local_features(ids)[int(ids[0])], on_the_fly(folder / "chelsea.jpg"))
