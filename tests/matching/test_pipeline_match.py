"""`lookalike.pipelines.match` on bad and extreme input: a clear result or a clear error, never a crash."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from lookalike.errors import ImageReadError, ParameterError
from lookalike.features import extract_local
from lookalike.io import load_image
from lookalike.pipelines import match
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def graf() -> np.ndarray:
    return load_image(shared_path("matching", "hpatches_v_graffiti", "1.ppm"))


def test_unreadable_images_raise_image_read_error(graf: np.ndarray, tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(ImageReadError, match=r"broken\.jpg"):
        match(graf, broken)
    with pytest.raises(ImageReadError, match="no such file"):
        match(tmp_path / "missing.png", graf)


@pytest.mark.parametrize("method", ["rootsift", "orb"])
def test_an_image_without_keypoints_gives_a_zero_result(graf: np.ndarray, method: str) -> None:
    flat = np.full((480, 640, 3), 128, np.uint8)
    for pair in ((flat, graf), (graf, flat), (flat, flat)):
        result = match(*pair, method=method)
        assert result.n_matches == 0
        assert result.similarity == 0.0
        assert result.verified is False
        assert result.model is None


def test_a_1x1_image(graf: np.ndarray) -> None:
    dot = np.zeros((1, 1, 3), np.uint8)
    result = match(dot, graf)
    assert result.keypoints[0] == 0
    assert (result.n_matches, result.verified, result.similarity) == (0, False, 0.0)


def test_a_huge_image_is_detected_at_the_working_size(graf: np.ndarray) -> None:
    # 6400 x 5120 (33 MP): the graffiti scaled by 8; detection runs on a 1600-pixel copy.
    huge = cv2.resize(graf, (6400, 5120), interpolation=cv2.INTER_LINEAR)
    features = extract_local(huge)
    assert features.working_scale == 4.0
    assert features.image_size == (6400, 5120)
    result = match(huge, graf, affine_fallback=False)
    assert result.verified, result.reason
    scale = np.diag([1 / 8, 1 / 8, 1.0])  # maps the huge image's pixels onto the original's
    corners = np.array([[0, 0, 1], [6400, 0, 1], [6400, 5120, 1], [0, 5120, 1]], float)
    found = corners @ result.model.T
    expected = corners @ scale.T
    error = np.linalg.norm(found[:, :2] / found[:, 2:] - expected[:, :2] / expected[:, 2:], axis=1)
    assert error.max() < 3.0  # px in the 800x640 image


def test_sixteen_bit_input_matches_like_eight_bit(graf: np.ndarray) -> None:
    eight = match(graf, graf[40:600, 60:760], method="orb")
    sixteen = match(graf.astype(np.uint16) * 257, graf[40:600, 60:760], method="orb")
    assert eight.to_dict() == sixteen.to_dict()
    assert eight.verified
    np.testing.assert_allclose(eight.model[:2, 2], [-60, -40], atol=0.5)


def test_options_are_checked_before_any_work(tmp_path: Path) -> None:
    missing = tmp_path / "missing.png"  # never read: the option error comes first
    with pytest.raises(ParameterError, match="method must be one of"):
        match(missing, missing, method="surf")
    with pytest.raises(ParameterError, match="ratio must be in"):
        match(missing, missing, ratio=1.5)
    with pytest.raises(ParameterError, match="model must be one of"):
        match(missing, missing, model="affine")


def test_no_affine_retry_when_the_plain_pass_verifies(graf: np.ndarray) -> None:
    # (the LePoint pairs of test_groundtruth show the retry winning where the plain pass fails)
    easy = match(graf, graf[40:600, 60:760], method="orb")
    assert easy.verified and not easy.affine
