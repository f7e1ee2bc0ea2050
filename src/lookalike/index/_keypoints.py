"""Stored keypoints: how an image's keypoints are computed for the catalogue, and the BLOB they are kept in.

:func:`describe_keypoints` gives the BLOB of one image (SIFT at the verification
recipe's size, stored as ``uint8``); :func:`unpack_features` reads it back as
RootSIFT, bit for bit what the recipe extracts on the fly.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

import numpy as np

from lookalike.errors import IndexFormatError, ParameterError
from lookalike.matching import verify_pixels

if TYPE_CHECKING:
    from lookalike.features import LocalFeatures
    from lookalike.index._descriptors import DescriptorSpec

__all__ = ["KEYPOINTS_HEADER_SIZE", "describe_keypoints", "pack_features", "unpack_features"]


def describe_keypoints(source: Any, spec: DescriptorSpec) -> bytes:
    """The catalogue BLOB of an image's keypoints: :func:`verify_features` of :func:`verify_pixels`.

    SIFT is extracted once; its descriptors are integers in 0..255 in OpenCV (the float
    descriptor is ``saturate_cast<uchar>`` per element), so they are stored as ``uint8``
    and made RootSIFT when read back, the same float32 arithmetic as
    :func:`lookalike.features.extract_local` (``method="rootsift"``): the features read
    back equal the ones extracted on the fly, bit for bit.
    """
    from lookalike.features import extract_local

    if spec.kind != "keypoints":
        raise ParameterError(f"{spec.name} is not a keypoint descriptor")
    sift = extract_local(verify_pixels(source), method="sift", working_size=int(spec.params["working_size"]),
                         max_keypoints=int(spec.params["max_keypoints"]))
    return pack_features(sift)


#: BLOB layout of stored keypoints (little-endian): magic, count n, image width and height, working
#: scale; then n x (x, y, size, angle) float32, then n x 128 uint8 SIFT descriptors. 24 + 144 n bytes:
#: about 141 KB for an image with the full 1000 keypoints (photos of 0.3 MP and more), 30-80 KB for
#: small ones (300 px Caltech-101 photos have 100-550 keypoints at this size).
_KEYPOINTS_HEADER = struct.Struct("<4sIIId")
_KEYPOINTS_MAGIC = b"LKS1"
KEYPOINTS_HEADER_SIZE = _KEYPOINTS_HEADER.size


def pack_features(features: LocalFeatures) -> bytes:
    """The BLOB of SIFT features (integer descriptors 0..255), laid out as above."""
    descriptors = np.asarray(features.descriptors)
    if features.method == "rootsift":
        raise ParameterError("store SIFT descriptors (integers 0..255), not RootSIFT: they are rooted when read")
    if descriptors.size and (descriptors.min() < 0 or descriptors.max() > 255
                             or not np.array_equal(descriptors, np.rint(descriptors))):
        raise ParameterError("SIFT descriptors are expected to hold integers in 0..255 (as OpenCV computes them)")
    width, height = features.image_size
    header = _KEYPOINTS_HEADER.pack(_KEYPOINTS_MAGIC, len(features), int(width), int(height),
                                    float(features.working_scale))
    keypoints = np.ascontiguousarray(features.keypoints, dtype="<f4")
    return header + keypoints.tobytes() + descriptors.astype(np.uint8).tobytes()


def unpack_features(blob: bytes, name: str = "rootsift") -> LocalFeatures:
    """RootSIFT features from a BLOB of :func:`pack_features` (an ``IndexFormatError`` when it is damaged)."""
    from lookalike.features import LocalFeatures, root_sift

    size = _KEYPOINTS_HEADER.size
    try:
        magic, n, width, height, scale = _KEYPOINTS_HEADER.unpack_from(blob)
    except struct.error:
        magic, n = b"", -1
    if magic != _KEYPOINTS_MAGIC or len(blob) != size + 144 * n:
        raise IndexFormatError(f"the catalogue holds damaged {name} keypoints; rebuild the index")
    keypoints = np.frombuffer(blob, dtype="<f4", count=4 * n, offset=size).astype(np.float32).reshape(n, 4)
    sift = np.frombuffer(blob, dtype=np.uint8, count=128 * n, offset=size + 16 * n).reshape(n, 128)
    descriptors = root_sift(sift) if n else np.zeros((0, 128), np.float32)
    return LocalFeatures(keypoints, descriptors, "rootsift", (width, height), scale)
