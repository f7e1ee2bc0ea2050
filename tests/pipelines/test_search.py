"""search: copies found through edits, the calibrated meaning of the similarity, FAISS arrays, bad queries."""

from __future__ import annotations

import csv
import importlib.util
import math
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from lookalike.errors import ImageReadError, IndexFormatError, ParameterError
from lookalike.matching import copy_similarity, semantic_similarity
from lookalike.pipelines import SearchHit, search, search_arrays
from tests.conftest import shared_path
from tests.index.conftest import make_photos, photo

pytest.importorskip("faiss")
pytest.importorskip("onnxruntime")

ROOT = Path(__file__).resolve().parents[2]
INDEXED = ("astronaut", "camera", "chelsea", "coffee", "rocket", "hubble_deep_field")


def _neardup() -> Any:
    """benchmarks/neardup_data.py (the benchmark's own transforms), imported by path."""
    spec = importlib.util.spec_from_file_location("neardup_data", ROOT / "benchmarks" / "neardup_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("neardup_data", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """6 real photos (scikit-image, 384 px) in an index with the default descriptors (phash, embedding, rootsift)."""
    from lookalike.index import Index

    folder = tmp_path_factory.mktemp("search-photos")
    make_photos(folder, INDEXED, longest=384)
    index = Index.create(tmp_path_factory.mktemp("search-index") / "idx")
    index.update(folder, jobs=1)
    yield folder, index
    index.close()


def _save(tmp: Path, name: str, pixels: np.ndarray | Image.Image, quality: int = 90) -> Path:
    path = tmp / name
    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(np.ascontiguousarray(pixels))
    image.save(path, quality=quality)
    return path


def _best(result: Any) -> tuple[str, float]:
    path, similarity = result.results[0]
    return Path(path).stem, similarity


# -- finding copies ------------------------------------------------------------------------------------

@pytest.mark.parametrize("edit", ["mirror", "rot90", "crop60", "jpeg15", "down25", "border"])
def test_an_edited_copy_finds_its_original_first_above_70_percent(library: Any, tmp_path: Path, edit: str) -> None:
    _folder, index = library
    image = photo("chelsea", longest=384)
    h, w = image.shape[:2]
    pil = Image.fromarray(image)
    quality = 90
    if edit == "mirror":
        pil = pil.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    elif edit == "rot90":
        pil = pil.transpose(Image.Transpose.ROTATE_90)
    elif edit == "crop60":
        pil = pil.crop((w // 5, h // 5, w // 5 + round(w * 0.6), h // 5 + round(h * 0.6)))
    elif edit == "jpeg15":
        quality = 15
    elif edit == "down25":
        pil = pil.resize((w // 4, h // 4), Image.Resampling.BOX)
    else:
        framed = Image.new("RGB", (w + 40, h + 40), (200, 30, 30))
        framed.paste(pil, (20, 20))
        pil = framed
    query = _save(tmp_path, f"{edit}.jpg", pil, quality)
    [result] = search(query, index, top=3)
    assert result.query == str(query)
    assert _best(result)[0] == "chelsea"
    assert result.results[0].similarity >= 0.7
    assert all(a.similarity >= b.similarity for a, b in zip(result.results, result.results[1:], strict=False))


def test_crops_need_verification(library: Any, tmp_path: Path) -> None:
    """A 50% crop moves every hash bit: verification finds it, the global evidence alone does not vouch for it."""
    _folder, index = library
    image = photo("astronaut", longest=384)
    query = _save(tmp_path, "crop.jpg", image[40:232, 150:342])
    [verified] = search(query, index, top=1)
    [quick] = search(query, index, top=1, verify=False)
    assert _best(verified)[0] == "astronaut" and verified.results[0].similarity >= 0.7
    assert verified.evidence[0].verified and verified.evidence[0].inliers >= 10
    assert not quick.evidence[0].tried and quick.results[0].similarity < verified.results[0].similarity


# -- stored keypoints ----------------------------------------------------------------------------------

def _edited_queries(tmp: Path) -> list[Path]:
    chelsea, astronaut = photo("chelsea", longest=384), photo("astronaut", longest=384)
    return [
        _save(tmp, "mirror.jpg", chelsea[:, ::-1]),
        _save(tmp, "crop.jpg", astronaut[40:232, 150:342]),
        _save(tmp, "rot90-crop.jpg", np.rot90(chelsea[30:300, 60:330])),
        _save(tmp, "coins.png", photo("coins", longest=384)),
    ]


def _plain_index(folder: Path, tmp: Path) -> Any:
    """The same photos in an index without stored keypoints (as built before the 'rootsift' descriptor)."""
    from lookalike.index import Index

    index = Index.create(tmp / "plain", descriptors=["phash", "embedding"])
    index.update(folder, jobs=1)
    return index


def test_results_are_the_same_with_and_without_stored_keypoints(library: Any, tmp_path: Path) -> None:
    folder, index = library
    assert "rootsift" in [s.name for s in index.descriptors]
    queries = _edited_queries(tmp_path)
    with _plain_index(folder, tmp_path) as plain:
        assert plain.local_features(plain.ids_of([folder / "chelsea.jpg"])) == {}
        stored = search(queries, index, top=4)
        extracted = search(queries, plain, top=4)
    for a, b in zip(stored, extracted, strict=True):
        assert a.results == b.results  # the same files, the same similarities, bit for bit
        for ea, eb in zip(a.evidence, b.evidence, strict=True):
            assert (ea.inliers, ea.verified, ea.mirrored, ea.tried) == (eb.inliers, eb.verified, eb.mirrored, eb.tried)
    assert stored[1].evidence[0].verified and stored[2].evidence[0].verified  # the crops were verified


def test_stored_keypoints_are_read_not_the_files(library: Any, tmp_path: Path) -> None:
    """With the indexed files gone, the stored keypoints still verify a crop; without them nothing can."""
    folder, _index = library
    copy = Path(shutil.copytree(folder, tmp_path / "photos"))
    from lookalike.index import Index

    with Index.create(tmp_path / "idx", descriptors=["phash", "embedding", "rootsift"]) as index, \
            _plain_index(copy, tmp_path) as plain:
        index.update(copy, jobs=1)
        for path in copy.iterdir():
            path.unlink()
        query = _edited_queries(tmp_path)[1]  # the astronaut crop
        [found] = search(query, index, top=1)
        [blind] = search(query, plain, top=1)
        # the same result through the deprecated Index.search shim (it is lookalike.search)
        with pytest.deprecated_call():
            assert index.search(query, k=1) == list(found.results)
    assert found.evidence[0].verified and found.results[0].similarity >= 0.7
    assert Path(found.results[0].path).stem == "astronaut"
    assert not any(e.verified for e in blind.evidence) and blind.evidence[0].tried


def test_verification_threads_do_not_change_results(library: Any, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from lookalike.pipelines import _search

    _folder, index = library
    queries = _edited_queries(tmp_path)
    threaded = search(queries, index, top=6)
    monkeypatch.setattr(_search, "VERIFY_THREADS", 1)
    serial = search(queries, index, top=6)
    assert [r.results for r in threaded] == [r.results for r in serial]
    assert [r.evidence for r in threaded] == [r.evidence for r in serial]


def test_an_unrelated_photo_scores_low(library: Any, tmp_path: Path) -> None:
    _folder, index = library
    query = _save(tmp_path, "coins.png", photo("coins", longest=384))
    [result] = search(query, index, top=6)
    # every one of the 6 indexed photos is a candidate (the embedding lists them all), none is coins
    assert sorted(Path(p).stem for p, _s in result.results) == sorted(INDEXED)
    assert max(s for _p, s in result.results) < 0.7
    [none] = search(query, index, top=6, min_similarity=0.7)
    assert none.results == ()


def test_the_same_bytes_score_exactly_one(library: Any) -> None:
    folder, index = library
    [result] = search(folder / "rocket.jpg", index, top=2)
    assert result.results[0] == SearchHit(str((folder / "rocket.jpg").resolve()), 1.0)
    assert result.evidence[0].exact and result.evidence[0].hash_distance == 0


def test_arrays_and_paths_and_pil_images_are_queries(library: Any) -> None:
    folder, index = library
    pixels = np.asarray(Image.open(folder / "camera.png"))
    results = search([pixels, Image.open(folder / "coffee.jpg"), (folder / "coffee.jpg").read_bytes()], index, top=1)
    assert [r.query for r in results] == ["<array 0>", "<image 1>", "<image 2>"]
    assert [_best(r)[0] for r in results] == ["camera", "coffee", "coffee"]


def test_top_and_min_similarity(library: Any) -> None:
    folder, index = library
    [all_six] = search(folder / "camera.png", index, top=50)
    assert len(all_six.results) == len(INDEXED)  # every indexed file is a candidate of a small index
    [two] = search(folder / "camera.png", index, top=2)
    assert two.results == all_six.results[:2]
    [strong] = search(folder / "camera.png", index, top=50, min_similarity=0.5)
    assert [h for h in all_six.results if h.similarity >= 0.5] == list(strong.results)


def test_search_arrays_are_faiss_style(library: Any) -> None:
    folder, index = library
    queries = [folder / "camera.png", folder / "chelsea.jpg"]
    sims, ids = search_arrays(queries, index, 8)
    assert sims.shape == ids.shape == (2, 8)
    assert (ids[:, len(INDEXED):] == -1).all() and np.isneginf(sims[:, len(INDEXED):]).all()
    results = search(queries, index, top=8)
    for row, result in enumerate(results):
        assert index.paths(ids[row, : len(result.results)]) == [h.path for h in result.results]
        assert np.allclose(sims[row, : len(result.results)], [h.similarity for h in result.results])
        assert (np.diff(sims[row, : len(result.results)]) <= 0).all()


def test_semantic_kind(library: Any, tmp_path: Path) -> None:
    folder, index = library
    [result] = search(folder / "chelsea.jpg", index, top=3, kind="semantic")
    assert result.kind == "semantic" and _best(result)[0] == "chelsea"
    assert all(0.0 <= s <= 1.0 for _p, s in result.results)
    assert math.isclose(result.results[1].similarity, float(semantic_similarity(result.evidence[1].cosine)))


def test_semantic_needs_an_embedding(tmp_path: Path) -> None:
    from lookalike.index import Index

    make_photos(tmp_path / "p", ("camera",))
    with Index.create(tmp_path / "idx", descriptors=["phash"]) as index:
        index.update(tmp_path / "p", jobs=1)
        with pytest.raises(ParameterError, match="embedding"):
            search(tmp_path / "p" / "camera.png", index, kind="semantic")
        [hashed] = search(tmp_path / "p" / "camera.png", index, verify=False)  # copy search on a hash-only index
        assert hashed.results[0].similarity == 1.0


# -- bad input -----------------------------------------------------------------------------------------

def test_an_unreadable_query_raises_or_is_reported(library: Any, tmp_path: Path) -> None:
    folder, index = library
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a picture")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ImageReadError, match=r"notes\.jpg"):
        search([folder / "camera.png", bad], index)
    results = search([bad, folder / "camera.png", empty, tmp_path / "missing.jpg", tmp_path], index,
                     on_error="record", top=1)
    assert [r.error is None for r in results] == [False, True, False, False, False]
    assert "notes.jpg" in results[0].error and results[0].results == ()
    assert "empty" in results[2].error and "no such file" in results[3].error and "folder" in results[4].error
    assert _best(results[1])[0] == "camera"
    with pytest.deprecated_call(match='on_error="record"'):  # the old name, for one release
        old = search([bad, folder / "camera.png"], index, on_error="report", top=1)
    assert [(r.error, r.results) for r in old] == [(r.error, r.results) for r in results[:2]]


def test_bad_arguments(library: Any) -> None:
    folder, index = library
    query = folder / "camera.png"
    for kwargs in ({"top": 0}, {"min_similarity": 1.5}, {"kind": "visual"}, {"on_error": "ignore"},
                   {"shortlist": -1}):
        with pytest.raises(ParameterError):
            search(query, index, **kwargs)
    with pytest.raises(IndexFormatError):
        search(query, folder)  # a folder of images is not an index
    with pytest.raises(ParameterError):
        search(query, 42)  # type: ignore[arg-type]


def test_a_path_opens_and_closes_the_index(library: Any) -> None:
    folder, index = library
    [result] = search(folder / "coffee.jpg", index.path, top=1)
    assert _best(result)[0] == "coffee"


# -- the similarity functions -------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(d=st.integers(0, 64), c=st.floats(-1, 1), n=st.integers(0, 500))
def test_copy_similarity_is_monotone_in_every_piece_of_evidence(d: int, c: float, n: int) -> None:
    s = copy_similarity(hash_distance=d, cosine=c, inliers=n, verified=n > 0)
    assert 0.0 <= s <= 1.0
    assert copy_similarity(hash_distance=max(0, d - 1), cosine=c, inliers=n, verified=n > 0) >= s
    assert copy_similarity(hash_distance=d, cosine=min(1.0, c + 0.05), inliers=n, verified=n > 0) >= s
    assert copy_similarity(hash_distance=d, cosine=c, inliers=n + 5, verified=True) >= s


def test_semantic_similarity_is_monotone() -> None:
    cos = np.linspace(-1, 1, 201)
    s = semantic_similarity(cos)
    assert (np.diff(s) >= 0).all() and s.min() >= 0 and s.max() <= 1


# -- the calibrated claims, on real data ----------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.shared_data
def test_semantic_70_percent_means_the_same_class_80_percent_of_the_time() -> None:
    """Caltech-101 (13 classes), the course's test split, 8 photos per class: every pair at >= 0.70."""
    from lookalike.features import Embedder
    from lookalike.io import load_image

    root = shared_path("classification", "caltech101_13")
    photos = root / "101_ObjectCategories"
    listed = [line.strip() for line in (root / "test_full_split.txt").read_text().splitlines() if line.strip()]
    by_class: dict[str, list[Path]] = {}
    for rel in listed:
        path = photos / rel
        if path.exists():
            by_class.setdefault(path.parent.name, []).append(path)
    chosen = [p for files in by_class.values() for p in sorted(files)[:8]]
    assert len(by_class) == 13 and len(chosen) == 104
    embedder = Embedder()
    vectors = embedder.embed([load_image(p, draft=embedder.draft_size) for p in chosen])
    labels = np.array([p.parent.name for p in chosen])
    iu = np.triu_indices(len(chosen), 1)
    similarity = semantic_similarity((vectors @ vectors.T)[iu])
    same = (labels[:, None] == labels[None, :])[iu]
    above = similarity >= 0.7
    assert above.sum() >= 100  # the claim is about a real number of pairs
    # the claim: >= 80% precision (calibration reported 96.5% on all 22,791 test pairs)
    assert same[above].mean() >= 0.8


@pytest.mark.slow
def test_copy_70_percent_on_the_projects_sample_originals(tmp_path: Path) -> None:
    """The benchmark's 12 edits of the 5 sample originals (60 queries) against the originals and distractors
    (Caltech photos where ../shared/data is present): results at >= 0.70 are copies >= 90% of the time, and the
    original comes first for nearly every query (the benchmark's mAP target is 0.90)."""
    neardup = _neardup()
    distractors: list[Path] = []
    if neardup.CALTECH.is_dir():
        _originals, distractors = neardup.caltech_split(n_originals=0, n_distractors=40, seed=3)
    bench = neardup.build(tmp_path / "bench", distractors=distractors, seed=5)
    from lookalike.index import Index

    with Index.create(tmp_path / "idx") as index:
        index.update(bench.index_dir, jobs=1)
        results = search([q.path for q in bench.queries], index, top=10)
    hits = right = 0
    reciprocal = []
    for query, result in zip(bench.queries, results, strict=True):
        original = str(query.original.resolve())
        ranked = [p for p, _s in result.results]
        reciprocal.append(1.0 / (ranked.index(original) + 1) if original in ranked else 0.0)
        for path, similarity in result.results:
            if similarity >= 0.7:
                hits += 1
                right += path == original
    assert hits >= 40
    assert right / hits >= 0.9
    assert np.mean(reciprocal) >= 0.9


@pytest.mark.slow
@pytest.mark.shared_data
def test_ukbench_group_mates_come_first(tmp_path: Path) -> None:
    """UKBench: 4 photos of one object from other viewpoints; each photo's group-mates should be its top results.

    The N-S score (group-mates among the top 4, the query included) of the complete groups; 4.0 is the goal.
    The 13 sample images (10 UKBench, 3 INRIA Holidays) are the whole index."""
    from lookalike.index import Index

    root = shared_path("retrieval", "ukbench_holidays_samples")
    with open(root / "groundtruth.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    folder = tmp_path / "images"
    folder.mkdir()
    group = {}
    for row in rows:
        target = folder / Path(row["image"]).name
        shutil.copyfile(root / row["image"], target)
        group[str(target.resolve())] = (row["dataset"], int(row["group_id"]))
    with Index.create(tmp_path / "idx") as index:
        index.update(folder, jobs=1)
        queries = [p for p, (dataset, _g) in group.items() if dataset == "ukbench"]
        results = search(queries, index, top=4)
    complete = {g for (d, g) in group.values() if d == "ukbench" and sum(v == (d, g) for v in group.values()) == 4}
    scores, partial = [], []
    for query, result in zip(queries, results, strict=True):
        found = sum(group[p] == group[query] for p, _s in result.results)
        (scores if group[query][1] in complete else partial).append(found)
    assert len(scores) == 8 and partial == [2, 2]  # group 2 has only 2 of its 4 photos here
    # goal 4.0; measured 4.0 (every group-mate in the top 4, similarity 0.95-0.99): one miss allowed
    assert np.mean(scores) >= 3.75, scores


@pytest.mark.shared_data
def test_ties_in_similarity_are_ordered_by_the_pixels_not_the_class(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Yin-yang photos share one pHash; a JPEG q10 copy of one has no keypoints left to verify, so the
    originals tie in similarity (hash distance 0). The thumbnails put its own original first; the
    embedding, which ordered the tie before, prefers another yin-yang (benchmarks/README.md)."""
    from lookalike.index import Index
    from lookalike.pipelines import _search

    folder = shared_path("classification", "caltech101_13", "101_ObjectCategories", "yin_yang")
    original = folder / "image_0014.jpg"
    query = tmp_path / "q10.jpg"
    Image.open(original).convert("RGB").save(query, quality=10)
    with Index.create(tmp_path / "idx", descriptors=["phash", "embedding"]) as index:
        index.update(folder, jobs=1)
        [result] = search(query, index, top=3)
        assert Path(result.results[0][0]).name == original.name
        similarities = [s for _p, s in result.results]
        assert similarities[0] == similarities[1] == similarities[2]  # a tie, broken by the pixels
        assert all(e.hash_distance == 0 and not e.verified for e in result.evidence[:3])
        monkeypatch.setattr(_search, "TIE_MAX", 0)  # without the thumbnails: the cosine orders the tie
        [before] = search(query, index, top=3)
        assert Path(before.results[0][0]).name != original.name
