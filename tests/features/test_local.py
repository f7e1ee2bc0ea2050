"""Local features: the four OpenCV detectors, RootSIFT, the keypoint cap, the working size and storage."""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest

from lookalike.errors import ParameterError
from lookalike.features import LOCAL_METHODS, LocalFeatures, extract_local, mirror_features
from lookalike.io import load_image
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def graf() -> np.ndarray:
    """Graffiti view 1 (800x640 RGB) from HPatches."""
    return load_image(shared_path("matching", "hpatches_v_graffiti", "1.ppm"))


def test_every_detector_is_in_this_opencv_build() -> None:
    # AKAZE left the main module in OpenCV 5; the 4.x headless wheels still carry all four.
    for name in ("SIFT_create", "AKAZE_create", "ORB_create", "AffineFeature_create"):
        assert hasattr(cv2, name), f"cv2 {cv2.__version__} lacks {name}"


@pytest.mark.parametrize(
    ("method", "dtype", "width"),
    [("sift", np.float32, 128), ("rootsift", np.float32, 128), ("akaze", np.uint8, 61), ("orb", np.uint8, 32)],
)
def test_shapes_and_types(graf: np.ndarray, method: str, dtype: type, width: int) -> None:
    f = extract_local(graf, method=method, max_keypoints=500)
    assert f.method == method
    assert f.image_size == (800, 640)
    assert 100 < len(f) <= 500
    assert f.keypoints.dtype == np.float32 and f.keypoints.shape == (len(f), 4)
    assert f.descriptors.dtype == dtype and f.descriptors.shape == (len(f), width)
    x, y, size, angle = f.keypoints.T
    assert np.all((x >= -0.5) & (x <= 799.5) & (y >= -0.5) & (y <= 639.5))
    assert np.all(size > 0)
    assert np.all((angle >= 0) & (angle < 360))


def test_the_cap_keeps_the_strongest(graf: np.ndarray) -> None:
    gray = cv2.cvtColor(graf, cv2.COLOR_RGB2GRAY)
    detected = cv2.AKAZE.create().detect(gray, None)
    assert len(extract_local(graf, method="akaze", max_keypoints=100_000)) == len(detected) > 300
    f = extract_local(graf, method="akaze", max_keypoints=300)
    assert len(f) == 300
    strongest = sorted(detected, key=lambda k: -k.response)[:300]
    assert {tuple(k[:2]) for k in f.keypoints} == {tuple(np.asarray(k.pt, np.float32)) for k in strongest}
    for method in ("sift", "orb"):
        assert len(extract_local(graf, method=method, max_keypoints=300)) == 300


def test_sift_equals_opencv_on_the_grey_image(graf: np.ndarray) -> None:
    gray = cv2.cvtColor(graf, cv2.COLOR_RGB2GRAY)
    keypoints, descriptors = cv2.SIFT.create().detectAndCompute(gray, None)
    assert len(keypoints) < 4000  # below the cap, nothing is dropped
    f = extract_local(graf, method="sift")
    np.testing.assert_array_equal(f.keypoints[:, :2], np.array([k.pt for k in keypoints], np.float32))
    np.testing.assert_array_equal(f.descriptors, descriptors)


