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
    from lookalike.index import Index, quantise

    folder = tmp_path / "photos"
    make_photos(folder, ("astronaut", "camera", "chelsea", "coffee"))
    with Index.create(tmp_path / "old", descriptors=["phash", "rootsift"]) as index:  # as the previous version
        index.update(folder, jobs=1)
        assert index.words()[2] == 0
    as_previous_version(tmp_path / "old")
    with Index.open(tmp_path / "old") as index:
        stages: list[tuple[str, int, int]] = []
        report = index.update(folder, jobs=1, progress=lambda *a: stages.append(a))
        assert report.upgraded == 4 and ("words", 4, 4) in stages
        ids, words, n_words = index.words()
        vocabulary = index.vocabulary()
        assert vocabulary is not None and n_words == vocabulary.shape[0] and len(words) == 4
        features = index.local_features(ids)
        for i, w in zip(ids, words, strict=True):  # one word a stored keypoint, its nearest centroid
            assert np.array_equal(w, quantise(features[int(i)].descriptors, vocabulary))
    with Index.create(tmp_path / "new") as index:  # the default descriptors hold the words
        assert "words" in [s.name for s in index.descriptors]
