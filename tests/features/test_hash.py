"""Perceptual hashes: bit-identical to the imagehash package, plus the dihedral variants."""

from __future__ import annotations

import imagehash
import numpy as np
import pytest
from PIL import Image
from skimage import data

from lookalike.errors import ParameterError
from lookalike.features import (
    HASH_METHODS,
    dihedral_hashes,
    hamming_distance,
    hash_to_hex,
    hex_to_hash,
    image_hash,
)
from tests.conftest import shared_path

_IMAGEHASH = {
    "ahash": imagehash.average_hash,
    "dhash": imagehash.dhash,
    "phash": imagehash.phash,
    "whash": imagehash.whash,
}


def _real_images() -> list[np.ndarray]:
    """CC0 images bundled with scikit-image (colour and grey, several sizes)."""
    return [data.astronaut(), data.camera(), data.chelsea(), data.coffee(), data.rocket()]


@pytest.mark.parametrize("method", HASH_METHODS)
@pytest.mark.parametrize("hash_size", [8, 16])
def test_bits_equal_imagehash(method: str, hash_size: int) -> None:
    # Reference: imagehash 4.3.2 (pinned in constraints.txt), the de-facto standard implementation.
    for image in _real_images():
        ours = hash_to_hex(image_hash(image, method=method, hash_size=hash_size))
        theirs = str(_IMAGEHASH[method](Image.fromarray(image), hash_size=hash_size))
        assert ours == theirs, (method, hash_size, image.shape)


def test_bits_equal_imagehash_on_photos() -> None:
    folder = shared_path("classification", "caltech101_13")
    paths = sorted(folder.rglob("*.jpg"))[:: 40][:12]
    assert paths
    for path in paths:
        with Image.open(path) as pil:
            pil.load()
            for method, reference in _IMAGEHASH.items():
                assert hash_to_hex(image_hash(pil, method=method)) == str(reference(pil)), (path, method)


def test_golden_values() -> None:
    # Exact golden hashes (discrete outputs) of scikit-image 0.26's CC0 "camera" (512x512 grey),
    # as printed by imagehash 4.3.2: str(imagehash.phash(Image.fromarray(camera))) and so on.
    camera = data.camera()
    got = {m: hash_to_hex(image_hash(camera, method=m)) for m in HASH_METHODS}
    assert got == {
        "ahash": "ffcf8f07071f1f1f",
        "dhash": "509a3c7fbc756cec",
        "phash": "bff1c1c0434e8cbc",
        "whash": "ffcf8f0107171606",
    }


@pytest.mark.parametrize("method", HASH_METHODS)
def test_dihedral_rows_are_hashes_of_rotated_and_flipped_images(method: str) -> None:
    image = data.chelsea()
    rows = dihedral_hashes(image, method=method)
    assert rows.shape == (8, 8)
    assert (rows[0] == image_hash(image, method=method)).all()
    variants = [
        np.rot90(image, 1), np.rot90(image, 2), np.rot90(image, 3),
        image[:, ::-1], image[::-1], np.transpose(image, (1, 0, 2)),
    ]
    for variant in variants:
        h = image_hash(np.ascontiguousarray(variant), method=method)
        # the transformed image's hash is one of the 8 rows (exactly, up to resampling ties)
        assert hamming_distance(rows, h).min() <= 2, method


def test_hamming_distance_and_hex_round_trip() -> None:
    a = image_hash(data.astronaut())
    b = image_hash(data.coffee())
    assert int(hamming_distance(a, a)) == 0
    assert int(hamming_distance(a, b)) == bin(int(hash_to_hex(a), 16) ^ int(hash_to_hex(b), 16)).count("1")
    assert (hex_to_hash(hash_to_hex(b)) == b).all()
    with pytest.raises(ParameterError):
        hex_to_hash("xyz")


def test_jpeg_copy_is_close_and_unrelated_is_far() -> None:
    import io

    image = data.astronaut()
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=15)
    copy = np.asarray(Image.open(buffer).convert("RGB"))
    assert int(hamming_distance(image_hash(image), image_hash(copy))) <= 6
    assert int(hamming_distance(image_hash(image), image_hash(data.coffee()))) >= 16


def test_bad_parameters() -> None:
    with pytest.raises(ParameterError, match="unknown hash method"):
        image_hash(data.camera(), method="md5")
    with pytest.raises(ParameterError, match="hash_size"):
        image_hash(data.camera(), hash_size=3)
    with pytest.raises(ParameterError, match="dtype"):
        image_hash(data.camera().astype(np.float32))
