"""The self-joins duplicates asks of an index, against brute force."""

from __future__ import annotations

import numpy as np
import pytest


def test_hash_pairs_finds_exactly_the_pairs_within_the_radius() -> None:
    from lookalike.features import hamming_distance
    from lookalike.index import hash_pairs

    rng = np.random.default_rng(3)
    base = rng.integers(0, 256, (40, 8), dtype=np.uint8)
    # near copies with 0-6 flipped bits, and one hash repeated many times (a degenerate bucket)
    copies = np.unpackbits(base[rng.integers(0, 40, 160)], axis=1)
    for row, flips in zip(copies, rng.integers(0, 7, len(copies)), strict=True):
        row[rng.choice(64, flips, replace=False)] ^= 1
    hashes = np.concatenate([base, np.packbits(copies, axis=1), np.repeat(base[:1], 12, axis=0)])
    full = hamming_distance(hashes[:, None, :], hashes[None, :, :])
    for radius in (0, 3, 5):
        a, b, d = hash_pairs(hashes, radius)
        want = {(i, j) for i, j in zip(*np.nonzero(np.triu(full <= radius, 1)), strict=True)}
        assert set(zip(a.tolist(), b.tolist(), strict=True)) == want
        assert np.array_equal(d, full[a, b]) and len(a) == len(want)


def test_embedding_neighbours_exact_and_approximate(monkeypatch: pytest.MonkeyPatch) -> None:
    from lookalike.index import _selfjoin

    rng = np.random.default_rng(5)
    # 256 dimensions, so the self-join's PCA (128) drops some; near copies (cosine ~0.95) of some rows
    centres = rng.normal(size=(60, 256))
    vectors = centres[rng.integers(0, 60, 3000)] + 0.6 * rng.normal(size=(3000, 256))
    vectors[2500:] = vectors[:500] + 0.15 * rng.normal(size=(500, 256))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    truth = np.argsort(-similarity, axis=1)[:, :5]
    rows, cosines = _selfjoin.embedding_neighbours(vectors, 5)
    assert np.array_equal(rows, truth)  # exact below EXACT_NEIGHBOURS
    assert np.allclose(cosines, np.take_along_axis(similarity, truth, axis=1), atol=1e-5)
    monkeypatch.setattr(_selfjoin, "EXACT_NEIGHBOURS", 100)  # the IVF self-join on the same vectors
    rows, cosines = _selfjoin.embedding_neighbours(vectors, 5)
    recall = np.mean([len(set(r) & set(t)) / 5 for r, t in zip(rows.tolist(), truth.tolist(), strict=True)])
    assert recall >= 0.7  # approximate: isotropic noise in the dimensions PCA drops decides these ranks (0.78)
    assert np.all(rows[:500, 0] == np.arange(2500, 3000)) and np.all(rows[2500:, 0] == np.arange(500))  # copies
    assert np.all(rows != np.arange(3000)[:, None])
    assert np.allclose(cosines, np.take_along_axis(similarity, rows, axis=1), atol=1e-5)  # exact cosines
    assert np.all(np.diff(cosines, axis=1) <= 1e-6)  # best first


def test_dihedral_pairs_equal_brute_force_over_the_eight_rotations_and_flips() -> None:
    from lookalike.features import dihedral_hashes, hamming_distance
    from lookalike.index import dihedral_pairs, dihedral_rows

    rng = np.random.default_rng(5)
    images = [rng.integers(0, 256, (24, 32), dtype=np.uint8) for _ in range(12)]
    # copies turned by 90 / 180 / 270 degrees, mirrored, transposed, and lightly noisy ones
    images += [np.rot90(images[0]), np.rot90(images[1], 2), np.rot90(images[2], 3), images[3][:, ::-1],
               images[4].T, np.clip(images[5].astype(int) + rng.integers(-9, 10, images[5].shape), 0, 255)]
    dihedral = np.stack([dihedral_hashes(np.ascontiguousarray(image).astype(np.uint8)) for image in images])
    # brute force: every pair, both directions, all 8 hashes of one against the plain hash of the other
    forward = hamming_distance(dihedral[:, None, :, :], dihedral[None, :, :1, :]).min(axis=2)
    full = np.minimum(forward, forward.T)
    for radius in (0, 4, 12):
        a, b, d = dihedral_pairs(dihedral, radius)
        want = {(i, j) for i, j in zip(*np.nonzero(np.triu(full <= radius, 1)), strict=True)}
        assert set(zip(a.tolist(), b.tolist(), strict=True)) == want and len(a) == len(want)
        assert np.array_equal(d, full[a, b]) and np.array_equal(dihedral_rows(dihedral, a, b), d)
    a, b, d = dihedral_pairs(dihedral, 4)
    found = set(zip(a.tolist(), b.tolist(), strict=True))
    assert {(0, 12), (1, 13), (2, 14), (3, 15), (4, 16)} <= found  # each turned or mirrored copy, by hash alone
