"""lookalike.compare, compare_many and compare_pairs: metric choice, resize rules, harmonisation, decode counts."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import lookalike.pipelines._compare as compare_module
from lookalike.color import rgb2gray
from lookalike.errors import ImageReadError, ImageSizeError, ParameterError
from lookalike.metrics import get_metric, metric_names, ms_ssim, mse, psnr, ssim
from lookalike.pipelines import (
    DEFAULT_METRICS,
    Comparison,
    compare,
    compare_many,
    compare_pairs,
    resize_pair,
    resolve_metrics,
)

needs_default_metrics = pytest.mark.skipif(
    not set(DEFAULT_METRICS) <= set(metric_names()),
    reason=f"default metrics {DEFAULT_METRICS} are not all registered yet in this checkout",
)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[::4, ::4])  # 128x128 RGB, public domain (NASA)


@pytest.fixture
def files(tmp_path: Path, astronaut: np.ndarray) -> dict[str, Path]:
    """Four PNGs: the picture, a noisy copy, a darker copy, and a half-size copy."""
    rng = np.random.default_rng(5)
    noisy = np.clip(astronaut + rng.normal(0, 10, astronaut.shape), 0, 255).astype(np.uint8)
    arrays = {"original": astronaut, "noisy": noisy, "dark": (astronaut // 2).astype(np.uint8),
              "half": np.ascontiguousarray(astronaut[::2, ::2])}
    out = {}
    for name, array in arrays.items():
        out[name] = tmp_path / f"{name}.png"
        Image.fromarray(array).save(out[name])
    return out


@pytest.fixture
def count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every source the pipeline hands to the loader, in order."""
    seen: list[object] = []
    real = compare_module.load_image

    def counting(source: object, **options: object) -> np.ndarray:
        seen.append(source)
        return real(source, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(compare_module, "load_image", counting)
    return seen


# --- compare ---------------------------------------------------------------------------------


def test_compare_files_matches_the_metric_functions(files: dict[str, Path], astronaut: np.ndarray) -> None:
    noisy = np.asarray(Image.open(files["noisy"]))
    values = compare(files["original"], files["noisy"], metrics="mse,psnr,rmse")
    assert list(values) == ["mse", "psnr", "rmse"]
    assert values["mse"] == mse(astronaut, noisy)
    assert values["psnr"] == psnr(astronaut, noisy)
    assert values["rmse"] == pytest.approx(math.sqrt(values["mse"]), rel=1e-12)
    assert compare(astronaut, noisy, metrics=["mse"]) == {"mse": values["mse"]}


def test_identical_images(files: dict[str, Path]) -> None:
    values = compare(files["original"], files["original"], metrics="mse,psnr")
    assert values == {"mse": 0.0, "psnr": math.inf}


def test_the_same_path_twice_is_decoded_once(files: dict[str, Path], count_decodes: list[object]) -> None:
    compare(files["original"], files["original"], metrics="mse")
    assert count_decodes == [files["original"]]


@needs_default_metrics
def test_default_metrics_and_all(tmp_path: Path) -> None:
    from skimage import data

    picture = np.ascontiguousarray(data.astronaut()[::2, ::2])  # 256x256: MS-SSIM needs 176 pixels a side
    noisy = np.clip(picture + np.random.default_rng(2).normal(0, 10, picture.shape), 0, 255).astype(np.uint8)
    values = compare(picture, noisy)
    assert list(values) == list(DEFAULT_METRICS)
    assert 0 < values["ssim"] < 1
    everything = compare(picture, noisy, metrics="all")
    assert list(everything) == metric_names()
    for name, value in everything.items():
        low, high = get_metric(name).bounds
        assert low <= value <= high, name


def test_all_gives_every_metric_in_registry_order(files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    # only the metrics that work on this checkout; the list itself is the registry's
    available = [n for n in metric_names() if n in ("mse", "rmse", "psnr") or n.startswith("hist_")]
    assert resolve_metrics("all") == metric_names()
    values = compare(files["original"], files["dark"], metrics=available)
    assert list(values) == available


def test_resolve_metrics() -> None:
    assert resolve_metrics("PSNR, mse,psnr") == ["psnr", "mse"]
    assert resolve_metrics(["MSE", " rmse "]) == ["mse", "rmse"]
    with pytest.raises(ParameterError) as info:
        resolve_metrics("mse,sharpness")
    assert "'sharpness'" in str(info.value)
    for name in metric_names():
        assert name in str(info.value)  # the message lists what is available
    with pytest.raises(ParameterError, match="no metric given"):
        resolve_metrics(" , ")


# --- sizes -----------------------------------------------------------------------------------


def test_different_sizes_are_an_error_naming_both_sizes(files: dict[str, Path]) -> None:
    with pytest.raises(ImageSizeError) as info:
        compare(files["original"], files["half"], metrics="mse")
    message = str(info.value)
    assert str(files["original"]) in message and str(files["half"]) in message
    assert "128x128" in message and "64x64" in message
    for choice in ("first", "smaller", "larger"):
        assert choice in message
    assert isinstance(info.value, ValueError)


def test_different_sizes_of_arrays_are_named_without_printing_arrays(astronaut: np.ndarray) -> None:
    with pytest.raises(ImageSizeError) as info:
        compare(astronaut, astronaut[:64], metrics="mse")
    assert "128x128" in str(info.value) and "128x64" in str(info.value) and "[[" not in str(info.value)


def test_resize_smaller_and_larger(files: dict[str, Path], astronaut: np.ndarray) -> None:
    import cv2

    half = np.ascontiguousarray(astronaut[::2, ::2])
    smaller = compare(files["original"], files["half"], metrics="mse", resize="smaller")
    shrunk = cv2.resize(astronaut, (64, 64), interpolation=cv2.INTER_AREA)
    assert smaller["mse"] == mse(shrunk, half)
    larger = compare(files["original"], files["half"], metrics="mse", resize="larger")
    grown = cv2.resize(half, (128, 128), interpolation=cv2.INTER_CUBIC)
    assert larger["mse"] == mse(astronaut, grown)
    first = compare(files["half"], files["original"], metrics="mse", resize="first")
    assert first == smaller  # the second image is brought to the first one's (smaller) size


def test_histogram_metrics_need_no_resize(files: dict[str, Path]) -> None:
    hist = [n for n in metric_names() if get_metric(n).kind == "histogram"]
    if not hist:
        pytest.skip("no histogram metric registered in this checkout")
    values = compare(files["original"], files["half"], metrics=hist)
    assert list(values) == hist


def test_resize_pair_rules() -> None:
    a, b = np.zeros((40, 60), np.uint8), np.zeros((20, 30), np.uint8)
    assert [x.shape for x in resize_pair(a, b, "smaller")] == [(20, 30), (20, 30)]
    assert [x.shape for x in resize_pair(a, b, "larger")] == [(40, 60), (40, 60)]
    assert [x.shape for x in resize_pair(b, a, "first")] == [(20, 30), (20, 30)]
    tall, wide = np.zeros((20, 10), np.uint8), np.zeros((10, 20), np.uint8)  # same area: the first wins
    assert [x.shape for x in resize_pair(tall, wide, "smaller")] == [(20, 10), (20, 10)]
    assert [x.shape for x in resize_pair(tall, wide, "larger")] == [(20, 10), (20, 10)]
    same = resize_pair(a, a, "none")
    assert same[0] is a and same[1] is a
    with pytest.raises(ParameterError, match="resize must be one of"):
        resize_pair(a, b, "bigger")  # type: ignore[arg-type]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.int64, np.float32, np.float64, np.bool_])
def test_resize_keeps_the_sample_type(dtype: type) -> None:
    a = (np.indices((40, 60)).sum(axis=0) % 2).astype(dtype)
    b = np.zeros((20, 30, 3), dtype)
    for rule in ("smaller", "larger"):
        out = resize_pair(a[..., None].repeat(3, axis=2), b, rule)  # type: ignore[arg-type]
        assert out[0].dtype == dtype and out[0].shape == out[1].shape


def test_invalid_resize_rule(files: dict[str, Path]) -> None:
    with pytest.raises(ParameterError, match="none, first, smaller, larger"):
        compare(files["original"], files["original"], metrics="mse", resize="fit")  # type: ignore[arg-type]


# --- harmonisation ---------------------------------------------------------------------------


def test_grey_against_colour_repeats_the_grey_image(tmp_path: Path, astronaut: np.ndarray) -> None:
    grey = rgb2gray(astronaut)
    path = tmp_path / "grey.png"
    Image.fromarray(grey).save(path)
    values = compare(path, astronaut, metrics="mse,psnr")
    assert values["mse"] == mse(np.dstack([grey] * 3), astronaut)
    assert compare(astronaut, path, metrics="mse") == {"mse": values["mse"]}


def test_repeated_grey_has_the_same_luma() -> None:
    # why repeating grey is safe for luma metrics: MATLAB rgb2gray(g, g, g) == g for every 8-bit level
    levels = np.arange(256, dtype=np.uint8)[None, :]
    np.testing.assert_array_equal(rgb2gray(np.dstack([levels] * 3)), levels)


def test_alpha_is_dropped_before_comparing(astronaut: np.ndarray) -> None:
    rgba = np.dstack([astronaut, np.zeros(astronaut.shape[:2], np.uint8)])
    assert compare(rgba, astronaut, metrics="mse") == {"mse": 0.0}


def test_different_bit_depths_are_refused(astronaut: np.ndarray) -> None:
    with pytest.raises(ParameterError, match=r"uint8.*uint16"):
        compare(astronaut, astronaut.astype(np.uint16) * 257, metrics="mse")


def test_float_images_need_data_range(astronaut: np.ndarray) -> None:
    a = astronaut.astype(np.float64) / 255
    b = np.clip(a + 0.01, 0, 1)
    with pytest.raises(ParameterError, match="data_range"):
        compare(a, b, metrics="psnr")
    assert compare(a, b, metrics="psnr", data_range=1.0) == {"psnr": psnr(a, b, data_range=1.0)}


def test_convention_reaches_ssim_only() -> None:
    # The SSIM conventions name SSIM variants; MS-SSIM (msssim.m) has one definition and must not
    # receive them, so "--metric all --convention skimage" works.
    from skimage import data

    a = data.camera()[:256, :256]  # CC0
    b = np.clip(a.astype(np.int16) + 9, 0, 255).astype(np.uint8)
    values = compare(a, b, metrics="ssim,ms_ssim", convention="skimage")
    assert values["ssim"] == ssim(a, b, convention="skimage")
    assert values["ms_ssim"] == ms_ssim(a, b)


def test_max_pixels_reaches_the_loader(files: dict[str, Path]) -> None:
    with pytest.raises(ImageReadError, match="exceeds the limit of 100 pixels"):
        compare(files["original"], files["noisy"], metrics="mse", max_pixels=100)


# --- compare_many and compare_pairs ----------------------------------------------------------


def test_compare_many_decodes_each_image_once(files: dict[str, Path], count_decodes: list[object]) -> None:
    others = [files["noisy"], files["dark"], files["noisy"], files["original"]]
    results = compare_many(files["original"], others, metrics="mse,psnr")
    assert [r.b for r in results] == [str(p) for p in others]
    assert all(r.a == str(files["original"]) and r.error is None for r in results)
    assert sorted(map(str, count_decodes)) == sorted(str(files[n]) for n in ("original", "noisy", "dark"))
    assert results[0].metrics == results[2].metrics
    assert results[3].metrics == {"mse": 0.0, "psnr": math.inf}
    assert results[1].metrics == compare(files["original"], files["dark"], metrics="mse,psnr")


@pytest.mark.parametrize("kind", ["bytes", "stream", "pil", "array"])
def test_compare_many_decodes_a_non_path_reference_once(
    files: dict[str, Path], count_decodes: list[object], kind: str
) -> None:
    data = files["original"].read_bytes()
    reference = {"bytes": data, "stream": io.BytesIO(data), "pil": Image.open(io.BytesIO(data)),
                 "array": np.asarray(Image.open(files["original"]))}[kind]
    results = compare_many(reference, [files["noisy"], files["dark"], files["original"]], metrics="mse")
    assert sum(source is reference for source in count_decodes) == 1
    assert len(count_decodes) == 4
    assert results[2].metrics == {"mse": 0.0}


def test_compare_many_is_lazy_over_a_generator(files: dict[str, Path]) -> None:
    results = compare_many(files["original"], (files[n] for n in ("noisy", "dark")), metrics="mse")
    assert len(results) == 2


def test_compare_pairs_decodes_each_path_once(files: dict[str, Path], count_decodes: list[object]) -> None:
    a, b, c = files["original"], files["noisy"], files["dark"]
    results = compare_pairs([(a, b), (a, c), (b, c), (c, a)], metrics="mse")
    assert sorted(map(str, count_decodes)) == sorted(map(str, (a, b, c)))
    assert [(r.a, r.b) for r in results] == [(str(a), str(b)), (str(a), str(c)), (str(b), str(c)), (str(c), str(a))]
    assert results[1].metrics == results[3].metrics  # mse is symmetric


def test_compare_pairs_cache_can_be_disabled(files: dict[str, Path], count_decodes: list[object]) -> None:
    a, b = files["original"], files["noisy"]
    compare_pairs([(a, b), (a, b)], metrics="mse", cache_size=0)
    assert len(count_decodes) == 4


def test_on_error_record_keeps_going(files: dict[str, Path], tmp_path: Path) -> None:
    missing = tmp_path / "missing.png"
    results = compare_many(files["original"], [files["noisy"], missing, files["half"], files["dark"]],
                           metrics="mse", on_error="record")
    assert [r.error is None for r in results] == [True, False, False, True]
    assert "missing.png" in results[1].error and "no such file" in results[1].error  # type: ignore[operator]
    assert "64x64" in results[2].error and results[2].metrics == {}  # type: ignore[operator]
    assert results[3].metrics["mse"] > 0
    assert results[1].to_dict() == {"a": str(files["original"]), "b": str(missing), "metrics": {},
                                    "error": results[1].error}


def test_on_error_raise_stops(files: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match="no such file"):
        compare_many(files["original"], [files["noisy"], tmp_path / "missing.png"], metrics="mse")


def test_unreadable_reference_is_read_once_and_recorded_everywhere(
    tmp_path: Path, files: dict[str, Path], count_decodes: list[object]
) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a picture at all")
    results = compare_many(broken, [files["noisy"], files["dark"]], metrics="mse", on_error="record")
    assert all("broken.png" in (r.error or "") for r in results)
    assert count_decodes.count(broken) == 1
    with pytest.raises(ImageReadError):
        compare_many(broken, [files["noisy"]], metrics="mse")


def test_unreadable_path_in_pairs_is_not_read_again(
    tmp_path: Path, files: dict[str, Path], count_decodes: list[object]
) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"")
    results = compare_pairs([(broken, files["noisy"]), (files["dark"], broken)], metrics="mse", on_error="record")
    assert all("empty" in (r.error or "") for r in results)
    assert count_decodes.count(broken) == 1


@pytest.mark.parametrize("others", ["b.png", Path("b.png"), np.zeros((4, 4), np.uint8)])
def test_compare_many_refuses_a_single_image_as_others(others: object) -> None:
    with pytest.raises(ParameterError, match="others must be a list"):
        compare_many(np.zeros((4, 4), np.uint8), others, metrics="mse")  # type: ignore[arg-type]


@pytest.mark.parametrize("options", [{"on_error": "ignore"}, {"cache_size": -1}, {"cache_size": 1.5}])
def test_invalid_batch_options(options: dict[str, object]) -> None:
    a = np.zeros((4, 4), np.uint8)
    with pytest.raises(ParameterError):
        compare_pairs([(a, a)], metrics="mse", **options)  # type: ignore[arg-type]


def test_pairs_must_be_pairs() -> None:
    a = np.zeros((4, 4), np.uint8)
    with pytest.raises(ParameterError, match="pair of images"):
        compare_pairs([(a, a, a)], metrics="mse")  # type: ignore[list-item]


def test_comparison_to_dict() -> None:
    result = Comparison("a.png", "b.png", {"mse": 1.5})
    assert result.to_dict() == {"a": "a.png", "b": "b.png", "metrics": {"mse": 1.5}}
