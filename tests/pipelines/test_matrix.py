"""similarity_matrix on a folder of real photos (HPatches graffiti views, Caltech-101 objects) plus bad files."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.errors import ParameterError
from lookalike.metrics import get_metric
from lookalike.metrics._registry import _REGISTRY, MetricInfo
from lookalike.pipelines import MatrixResult, compare, similarity_matrix
from tests.conftest import shared_path

GRAFFITI = ["graffiti1.png", "graffiti2.png", "graffiti3.png"]  # one planar scene, three viewpoints
OBJECTS = ["Faces_easy.jpg", "pizza.jpg", "watch.jpg"]  # three unrelated Caltech-101 objects
BAD_SKIPPED = ["empty.jpg", "text.jpg", "truncated.jpg"]
BAD_KEPT = ["flat.png", "tiny.png"]  # readable, but no keypoints


def build_folder(folder: Path) -> Path:
    """Small copies of real images (HPatches views at 320x256) plus files that must not stop a run."""
    folder.mkdir(parents=True, exist_ok=True)
    graffiti = shared_path("matching", "hpatches_v_graffiti")
    caltech = shared_path("classification", "caltech101_13", "101_ObjectCategories")
    for k, name in enumerate(GRAFFITI, 1):
        with Image.open(graffiti / f"{k}.ppm") as image:
            image.resize((320, 256), Image.Resampling.LANCZOS).save(folder / name)
    for name in OBJECTS:
        shutil.copyfile(caltech / name.removesuffix(".jpg") / "image_0001.jpg", folder / name)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("a text file renamed .jpg\n")
    (folder / "truncated.jpg").write_bytes((folder / "pizza.jpg").read_bytes()[:2000])
    Image.new("L", (1, 1), 0).save(folder / "tiny.png")
    Image.new("L", (64, 48), 128).save(folder / "flat.png")
    (folder / "README.txt").write_text("not an image: ignored")
    return folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_folder(tmp_path_factory.mktemp("photos"))


@pytest.fixture(scope="module")
def rootsift(folder: Path) -> MatrixResult:
    return similarity_matrix(folder, jobs=1)


def _index(result: MatrixResult, names: list[str]) -> list[int]:
    return [result.labels.index(n) for n in names]


def test_square_matrix_has_every_readable_image_in_order(rootsift: MatrixResult) -> None:
    expected = sorted(GRAFFITI + OBJECTS + BAD_KEPT, key=str.casefold)
    assert rootsift.labels == expected
    assert rootsift.column_labels == expected
    assert rootsift.values.shape == (len(expected), len(expected))
    assert rootsift.square and rootsift.kind == "matching" and rootsift.measure == "rootsift"
    n = len(expected)
    assert len(rootsift.pairs) == n * (n - 1) // 2
    np.testing.assert_array_equal(np.diag(rootsift.values), np.ones(n))


def test_matching_matrix_is_symmetric_and_in_unit_range(rootsift: MatrixResult) -> None:
    values = rootsift.values
    np.testing.assert_array_equal(values, values.T)
    assert np.all((values >= 0) & (values <= 1))


def test_same_scene_pairs_score_higher_than_cross_pairs(rootsift: MatrixResult) -> None:
    g = _index(rootsift, GRAFFITI)
    others = [i for i in range(len(rootsift.labels)) if i not in g]
    same = [rootsift.values[i, j] for i in g for j in g if i < j]
    cross = [rootsift.values[i, j] for i in g for j in others] + [
        rootsift.values[i, j] for i in others for j in others if i < j
    ]
    assert min(same) > max(cross)
    assert max(cross) < 0.1  # issue 3: unrelated pairs score under 0.1
    top = {frozenset((p.a, p.b)) for p in rootsift.pairs[:3]}
    assert top == {frozenset((a, b)) for a in GRAFFITI for b in GRAFFITI if a < b}


def test_pairs_are_sorted_most_similar_first_and_carry_counts(rootsift: MatrixResult) -> None:
    values = [p.value for p in rootsift.pairs]
    assert values == sorted(values, reverse=True)
    for pair in rootsift.pairs:
        assert pair.value == rootsift.values[pair.row, pair.col]
        assert pair.matches is not None and pair.inliers is not None
        assert 0 <= pair.inliers <= pair.matches
        assert pair.error is None and pair.result is None


def test_bad_files_are_reported_and_never_stop_the_run(rootsift: MatrixResult) -> None:
    skipped = {e.label: e for e in rootsift.errors if e.skipped}
    assert set(skipped) == set(BAD_SKIPPED)
    assert skipped["empty.jpg"].stage == "listing" and "empty" in skipped["empty.jpg"].reason
    assert skipped["text.jpg"].stage == "listing" and "text" in skipped["text.jpg"].reason
    assert skipped["truncated.jpg"].stage == "read" and "truncated" in skipped["truncated.jpg"].reason
    kept = {e.label: e for e in rootsift.errors if not e.skipped}
    assert set(kept) == set(BAD_KEPT)
    for name in BAD_KEPT:
        assert kept[name].stage == "features" and "no keypoints" in kept[name].reason
        row = rootsift.values[rootsift.labels.index(name)]
        assert np.count_nonzero(row) == 1  # only the diagonal


def test_two_processes_give_the_same_matrix_as_one(folder: Path, rootsift: MatrixResult) -> None:
    stages: list[tuple[str, int, int]] = []
    parallel = similarity_matrix(folder, jobs=2, progress=lambda *a: stages.append(a))
    assert parallel.labels == rootsift.labels
    np.testing.assert_array_equal(parallel.values, rootsift.values)
    assert [(p.a, p.b, p.value, p.matches, p.inliers) for p in parallel.pairs] == [
        (p.a, p.b, p.value, p.matches, p.inliers) for p in rootsift.pairs
    ]
    assert [e.label for e in parallel.errors] == [e.label for e in rootsift.errors]
    n_images = len(GRAFFITI + OBJECTS + BAD_KEPT) + 1  # the truncated file is read, then fails
    assert ("features", 0, n_images) in stages and ("features", n_images, n_images) in stages
    assert stages[-1] == ("pairs", len(rootsift.pairs), len(rootsift.pairs))


def test_two_folders_give_a_rectangular_matrix(folder: Path, tmp_path: Path, rootsift: MatrixResult) -> None:
    folder_b = tmp_path / "b"
    folder_b.mkdir()
    for name in ["graffiti2.png", "pizza.jpg"]:
        shutil.copyfile(folder / name, folder_b / name)
    result = similarity_matrix([folder / n for n in ["graffiti1.png", "watch.jpg"]], folder_b, jobs=1)
    assert not result.square
    assert result.values.shape == (2, 2) and len(result.pairs) == 4
    assert result.column_labels == ["graffiti2.png", "pizza.jpg"]
    assert result.labels == [str(folder / "graffiti1.png"), str(folder / "watch.jpg")]
    i, j = rootsift.labels.index("graffiti1.png"), rootsift.labels.index("graffiti2.png")
    assert result.values[0, 0] == rootsift.values[i, j]  # the same pair gives the same score
    assert result.pairs[0].a.endswith("graffiti1.png") and result.pairs[0].b == "graffiti2.png"


def test_a_symmetric_metric_gives_a_symmetric_matrix_resized_once(folder: Path) -> None:
    result = similarity_matrix(folder, metric="mse", jobs=1)
    assert result.kind == "metric" and not result.higher_is_better
    assert result.resize == "256x256"  # sizes differ, so every image is resized to the working size
    np.testing.assert_array_equal(result.values, result.values.T)
    np.testing.assert_array_equal(np.diag(result.values), np.zeros(len(result.labels)))
    values = [p.value for p in result.pairs]
    assert values == sorted(values)  # lower is more similar: most similar first
    g = _index(result, GRAFFITI)
    assert result.values[g[0], g[1]] < result.values[g[0], result.labels.index("pizza.jpg")]


def test_metric_values_equal_compare_on_the_same_files(folder: Path, tmp_path: Path) -> None:
    for name in GRAFFITI:
        shutil.copyfile(folder / name, tmp_path / name)
    exact = similarity_matrix(tmp_path, metric="psnr", jobs=1)
    assert exact.resize == "none"  # one size: compared as they are
    smaller = similarity_matrix(folder, metric="psnr", resize="smaller", jobs=1)
    for i, a in enumerate(GRAFFITI):
        for j, b in enumerate(GRAFFITI):
            if i != j:
                expected = compare(tmp_path / a, tmp_path / b, metrics="psnr")["psnr"]
                assert exact.values[i, j] == expected
    assert math.isinf(exact.values[0, 0])  # PSNR's identity value
    k, m = smaller.labels.index("graffiti1.png"), smaller.labels.index("pizza.jpg")
    expected = compare(folder / "graffiti1.png", folder / "pizza.jpg", metrics="psnr", resize="smaller")["psnr"]
    assert smaller.values[k, m] == expected


def test_resize_none_records_pairs_of_different_sizes_as_failed(folder: Path) -> None:
    result = similarity_matrix([folder / "graffiti1.png", folder / "graffiti2.png", folder / "pizza.jpg"],
                               metric="mse", resize="none", jobs=1)
    assert np.isfinite(result.values[0, 1])
    assert np.isnan(result.values[0, 2]) and np.isnan(result.values[2, 1])
    failed = [e for e in result.errors if e.stage == "compare"]
    assert len(failed) == 2 and all("differ in size" in e.reason for e in failed)
    assert [p.error is not None for p in result.pairs] == [False, True, True]  # failures sorted last


def test_an_asymmetric_metric_is_computed_both_ways(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def brighter(image0: np.ndarray, image1: np.ndarray) -> float:
        return float(image0.mean() - image1.mean())

    info = MetricInfo(name="test_brighter", func=brighter, higher_is_better=True, identity=0.0,
                      bounds=(-255.0, 255.0), symmetric=False, kind="histogram", description="test only")
    monkeypatch.setitem(_REGISTRY, "test_brighter", info)
    assert get_metric("test_brighter") is info
    paths = [folder / n for n in ("flat.png", "pizza.jpg", "watch.jpg")]
    result = similarity_matrix(paths, metric="test_brighter", jobs=1)
    assert len(result.pairs) == 6
    np.testing.assert_allclose(result.values, -result.values.T)
    assert result.values[0, 1] != 0


def test_one_readable_image_gives_a_1x1_matrix(folder: Path, tmp_path: Path) -> None:
    shutil.copyfile(folder / "pizza.jpg", tmp_path / "only.jpg")
    (tmp_path / "bad.png").write_text("no")
    result = similarity_matrix(tmp_path, jobs=2)
    assert result.labels == ["only.jpg"] and result.values.tolist() == [[1.0]]
    assert result.pairs == [] and [e.label for e in result.errors] == ["bad.png"]


def test_no_readable_image_gives_an_empty_matrix_with_the_errors(folder: Path, tmp_path: Path) -> None:
    shutil.copyfile(folder / "truncated.jpg", tmp_path / "truncated.jpg")
    result = similarity_matrix(tmp_path)
    assert result.values.shape == (0, 0) and result.pairs == []
    assert [(e.label, e.stage) for e in result.errors] == [("truncated.jpg", "read")]


def test_an_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(ParameterError, match=r"no images found in '[^']*'$"):  # no sub-folder: no hint
        similarity_matrix(tmp_path)
    (tmp_path / "sub").mkdir()
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "sub" / "black.png")
    with pytest.raises(ParameterError, match=r"its sub-folders hold 1 image: pass recursive=True$"):
        similarity_matrix(tmp_path)
    with pytest.raises(ParameterError, match="list of paths is empty"):
        similarity_matrix([])
    with pytest.raises(ParameterError, match="not a folder"):
        similarity_matrix(tmp_path / "missing")


@pytest.mark.parametrize("options, message", [
    ({"method": "sift", "metric": "mse"}, "not both"),
    ({"method": "surf"}, "unknown matching method"),
    ({"metric": "nope"}, "unknown metric"),
    ({"metric": "mse", "resize": "huge"}, "resize must be"),
    ({"jobs": 0}, "jobs must be"),
])
def test_bad_options_are_parameter_errors(folder: Path, options: dict[str, object], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        similarity_matrix(folder, **options)  # type: ignore[arg-type]


def test_features_are_cached_on_disk_and_reused(folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lookalike.features

    paths = [folder / n for n in ("graffiti1.png", "graffiti2.png", "watch.jpg")]
    cache = tmp_path / "cache"
    calls: list[object] = []
    real = lookalike.features.extract_local

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(args)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(lookalike.features, "extract_local", counting)
    first = similarity_matrix(paths, cache_dir=cache, jobs=1)
    assert len(calls) == 3 and len(list(cache.glob("rootsift-*.npz"))) == 3
    second = similarity_matrix(paths, cache_dir=cache, jobs=1)
    assert len(calls) == 3  # nothing extracted again
    np.testing.assert_array_equal(second.values, first.values)
    similarity_matrix(paths, cache_dir=cache, max_keypoints=100, jobs=1)
    assert len(calls) == 6  # another setting is another key
    (folder_copy := tmp_path / "copy").mkdir()
    shutil.copyfile(paths[2], folder_copy / "watch.jpg")
    similarity_matrix([*paths[:2], folder_copy / "watch.jpg"], cache_dir=cache, jobs=1)
    assert len(calls) == 7  # another file is another key
    for entry in cache.glob("*.npz"):
        entry.write_bytes(b"damaged")
    third = similarity_matrix(paths, cache_dir=cache, jobs=1)
    assert len(calls) == 10  # a damaged entry is extracted again, not an error
    np.testing.assert_array_equal(third.values, first.values)


def test_keep_matches_keeps_results_and_features(folder: Path) -> None:
    paths = [folder / n for n in ("graffiti1.png", "graffiti2.png")]
    result = similarity_matrix(paths, method="orb", keep_matches=True)
    (pair,) = result.pairs
    assert pair.result is not None and pair.result.verified
    assert pair.inliers == pair.result.n_inliers
    assert result.features is not None and [f.method for f in result.features] == ["orb", "orb"]


def test_the_reused_matching_index_gives_exactly_what_compare_features_gives(tmp_path: Path) -> None:
    """The matrix builds each image's FLANN index once; each pair must still equal compare_features."""
    from lookalike.features import extract_local
    from lookalike.io import load_image
    from lookalike.matching import compare_features
    from lookalike.matching._match import FLANN_MIN_PAIRS

    graffiti = shared_path("matching", "hpatches_v_graffiti")
    boat = shared_path("matching", "homogr", "boatA.png")  # another scene
    paths = [graffiti / "1.ppm", graffiti / "2.ppm", boat]  # full size: enough keypoints for FLANN
    result = similarity_matrix(paths, keep_matches=True, max_keypoints=2100, jobs=1)
    features = [extract_local(load_image(p), max_keypoints=2100) for p in paths]
    assert min(len(f) for f in features) ** 2 > FLANN_MIN_PAIRS  # the reused-index path is the one tested
    assert len(result.pairs) == 3
    for pair in result.pairs:
        expected = compare_features(features[pair.row], features[pair.col])
        got = pair.result
        np.testing.assert_array_equal(got.matches, expected.matches)
        np.testing.assert_array_equal(got.inliers, expected.inliers)
        assert (got.verified, got.similarity, got.reason) == (expected.verified, expected.similarity, expected.reason)
        assert got.to_dict() == expected.to_dict()
        assert (got.model is None) == (expected.model is None)
        if got.model is not None:
            np.testing.assert_array_equal(got.model, expected.model)
    assert any(p.result.verified for p in result.pairs) and any(not p.result.verified for p in result.pairs)
