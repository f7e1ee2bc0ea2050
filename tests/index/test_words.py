"""Visual words: quantisation, the inverted-file self-join against exhaustive scoring, and the stored words."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.index.conftest import as_previous_version, make_photos


def test_quantise_is_the_nearest_centroid_and_the_vocabulary_is_seeded() -> None:
    from lookalike.index import fit_vocabulary, quantise

    rng = np.random.default_rng(0)
    points = rng.standard_normal((3000, 16)).astype(np.float32)
    vocabulary = fit_vocabulary(points, 64)
    assert vocabulary.shape == (64, 16) and np.array_equal(vocabulary, fit_vocabulary(points, 64))
    distances = ((points[:, None, :] - vocabulary[None, :, :]) ** 2).sum(axis=2)
    words = quantise(points, vocabulary)
    assert words.dtype == np.uint16
    # the nearest centroid, up to float rounding between equally near ones
    assert np.allclose(distances[np.arange(len(points)), words], distances.min(axis=1), rtol=1e-5, atol=1e-4)
    assert fit_vocabulary(points[:100], 64).shape[0] == 16  # few descriptors: few words (30 a word, at least 16)


def test_the_vocabulary_tree_quantises_to_the_nearest_word_under_the_nearest_node() -> None:
    from lookalike.index import Vocabulary, fit_vocabulary_tree, quantise

    rng = np.random.default_rng(3)
    points = np.concatenate([rng.standard_normal((2500, 16)), 6 + rng.standard_normal((2500, 16))]).astype(np.float32)
    tree = fit_vocabulary_tree(points, 8)
    again = fit_vocabulary_tree(points, 8)
    assert isinstance(tree, Vocabulary) and tree.is_tree and tree.top is not None and tree.offsets is not None
    assert np.array_equal(tree.centroids, again.centroids) and np.array_equal(tree.offsets, again.offsets)
    assert tree.top.shape == (8, 16) and tree.offsets[0] == 0 and tree.offsets[-1] == len(tree) <= 64
    assert (np.diff(tree.offsets) >= 1).all()
    # brute force: the nearest first-level centroid, then the nearest of the words under it
    node = ((points[:, None, :] - tree.top[None]) ** 2).sum(axis=2).argmin(axis=1)
    want = np.array([tree.offsets[t] + ((tree.centroids[tree.offsets[t]:tree.offsets[t + 1]] - x) ** 2).sum(axis=1)
                     .argmin() for x, t in zip(points, node, strict=True)])
    got = quantise(points, tree)
    distance = ((points - tree.centroids[got]) ** 2).sum(axis=1)
    best = ((points - tree.centroids[want]) ** 2).sum(axis=1)
    assert got.dtype == np.uint16 and np.allclose(distance, best, rtol=1e-5, atol=1e-4)  # ties only
    assert (node == np.searchsorted(tree.offsets, got, side="right") - 1).mean() > 0.999
    flat = Vocabulary(tree.centroids)  # a flat vocabulary: the nearest of all the words
    assert not flat.is_tree and np.array_equal(quantise(points, flat), quantise(points, tree.centroids))


def _query_reference(dense: np.ndarray, query_words: int, stop_files: int, min_hits: int, k: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The rule of word_queries / query_scores / word_candidates applied to every pair, written out densely:
    (query weights, per-pair query score, the k best rows and scores of each file)."""
    n, _ = dense.shape
    stop = (dense > 0).sum(axis=0) > stop_files
    query = np.zeros_like(dense)
    for i in range(n):
        entries = [(-dense[i, w], w) for w in np.flatnonzero((dense[i] > 0) & ~stop)]
        for _value, w in sorted(entries)[:query_words]:
            query[i, w] = dense[i, w]
    holds = (dense > 0).astype(np.float64)
    hits = (query > 0).astype(np.float64) @ holds.T
    score = np.where(hits >= min_hits, query @ holds.T, 0.0)
    rows = np.full((n, k), -1)
    best = np.full((n, k), -np.inf)
    for i in range(n):
        found = sorted((-score[i, j], j) for j in range(n) if j != i and hits[i, j] >= min_hits)[:k]
        for r, (value, j) in enumerate(found):
            rows[i, r], best[i, r] = j, -value
    return query, score, rows, best


