"""The persistent index: catalogue contents, update semantics, snapshots, format errors and bad input."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from lookalike.errors import IndexFormatError, ParameterError
from lookalike.features import hamming_distance, image_hash
from lookalike.index import FORMAT_VERSION, Index, NumpyBinaryStore
from lookalike.io import load_image
from lookalike.pipelines import search
from tests.conftest import shared_path
from tests.index.conftest import PHOTOS, photo

pytest.importorskip("faiss")

DRAFT = (64, 64)  # the decode size of a hash-only index (lookalike.index._descriptors.HASH_DECODE_SIZE)


def build(folder: Path, tmp_path: Path, **kwargs: object) -> Index:
    index = Index.create(tmp_path / "idx", descriptors=["phash"])
    index.update(folder, jobs=1, **kwargs)  # type: ignore[arg-type]
    return index


def rows(index: Index) -> dict[str, tuple]:
    return {Path(r.path).name: (r.status, r.error) for r in index.records()}


def touch_later(path: Path) -> None:
    """Move the modification time forward by a second (file systems with coarse times see the change)."""
    info = path.stat()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))


# -- the catalogue ---------------------------------------------------------------------------------

def test_build_records_every_file_with_its_identity_and_hash(photos: Path, tmp_path: Path) -> None:
    with build(photos, tmp_path) as index:
        records = index.records()
        assert len(records) == len(index) == len(PHOTOS)
        for record in records:
            path = Path(record.path)
            assert path.is_absolute() and path.parent == photos.resolve()
            data = path.read_bytes()
            assert record.status == "ok" and record.error is None
            assert record.content_hash == hashlib.sha256(data).hexdigest()
            assert record.size == len(data) and record.mtime_ns == path.stat().st_mtime_ns
            with Image.open(path) as image:
                assert (record.width, record.height) == image.size
            # the stored hash is lookalike's pHash of the one reduced-size decode
            ids, vectors = index.vectors("phash", [record.id])
            assert ids.tolist() == [record.id]
            np.testing.assert_array_equal(vectors[0], image_hash(load_image(path, draft=DRAFT), method="phash"))


def test_the_folder_layout_and_manifest(photos: Path, tmp_path: Path) -> None:
    with build(photos, tmp_path) as index:
        generation = index.catalog.generation()
    folder = tmp_path / "idx"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION and isinstance(manifest["format_version"], int)
    assert manifest["created_by"].startswith("lookalike ")
    assert manifest["descriptors"] == [{"name": "phash", "kind": "hash", "dim": 64, "metric": "hamming",
                                        "params": {"method": "phash", "hash_size": 8}, "draft": [64, 64]}]
    snapshot = json.loads((folder / "vectors" / "phash.json").read_text())
    assert snapshot["generation"] == generation == len(PHOTOS) and snapshot["count"] == len(PHOTOS)
    assert (folder / "vectors" / snapshot["file"]).is_file()
    db = sqlite3.connect(folder / "catalog.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    columns = [row[1] for row in db.execute("PRAGMA table_info(files)")]
    assert columns == ["id", "path", "size", "mtime_ns", "content_hash", "width", "height", "status", "error",
                       "indexed_at"]
    db.close()
    assert not [p for p in folder.rglob(".tmp-*")]


def test_update_adds_changes_removes_and_skips_what_is_unchanged(photos: Path, tmp_path: Path) -> None:
    index = build(photos, tmp_path)
    old_id = int(index.ids_of([photos / "coffee.jpg"])[0])
    report = index.update(photos, jobs=1)
    assert (report.added, report.changed, report.removed, report.unchanged, report.processed) == (0, 0, 0, 8, 0)
    # one changed (new content), one deleted, one new
    Image.fromarray(np.ascontiguousarray(photo("coffee")[::-1])).save(photos / "coffee.jpg", quality=90)
    touch_later(photos / "coffee.jpg")
    (photos / "moon.png").unlink()
    shutil.copy(photos / "rocket.jpg", photos / "rocket copy.jpg")
    report = index.update(photos, jobs=1)
    assert (report.added, report.changed, report.removed, report.unchanged, report.processed) == (1, 1, 1, 6, 2)
    assert report.errors == ()
    new_id = int(index.ids_of([photos / "coffee.jpg"])[0])
    assert new_id != old_id and index.paths([old_id]) == [None]  # an id names one version of a file
    assert index.ids_of([photos / "moon.png"]).tolist() == [-1]
    assert len(index) == 8
    # the copy has the same content hash as its original: the catalogue shows exact duplicates
    hashes = {Path(r.path).name: r.content_hash for r in index.records()}
    assert hashes["rocket copy.jpg"] == hashes["rocket.jpg"]
    index.close()


def test_search_vectors_matches_brute_force_over_the_catalogue(photos: Path, tmp_path: Path) -> None:
    Image.fromarray(photo("astronaut")).save(photos / "astronaut-q20.jpg", quality=20)
    with build(photos, tmp_path) as index:
        ids, codes = index.vectors("phash")
        reference = NumpyBinaryStore(64)
        reference.add(ids, codes)
        queries = np.stack([image_hash(load_image(p, draft=DRAFT)) for p in sorted(photos.iterdir())])
        distances, found = index.search_vectors(queries, 4, descriptor="phash")
        np.testing.assert_array_equal(distances, reference.search(queries, 4)[0])  # ids may differ among ties
        by_id = dict(zip(ids.tolist(), codes, strict=True))
        for query, row, dist in zip(queries, found, distances, strict=True):
            assert [int(hamming_distance(query, by_id[i])) for i in row] == dist.tolist()
        assert (distances[:, 0] == 0).all()  # every file finds itself
        # the heavy JPEG copy is the astronaut's nearest other file
        astronaut = index.ids_of([photos / "astronaut.jpg"])[0]
        d, i = index.search_vectors(image_hash(load_image(photos / "astronaut-q20.jpg", draft=DRAFT)), 2)
        assert astronaut in i[0] and int(d[0].max()) <= 6
        assert index.paths(i[0])[0] is not None
        # more results than files: padded with -1
        _, many = index.search_vectors(queries[:1], 20)
        assert (many[0, 9:] == -1).all() and (many[0, :9] >= 0).all()
        with pytest.raises(ParameterError, match="holds no 'embedding' descriptor"):
            index.search_vectors(queries, 1, descriptor="embedding")


def test_a_second_reader_sees_changes_through_the_change_log(photos: Path, tmp_path: Path) -> None:
    writer = build(photos, tmp_path)
    reader = Index.open(tmp_path / "idx")
    query = image_hash(load_image(photos / "chelsea.jpg", draft=DRAFT))
    assert reader.paths(reader.search_vectors(query, 1)[1][0])[0].endswith("chelsea.jpg")
    # the writer removes chelsea and adds a flipped cat; the reader's store is patched on its next search
    flipped = photos / "flipped.jpg"
    Image.fromarray(np.ascontiguousarray(photo("chelsea")[:, ::-1])).save(flipped, quality=90)
    assert writer.remove([photos / "chelsea.jpg"]) == 1
    writer.add([flipped], jobs=1)
    _, found = reader.search_vectors(query, 8)
    names = [Path(p).name for p in reader.paths(found[0]) if p]
    assert "chelsea.jpg" not in names and "flipped.jpg" in names and len(names) == 8
    writer.close()
    reader.close()


def test_snapshots_are_a_cache_rebuilt_from_the_catalogue(photos: Path, tmp_path: Path) -> None:
    build(photos, tmp_path).close()
    vectors = tmp_path / "idx" / "vectors"
    query = image_hash(load_image(photos / "rocket.jpg", draft=DRAFT))
    with Index.open(tmp_path / "idx") as index:
        expected = index.search_vectors(query, 8)
    for damage in ("delete", "garbage-file", "garbage-json"):
        snapshot = json.loads((vectors / "phash.json").read_text())
        if damage == "delete":
            shutil.rmtree(vectors)
        elif damage == "garbage-file":
            (vectors / snapshot["file"]).write_bytes(b"not a faiss index")
        else:
            (vectors / "phash.json").write_text("{ not json")
        with Index.open(tmp_path / "idx") as index:
            assert index.info().stores["phash"]["stale"] == (damage != "garbage-file")  # info reads the json only
            distances, found = index.search_vectors(query, 8)
            np.testing.assert_array_equal(found, expected[1])
            np.testing.assert_array_equal(distances, expected[0])
            index.refresh()  # written back
            assert not index.info().stores["phash"]["stale"]


def test_the_change_log_is_compacted_once_every_snapshot_reflects_it(photos: Path, tmp_path: Path) -> None:
    with build(photos, tmp_path) as index:
        assert index.catalog.changes_since(0)[1].size == 0  # compacted after the build's snapshot
        assert index.catalog.changes_floor() == index.catalog.generation() == 8
        index.remove([photos / "moon.png"])
        assert index.catalog.changes_floor() == 9 == index.catalog.generation()
        assert len(index) == 7 and len(index.search_vectors(np.zeros(8, np.uint8), 10)[1][0][:7]) == 7


def test_remove_by_file_and_by_folder(photos: Path, tmp_path: Path) -> None:
    sub = photos / "sub"
    sub.mkdir()
    for name in ("coins.png", "moon.png"):
        shutil.move(photos / name, sub / name)
    with build(photos, tmp_path) as index:
        assert len(index) == 8
        assert index.remove(photos / "rocket.jpg") == 1
        assert index.remove([sub]) == 2
        assert index.remove([photos / "not-there.jpg"]) == 0
        assert len(index) == 5 and (photos / "rocket.jpg").exists()  # nothing on disk is touched
        assert sorted(rows(index)) == ["astronaut.jpg", "camera.png", "chelsea.jpg", "coffee.jpg",
                                       "hubble_deep_field.jpg"]


def test_non_recursive_update_leaves_sub_folders_alone(photos: Path, tmp_path: Path) -> None:
    sub = photos / "sub"
    sub.mkdir()
    shutil.move(photos / "moon.png", sub / "moon.png")
    with build(photos, tmp_path) as index:
        assert len(index) == 8
        report = index.update(photos, recursive=False, jobs=1)
        assert report.removed == 0 and report.unchanged == 7  # sub/moon.png is not "deleted"
        assert len(index) == 8


def test_add_reports_missing_paths_without_recording_them(photos: Path, tmp_path: Path) -> None:
    with Index.create(tmp_path / "idx", descriptors=["phash"]) as index:
        report = index.add([photos / "rocket.jpg", photos / "nope.jpg", photos / "rocket.jpg"], jobs=1)
        assert (report.added, report.processed) == (1, 1)
        assert [(Path(e.path).name, e.reason) for e in report.errors] == [("nope.jpg", "no such file")]
        assert sorted(rows(index)) == ["rocket.jpg"]
        again = index.add([photos], jobs=1)  # a folder stands for its images; rocket is unchanged
        assert (again.added, again.unchanged) == (7, 1)


def test_symbolic_links_are_indexed_once_at_their_target(photos: Path, tmp_path: Path) -> None:
    os.symlink(photos / "rocket.jpg", photos / "link-to-rocket.jpg")
    with build(photos, tmp_path) as index:
        assert len(index) == 8
        assert index.ids_of([photos / "link-to-rocket.jpg"]).tolist() == index.ids_of([photos / "rocket.jpg"]).tolist()


# -- bad input -------------------------------------------------------------------------------------

def test_bad_files_are_recorded_with_their_error_and_the_rest_indexed(photos: Path, tmp_path: Path) -> None:
    (photos / "empty.jpg").write_bytes(b"")
    (photos / "text.png").write_text("hello, not an image\n")
    jpeg = (photos / "astronaut.jpg").read_bytes()
    (photos / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    (photos / "garbage.jpg").write_bytes(b"\xff\xd8\xff" + bytes(range(256)) * 4)
    os.symlink("loop.jpg", photos / "loop.jpg")  # a link to itself
    os.symlink(photos, photos / "folder-loop")  # a folder link back to the folder
    os.symlink(photos / "gone.jpg", photos / "broken.jpg")
    with build(photos, tmp_path) as index:
        status = rows(index)
        assert len(index) == 8
        assert {n for n, (s, _e) in status.items() if s == "ok"} == {Path(p).name for p in os.listdir(photos)
                                                                      if p.split(".")[0] in PHOTOS}
        assert status["empty.jpg"] == ("error", "the file is empty (0 bytes)")
        assert "text" in status["text.png"][1]
        assert "truncated" in status["truncated.jpg"][1]
        assert status["garbage.jpg"][0] == "error"
        assert "loop" in status["loop.jpg"][1]
        assert "broken link" in status["broken.jpg"][1]
        # the report lists them too; the next update retries only the decodable-looking failures
        report = index.update(photos, jobs=1)
        assert {Path(e.path).name for e in report.errors} == {
            "empty.jpg", "text.png", "truncated.jpg", "garbage.jpg", "loop.jpg", "broken.jpg"}
        assert report.processed == 2 and report.unchanged == 8  # truncated.jpg and garbage.jpg read again
        # a fixed file is indexed on the next update
        (photos / "truncated.jpg").write_bytes(jpeg)
        touch_later(photos / "truncated.jpg")
        report = index.update(photos, jobs=1)
        assert rows(index)["truncated.jpg"] == ("ok", None) and report.changed == 1


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_file_is_recorded(photos: Path, tmp_path: Path) -> None:
    secret = photos / "secret.jpg"
    shutil.copy(photos / "rocket.jpg", secret)
    secret.chmod(0)
    try:
        with build(photos, tmp_path) as index:
            assert rows(index)["secret.jpg"] == ("error", "permission denied: cannot read this file")
    finally:
        secret.chmod(0o644)


def test_a_file_that_changes_while_it_is_read_is_read_again_or_recorded(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lookalike.index import _ingest as _indexing

    real_read = _indexing._read_bytes
    growing = photos / "coffee.jpg"
    writes = {"left": 1}

    def read_while_writing(path: str) -> bytes:
        data = real_read(path)
        if os.path.basename(path) == "coffee.jpg" and writes["left"] > 0:
            writes["left"] -= 1
            with open(path, "ab") as handle:  # a writer appends while we read
                handle.write(b"\0" * 100)
        return data

    monkeypatch.setattr(_indexing, "_read_bytes", read_while_writing)
    with build(photos, tmp_path) as index:
        record = index.records(index.ids_of([growing]))[0]
        data = growing.read_bytes()
        assert record.status == "ok" and record.size == len(data)  # read again: the final content
        assert record.content_hash == hashlib.sha256(data).hexdigest()
        # a file that never stops changing is recorded as such
        writes["left"] = 10**6
        touch_later(growing)
        report = index.update(photos, jobs=1)
        assert [Path(e.path).name for e in report.errors] == ["coffee.jpg"]
        assert "kept changing" in rows(index)["coffee.jpg"][1]
        assert index.ids_of([growing]).tolist() == [-1]


def test_a_folder_without_images_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    with Index.create(tmp_path / "idx", descriptors=["phash"]) as index:
        with pytest.raises(ParameterError, match="found no images in"):
            index.update(empty, jobs=1)
        (empty / "bad.jpg").write_bytes(b"")
        with pytest.raises(ParameterError, match=r"1 file looked like images but cannot be read, e\.g\. bad\.jpg"):
            index.update(empty, jobs=1)
        with pytest.raises(ParameterError, match="no such folder"):
            index.update(tmp_path / "missing", jobs=1)
        assert len(index) == 0


def test_a_folder_emptied_after_indexing_is_an_update_not_an_error(photos: Path, tmp_path: Path) -> None:
    with build(photos, tmp_path) as index:
        for path in photos.iterdir():
            path.unlink()
        report = index.update(photos, jobs=1)
        assert report.removed == 8 and len(index) == 0


# -- opening and creating --------------------------------------------------------------------------

def test_an_index_from_a_newer_format_version_is_refused_clearly(photos: Path, tmp_path: Path) -> None:
    build(photos, tmp_path).close()
    manifest_path = tmp_path / "idx" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = FORMAT_VERSION + 1
    manifest_path.write_text(json.dumps(manifest))
    expected = (f"index at {tmp_path / 'idx'} was written by format version {FORMAT_VERSION + 1}; "
                f"this lookalike reads up to {FORMAT_VERSION}: upgrade lookalike")
    with pytest.raises(IndexFormatError) as caught:
        Index.open(tmp_path / "idx")
    assert str(caught.value) == expected
    assert isinstance(caught.value, OSError)


@pytest.mark.parametrize("damage, message", [
    ("missing", "the folder does not exist"),
    ("file", "it is a file"),
    ("no-manifest", "is not a lookalike index"),
    ("bad-json", "manifest of the index .* is damaged"),
    ("not-ours", "is not a lookalike index manifest"),
    ("no-version", "no valid format_version"),
    ("no-catalog", "catalogue .* is missing"),
    ("bad-catalog", "catalogue .* is damaged"),
])
def test_a_missing_or_damaged_index_is_an_index_format_error(
    photos: Path, tmp_path: Path, damage: str, message: str
) -> None:
    build(photos, tmp_path).close()
    folder = tmp_path / "idx"
    manifest = folder / "manifest.json"
    if damage == "missing":
        folder = tmp_path / "nothing"
    elif damage == "file":
        folder = photos / "rocket.jpg"
    elif damage == "no-manifest":
        manifest.unlink()
    elif damage == "bad-json":
        manifest.write_text('{"format": ')
    elif damage == "not-ours":
        manifest.write_text('{"format": "something-else", "format_version": 1}')
    elif damage == "no-version":
        data = json.loads(manifest.read_text())
        data["format_version"] = "1"
        manifest.write_text(json.dumps(data))
    elif damage == "no-catalog":
        for path in folder.glob("catalog.sqlite*"):
            path.unlink()
    else:
        for path in folder.glob("catalog.sqlite*"):
            path.unlink()
        (folder / "catalog.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(IndexFormatError, match=message):
        Index.open(folder)


def test_create_refuses_an_existing_index_or_a_busy_folder(photos: Path, tmp_path: Path) -> None:
    build(photos, tmp_path).close()
    with pytest.raises(ParameterError, match="an index already exists"):
        Index.create(tmp_path / "idx", descriptors=["phash"])
    with pytest.raises(ParameterError, match="holds other files"):
        Index.create(photos, descriptors=["phash"])
    with pytest.raises(ParameterError, match="unknown descriptor 'sift'"):
        Index.create(tmp_path / "new", descriptors=["sift"])
    with pytest.raises(ParameterError, match="backend must be"):
        Index.create(tmp_path / "new", descriptors=["phash"], backend="annoy")
    # an interrupted create (catalogue written, manifest not yet) is finished by the next one
    partial = tmp_path / "partial"
    Index.create(partial, descriptors=["phash"]).close()
    (partial / "manifest.json").unlink()
    Index.create(partial, descriptors=["dhash"]).close()
    assert Index.open(partial).descriptors[0].name == "dhash"


def test_info_and_closing(photos: Path, tmp_path: Path) -> None:
    (photos / "empty.jpg").write_bytes(b"")
    index = build(photos, tmp_path)
    info = index.info()
    assert (info.files, info.errors, info.descriptors, info.format_version) == (8, 1, ("phash",), FORMAT_VERSION)
    assert info.stores["phash"] == {"backend": "binary", "count": 8, "generation": 8, "stale": False}
    assert info.size_bytes > 0 and info.generation == 8
    index.close()
    with pytest.raises(ParameterError, match="closed"):
        len(index)


def test_parallel_indexing_gives_the_same_catalogue(photos: Path, tmp_path: Path) -> None:
    with build(photos, tmp_path) as serial:
        expected = {r.path: (r.content_hash, r.width, r.height) for r in serial.records()}
        expected_codes = dict(zip(serial.paths(serial.vectors("phash")[0]), serial.vectors("phash")[1].tolist(),
                                  strict=True))
    with Index.create(tmp_path / "idx2", descriptors=["phash"]) as parallel:
        report = parallel.update(photos, jobs=2)
        assert report.added == 8 and report.errors == ()
        assert {r.path: (r.content_hash, r.width, r.height) for r in parallel.records()} == expected
        ids, codes = parallel.vectors("phash")
        assert dict(zip(parallel.paths(ids), codes.tolist(), strict=True)) == expected_codes


# -- search (lookalike.search on an index; Index.search, its deprecated shim) -----------------------

def test_search_finds_rotated_mirrored_and_re_encoded_copies(photos: Path, tmp_path: Path) -> None:
    queries = tmp_path / "queries"
    queries.mkdir()
    pixels = photo("chelsea")
    copies = {
        "rot90.png": np.rot90(pixels), "mirror.png": pixels[:, ::-1], "rot180.png": pixels[::-1, ::-1],
        "jpeg15.jpg": pixels,
    }
    for name, array in copies.items():
        Image.fromarray(np.ascontiguousarray(array)).save(queries / name, quality=15)
    with build(photos, tmp_path) as index:
        for name in copies:
            hits = list(search(queries / name, index, top=3)[0].results)
            assert len(hits) == 3 and hits[0].path.endswith("chelsea.jpg"), (name, hits)
            assert hits[0].similarity >= 0.8 and hits[1].similarity < 0.5
            with pytest.deprecated_call(match="lookalike.search"):  # the deprecated shim: the same search
                assert index.search(queries / name, k=3) == hits
        # the query image itself (an array works too) is found at similarity > 0.99 (1.0 for the same
        # bytes: a path); min_similarity filters
        hits = list(search(load_image(photos / "coins.png"), index, top=5, min_similarity=0.75)[0].results)
        assert [Path(h.path).name for h in hits] == ["coins.png"] and hits[0].similarity > 0.99
        assert search(photos / "coins.png", index, top=1)[0].results[0].similarity == 1.0
        (tmp_path / "bad.jpg").write_bytes(b"")
        from lookalike.errors import ImageReadError

        with pytest.raises(ImageReadError, match="empty"):
            search(tmp_path / "bad.jpg", index)


# -- real photos and the embedding -----------------------------------------------------------------

def test_caltech_copies_find_their_originals_by_hash(tmp_path: Path) -> None:
    source = shared_path("classification", "caltech101_13", "101_ObjectCategories")
    folder = tmp_path / "caltech"
    folder.mkdir()
    originals = []
    for category in ("airplanes", "pizza", "sunflower", "watch", "laptop", "yin_yang"):
        for image in sorted((source / category).glob("*.jpg"))[:3]:
            target = folder / f"{category}-{image.name}"
            shutil.copy(image, target)
            originals.append(target)
    with build(folder, tmp_path) as index:
        assert len(index) == 18
        for original in originals[::3]:
            copy = tmp_path / "copy.jpg"
            pixels = load_image(original)
            Image.fromarray(pixels[::2, ::2]).save(copy, quality=30)  # half size, heavy JPEG
            distances, found = index.search_vectors(image_hash(load_image(copy, draft=DRAFT)), 1)
            assert index.paths(found[0]) == [str(original.resolve())]
            assert distances[0, 0] <= 8


def test_the_embedding_descriptor(photos: Path, tmp_path: Path, embedder: Any) -> None:
    names = ["astronaut.jpg", "camera.png", "chelsea.jpg", "coffee.jpg"]
    folder = tmp_path / "four"
    folder.mkdir()
    for name in names:
        shutil.copy(photos / name, folder / name)
    with Index.create(tmp_path / "idx", descriptors=["phash", "embedding"]) as index:
        report = index.update(folder, jobs=1)
        assert report.added == 4
        ids, vectors = index.vectors("embedding")
        assert vectors.shape == (4, 1280) and vectors.dtype == np.float32
        assert [spec.draft for spec in index.descriptors] == [(256, 256), (256, 256)]  # one decode for both
        expected = embedder.embed([load_image(p, draft=(256, 256)) for p in index.paths(ids)])
        np.testing.assert_allclose(vectors, expected, atol=1e-5)
        # the embedding is the default descriptor of search_vectors; each photo finds itself (cosine 1)
        distances, found = index.search_vectors(expected, 2)
        np.testing.assert_array_equal(found[:, 0], ids)
        np.testing.assert_allclose(distances[:, 0], 1.0, atol=1e-5)
        assert (distances[:, 1] < 0.99).all()
        assert index.info().stores["embedding"]["backend"] == "flat"
        codes = index.vectors("phash", ids)[1]
        hashes = [image_hash(load_image(p, draft=(256, 256))) for p in index.paths(ids)]
        np.testing.assert_array_equal(codes, np.stack(hashes))
        # search uses both (the evidence of each result: lookalike.search)
        [result] = search(folder / "coffee.jpg", index, top=4, verify=False)
        assert result.results[0].path.endswith("coffee.jpg") and result.results[0].similarity == 1.0
        assert result.evidence[0].cosine == pytest.approx(1.0, abs=1e-5)
        assert all(e.cosine is not None and e.hash_distance is not None for e in result.evidence)



def test_a_failed_build_never_empties_an_index_that_was_there(tmp_path: Path) -> None:
    """build_index discards the empty index a failed run made; it also emptied an existing index folder that
    held no rows (every file removed), deleting the manifest, the catalogue and the user's own files there."""
    from lookalike.index import build_index
    from tests.index.conftest import make_photos

    make_photos(tmp_path / "photos", ("camera",), longest=64)
    idx = tmp_path / "idx"
    index, _report = build_index(tmp_path / "photos", idx, descriptors=["phash"], jobs=1)
    with index:
        assert index.remove([str(tmp_path / "photos")]) == 1
    (idx / "notes.txt").write_text("mine")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ParameterError, match="found no images"):
        build_index(tmp_path / "empty", idx, jobs=1)
    assert (idx / "notes.txt").read_text() == "mine"
    with Index.open(idx) as reopened:
        assert [spec.name for spec in reopened.descriptors] == ["phash"]
    # a new index that a failed run created is still removed
    with pytest.raises(ParameterError, match="found no images"):
        build_index(tmp_path / "empty", tmp_path / "new-idx", jobs=1)
    assert not (tmp_path / "new-idx").exists()