def test_rootsift_is_the_square_root_of_l1_normalised_sift(graf: np.ndarray) -> None:
    # Arandjelovic and Zisserman 2012, section 3: L1-normalise, then element-wise square root.
    sift = extract_local(graf, method="sift", max_keypoints=300)
    root = extract_local(graf, method="rootsift", max_keypoints=300)
    np.testing.assert_array_equal(sift.keypoints, root.keypoints)
    expected = np.sqrt(sift.descriptors / sift.descriptors.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(root.descriptors, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.linalg.norm(root.descriptors, axis=1), 1.0, rtol=1e-5)


def test_grey_colour_16_bit_and_float_give_the_same_features(graf: np.ndarray) -> None:
    gray = cv2.cvtColor(graf, cv2.COLOR_RGB2GRAY)
    reference = extract_local(gray, method="sift", max_keypoints=400)
    for image in (graf, gray.astype(np.uint16) * 257, gray[..., None], gray / 255.0,
                  np.dstack([graf, np.full(gray.shape, 255, np.uint8)])):
        f = extract_local(image, method="sift", max_keypoints=400)
        np.testing.assert_array_equal(f.keypoints, reference.keypoints)
        np.testing.assert_array_equal(f.descriptors, reference.descriptors)


def test_large_images_are_detected_small_and_mapped_back(graf: np.ndarray) -> None:
    # Pixel replication by 2, then INTER_AREA by 1/2, gives back the original pixels exactly, so the
    # keypoints of the big image must be those of the original, mapped by x' = 2 (x + 0.5) - 0.5.
    gray = cv2.cvtColor(graf, cv2.COLOR_RGB2GRAY)
    big = np.repeat(np.repeat(gray, 2, axis=0), 2, axis=1)
    small = extract_local(gray, method="orb", max_keypoints=1000)
    large = extract_local(big, method="orb", max_keypoints=1000, working_size=800)
    assert large.image_size == (1600, 1280)
    assert large.working_scale == 2.0 and small.working_scale == 1.0
    np.testing.assert_allclose(large.keypoints[:, :2], 2 * (small.keypoints[:, :2] + 0.5) - 0.5, atol=1e-3)
    np.testing.assert_allclose(large.keypoints[:, 2], 2 * small.keypoints[:, 2], rtol=1e-6)
    np.testing.assert_array_equal(large.keypoints[:, 3], small.keypoints[:, 3])
    np.testing.assert_array_equal(large.descriptors, small.descriptors)


@pytest.mark.parametrize("method", LOCAL_METHODS)
@pytest.mark.parametrize("shape", [(1, 1), (1, 500), (7, 7), (200, 300)])
def test_no_keypoints_is_an_empty_result(method: str, shape: tuple[int, int]) -> None:
    f = extract_local(np.full(shape, 128, np.uint8), method=method)  # flat, or too small
    assert len(f) == 0
    assert f.keypoints.shape == (0, 4)
    assert f.descriptors.shape[0] == 0
    assert f.image_size == (shape[1], shape[0])


def test_affine_view_simulation_finds_more_keypoints(graf: np.ndarray) -> None:
    small = cv2.resize(graf, (200, 160), interpolation=cv2.INTER_AREA)
    plain = extract_local(small, method="sift")
    simulated = extract_local(small, method="sift", affine=True, max_keypoints=20_000)
    assert len(simulated) > 3 * len(plain)
    # mapped back from the simulated views into the image (within interpolation slack)
    assert np.all((simulated.xy >= -2) & (simulated.xy <= [202, 162]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "surf"}, "method must be one of"),
        ({"max_keypoints": 0}, "max_keypoints must be a positive integer"),
        ({"max_keypoints": 2.5}, "max_keypoints must be a positive integer"),
        ({"working_size": 8}, "working_size must be an integer"),
    ],
)
def test_bad_options(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        extract_local(np.zeros((32, 32), np.uint8), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((4, 4, 2), np.uint8), "must be an"),
        (np.zeros((0, 4), np.uint8), "empty"),
        (np.zeros((4, 4), np.int32), "dtype"),
        (np.full((4, 4), np.nan), "NaN"),
    ],
)
def test_bad_images(image: np.ndarray, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        extract_local(image)


def test_storage_round_trips(graf: np.ndarray, tmp_path: Path) -> None:
    for method in ("rootsift", "orb"):
        f = extract_local(graf, method=method, max_keypoints=200, working_size=400)
        for g in (pickle.loads(pickle.dumps(f)), LocalFeatures.from_arrays(f.to_arrays())):
            _assert_same(f, g)
        f.to_npz(tmp_path / f"{method}.npz")
        _assert_same(f, LocalFeatures.from_npz(tmp_path / f"{method}.npz"))


def test_stored_arrays_are_checked() -> None:
    with pytest.raises(ParameterError, match="missing array"):
        LocalFeatures.from_arrays({"format_version": np.array(1)})
    with pytest.raises(ParameterError, match="format version 99"):
        LocalFeatures.from_arrays({"format_version": np.array(99)})
    with pytest.raises(ParameterError, match="must pair up"):
        LocalFeatures(np.zeros((3, 4)), np.zeros((2, 32), np.uint8), "orb", (10, 10))
    with pytest.raises(ParameterError, match=r"uint8 \(N, 32\)"):
        LocalFeatures(np.zeros((2, 4)), np.zeros((2, 128), np.float32), "orb", (10, 10))


def _assert_same(f: LocalFeatures, g: LocalFeatures) -> None:
    assert (g.method, g.image_size, g.working_scale) == (f.method, f.image_size, f.working_scale)
    np.testing.assert_array_equal(g.keypoints, f.keypoints)
    np.testing.assert_array_equal(g.descriptors, f.descriptors)
    assert g.descriptors.dtype == f.descriptors.dtype


@pytest.mark.parametrize("working_size", [1600, 192])  # detected at full size, and at half size (scale 2)
def test_mirrored_features_are_those_of_the_mirror_image(working_size: int) -> None:
    from lookalike.matching import compare_features
    from tests.index.conftest import photo

    pixels = photo("chelsea", longest=384)

    def features(image: np.ndarray) -> LocalFeatures:
        return extract_local(np.ascontiguousarray(image), method="rootsift", max_keypoints=1000,
                             working_size=working_size)

    original, detected = features(pixels), features(pixels[:, ::-1])
    derived = mirror_features(original)
    assert original.working_scale == 384 / min(384, working_size)
    assert (derived.method, derived.image_size, derived.working_scale) == (
        original.method, original.image_size, original.working_scale)
    assert np.allclose(mirror_features(derived).keypoints, original.keypoints, atol=1e-3)
    assert np.array_equal(mirror_features(derived).descriptors, original.descriptors)
    # the same keypoint at the same place: its descriptor is the one detected on the mirrored pixels
    gap = np.abs(derived.keypoints[:, None, :3] - detected.keypoints[None, :, :3]).sum(axis=2)
    nearest = gap.argmin(axis=1)
    placed = gap[np.arange(len(gap)), nearest] < 1e-3
    angle = np.abs((derived.keypoints[placed, 3] - detected.keypoints[nearest[placed], 3] + 180) % 360 - 180)
    same = np.linalg.norm(derived.descriptors[placed] - detected.descriptors[nearest[placed]], axis=1) < 1e-5
    assert placed.mean() > 0.5 and same.mean() > 0.5  # measured 0.7 on Caltech-101 photos
    assert np.all(angle[same] < 1e-2)
    # what matching a mirrored copy needs: it verifies against the derived keypoints, not the unmirrored
    assert not compare_features(original, detected).verified
    assert compare_features(derived, detected).verified


def test_only_sift_features_are_mirrored() -> None:
    orb = LocalFeatures(np.zeros((2, 4)), np.zeros((2, 32), np.uint8), "orb", (9, 9))
    with pytest.raises(ParameterError, match="only SIFT and RootSIFT"):
        mirror_features(orb)
    empty = LocalFeatures(np.zeros((0, 4)), np.zeros((0, 128), np.float32), "sift", (9, 9))
    assert len(mirror_features(empty)) == 0