def test_word_candidates_equal_their_rule_applied_to_every_pair() -> None:
    from lookalike.index import query_scores, word_candidates, word_histograms, word_queries

    rng = np.random.default_rng(4)
    n_words = 400
    popular = rng.integers(0, 12, 4000)  # a few words most files hold (stop words at 40 files)
    base = [np.concatenate([rng.integers(0, n_words, rng.integers(5, 60)), popular[i * 8:(i + 1) * 8]])
            for i in range(90)]
    files = base + [w[: len(w) // 2] for w in base[:30]] + [np.zeros(0, np.int64), np.repeat(base[0][:3], 9)]
    histograms = word_histograms(files, n_words)
    queries = word_queries(histograms, query_words=6, stop_files=40, min_hits=2)
    query, score, want_rows, want_scores = _query_reference(histograms.toarray().astype(np.float64), 6, 40, 2, 4)
    assert queries.stop.sum() > 0 and np.allclose(queries.query.toarray(), query, atol=1e-7)
    a, b = np.triu_indices(len(files), 1)
    assert np.allclose(query_scores(queries, a, b), np.maximum(score[a, b], score[b, a]), atol=1e-6)
    rows, scores = word_candidates(queries, 4)
    assert rows.shape == (len(files), 4)
    assert np.allclose(np.where(rows >= 0, scores, 0), np.where(want_rows >= 0, want_scores, 0), atol=1e-6)
    for i in range(len(files)):
        ok = rows[i] >= 0
        assert np.array_equal(ok, want_rows[i] >= 0), i
        assert np.allclose(score[i, rows[i][ok]], scores[i][ok], atol=1e-6), i  # each the score it claims
        gaps = np.diff(np.concatenate([want_scores[i][want_rows[i] >= 0], [-1.0]]))
        if (np.abs(gaps) > 1e-6).all():  # no near-tie: the very rows
            assert np.array_equal(rows[i][ok], want_rows[i][want_rows[i] >= 0]), i
    for i in range(90, 120):  # each half file (its query words all in the file it was cut from) finds it
        assert (rows[i] == i - 90).any(), i
    # no stop words, every word a query word, one hit enough: the score is the query weight of every shared word
    everything = word_queries(histograms, query_words=10_000, stop_files=len(files), min_hits=1)
    dense = histograms.toarray()
    shared = (dense > 0).astype(float)
    assert np.allclose(query_scores(everything, a, b), np.maximum(dense @ shared.T, (dense @ shared.T).T)[a, b])
    few, _scores = word_candidates(word_queries(word_histograms(files[:3], n_words)), 5)
    assert few.shape == (3, 2)


def test_word_candidates_with_files_without_query_words_at_the_end() -> None:
    """Files without words (flat pictures) sorted last: their empty queries close the query matrix (an
    IndexError in the block costing before, met by duplicates on a folder of photos and flat pictures)."""
    from lookalike.index import word_candidates, word_histograms, word_queries

    rng = np.random.default_rng(7)
    base = [rng.integers(0, 50, 30) for _ in range(4)]
    files = [*base, base[0][:20], np.zeros(0, np.int64), np.zeros(0, np.int64)]
    histograms = word_histograms(files, 50)
    queries = word_queries(histograms, query_words=8, stop_files=10, min_hits=2)
    rows, scores = word_candidates(queries, 3)
    _query, _score, want_rows, _want = _query_reference(histograms.toarray().astype(np.float64), 8, 10, 2, 3)
    assert (rows[-2:] == -1).all() and np.isinf(scores[-2:]).all()
    assert (rows[4] == 0).any() and np.array_equal(rows >= 0, want_rows >= 0)


def test_word_neighbours_through_the_inverted_file_equal_exhaustive_scoring() -> None:
    from lookalike.index import word_histograms, word_neighbours, word_scores

    rng = np.random.default_rng(1)
    n_words = 300
    base = [rng.integers(0, n_words, rng.integers(5, 80)) for _ in range(60)]
    # files sharing part of another's words (crops), a file with no words, repeated words (burstiness)
    files = base + [w[: len(w) // 2] for w in base[:20]] + [np.zeros(0, np.int64), np.repeat(base[0][:3], 9)]
    histograms = word_histograms(files, n_words)
    # exhaustive reference, written out: sqrt counts x idf, unit rows, every pair's inner product
    counts = np.zeros((len(files), n_words))
    for i, w in enumerate(files):
        np.add.at(counts[i], w, 1)
    idf = np.log(len(files) / np.maximum((counts > 0).sum(axis=0), 1))
    dense = np.sqrt(counts) * idf
    norms = np.linalg.norm(dense, axis=1, keepdims=True)
    dense = np.divide(dense, norms, out=np.zeros_like(dense), where=norms > 0)
    full = dense @ dense.T
    assert np.allclose(histograms.toarray(), dense, atol=1e-6)
    a, b = np.triu_indices(len(files), 1)
    assert np.allclose(word_scores(histograms, a, b), full[a, b], atol=1e-6)
    rows, scores = word_neighbours(histograms, 5)
    np.fill_diagonal(full, -np.inf)
    for i in range(len(files)):
        want = np.sort(full[i][full[i] > 0])[::-1][:5]
        got = scores[i][rows[i] >= 0]
        assert np.allclose(got, want, atol=1e-5), i
        assert np.allclose(full[i, rows[i][rows[i] >= 0]], got, atol=1e-5)
    for i in range(60, 80):  # each half file finds the file it was cut from first
        assert rows[i, 0] == i - 60
    few, _scores = word_neighbours(word_histograms(files[:3], n_words), 5)  # fewer files than k: all the others
    assert few.shape == (3, 2) and np.isin(few[0][few[0] >= 0], [1, 2]).all()


def test_an_index_stores_words_of_its_keypoints_and_upgrades_an_older_one(tmp_path: Path) -> None:
    from lookalike.index import FORMAT_VERSION, Index, quantise

    folder = tmp_path / "photos"
    make_photos(folder, ("astronaut", "camera", "chelsea", "coffee"))
    with Index.create(tmp_path / "old", descriptors=["phash", "rootsift"]) as index:  # as the previous version
        index.update(folder, jobs=1)
        assert index.words()[2] == 0
    as_previous_version(tmp_path / "old")
    with Index.open(tmp_path / "old") as index:
        assert index.format_version == 1
        stages: list[tuple[str, int, int]] = []
        report = index.update(folder, jobs=1, progress=lambda *a: stages.append(a))
        assert report.upgraded == 4 and ("words", 4, 4) in stages
        ids, words, n_words = index.words()
        vocabulary = index.vocabulary()
        assert vocabulary is not None and vocabulary.is_tree and n_words == len(vocabulary) and len(words) == 4
        assert index.format_version == FORMAT_VERSION == 2  # an older lookalike refuses it: "upgrade lookalike"
        features = index.local_features(ids)
        for i, w in zip(ids, words, strict=True):  # one word a stored keypoint, its nearest centroid
            assert np.array_equal(w, quantise(features[int(i)].descriptors, vocabulary))
    with Index.create(tmp_path / "new") as index:  # the default descriptors hold the words
        assert "words" in [s.name for s in index.descriptors]


def test_a_flat_vocabulary_of_an_earlier_index_is_replaced_by_a_tree_on_update(tmp_path: Path) -> None:
    """An index whose words were quantised on the flat 4,096-word vocabulary (format 1, issue 12 before the
    tree) keeps its words until ``update``, which fits the tree and quantises every file again."""
    import json

    from lookalike.index import FORMAT_VERSION, Index, Vocabulary, derive_words, fit_vocabulary, quantise

    folder = tmp_path / "photos"
    make_photos(folder, ("astronaut", "camera", "chelsea", "coffee"))
    with Index.create(tmp_path / "index") as index:
        index.update(folder, jobs=1)
        ids = index.words()[0]
        features = index.local_features(ids)
        flat = Vocabulary(fit_vocabulary(np.concatenate([f.descriptors for f in features.values()]), 64))
        index._save_vocabulary(flat, 1)
        index.catalog.put_descriptor("words", [(int(i), quantise(features[int(i)].descriptors, flat)
                                                .astype("<u2").tobytes()) for i in ids])
    manifest = tmp_path / "index" / "manifest.json"
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps(dict(data, format_version=1)))
    with Index.open(tmp_path / "index") as index:
        assert index.format_version == 1 and not index.vocabulary().is_tree  # read as it is
        assert index.words()[2] == len(flat)
        assert derive_words(index) == 4  # every file again
        tree = index.vocabulary()
        assert tree is not None and tree.is_tree and index.words()[2] == len(tree)
        assert index.format_version == FORMAT_VERSION
        for i, w in zip(*index.words()[:2], strict=True):
            assert np.array_equal(w, quantise(features[int(i)].descriptors, tree))
        assert derive_words(index) == 0  # fitted once
    assert json.loads(manifest.read_text())["format_version"] == FORMAT_VERSION
