"""The verification recipe: how an image is decoded and described before its keypoints are matched.

Search, duplicates and the index's stored keypoints all use this one recipe,
so a candidate's stored keypoints equal the ones extracted on the fly and the
copy similarity (:mod:`lookalike.matching._similarity`) is calibrated on them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from lookalike.features import LocalFeatures

__all__ = [
    "DESCRIPTOR_ALPHA",
    "VERIFY_KEYPOINTS",
    "VERIFY_SIZE",
    "load_for_descriptors",
    "pixel_digest",
    "verify_features",
    "verify_pixels",
]

#: Longest side (pixels) at which keypoints are detected for verification, and how many
#: are kept (the strongest). The copy similarity of :func:`lookalike.search` is calibrated
#: with exactly these.
VERIFY_SIZE = 512
VERIFY_KEYPOINTS = 1000

#: How transparency is treated wherever descriptors are computed (hashes, embedding, keypoints; in the
#: index, its queries and classification): composited on white, as a viewer shows the image. With
#: the loader's default ``alpha="drop"`` black line art on a transparent background is a solid black
#: square, and all such drawings hash and embed alike whatever they show. The metrics keep their own
#: documented rule (``alpha="drop"``, as MATLAB and OpenCV read files).
DESCRIPTOR_ALPHA = "white"


def load_for_descriptors(source: Any, *, draft: tuple[int, int] | None = None) -> np.ndarray:
    """Decode an image the way every descriptor sees it: :func:`lookalike.io.load_image` with
    ``alpha=DESCRIPTOR_ALPHA`` (transparent pixels composited on white) and ``draft``.

    The one decode rule of the hashes, the embedding and the keypoints, used by the index, its
    queries and classification, so a file and a query are described alike.

    Examples
    --------
    >>> import numpy as np
    >>> clear_black = np.zeros((4, 4, 4), np.uint8)  # black, fully transparent
    >>> load_for_descriptors(clear_black)[0, 0].tolist()
    [255, 255, 255]
    """
    from lookalike.io import load_image

    return load_image(source, draft=draft, alpha=DESCRIPTOR_ALPHA)  # type: ignore[arg-type]


def pixel_digest(source: Any) -> str:
    """SHA-256 of an image's decoded pixels (full size, :func:`load_for_descriptors`), with its shape and type.

    Two files share it when they show exactly the same pixels, whatever their format and bytes
    (a PNG and a lossless BMP, two PNGs compressed differently). Only images without structure
    need it (:func:`lookalike.matching.flat_hashes`): for them, identical pixels are the only way
    to be a copy, so search and duplicates decode them in full and compare this digest.

    Examples
    --------
    >>> import io, numpy as np
    >>> from PIL import Image
    >>> white = np.full((8, 8, 3), 255, np.uint8)
    >>> png, bmp = io.BytesIO(), io.BytesIO()
    >>> Image.fromarray(white).save(png, "PNG"); Image.fromarray(white).save(bmp, "BMP")
    >>> pixel_digest(png.getvalue()) == pixel_digest(bmp.getvalue()) != pixel_digest(white[:4])
    True
    """
    import hashlib

    pixels = np.ascontiguousarray(load_for_descriptors(source))
    digest = hashlib.sha256(f"{pixels.dtype.str}{pixels.shape}".encode())
    digest.update(pixels.tobytes())
    return digest.hexdigest()


def verify_pixels(source: Any) -> np.ndarray:
    """Decode an image for keypoint verification: reduced-size JPEG decoding to no less than
    :data:`VERIFY_SIZE` on the longest side (:func:`load_for_descriptors` with ``draft``)."""
    return load_for_descriptors(source, draft=(VERIFY_SIZE, VERIFY_SIZE))


def verify_features(pixels: np.ndarray) -> LocalFeatures:
    """The RootSIFT features search verifies with: at most :data:`VERIFY_KEYPOINTS`, detected at
    :data:`VERIFY_SIZE` (Arandjelovic and Zisserman, CVPR 2012; :func:`lookalike.features.extract_local`).

    Examples
    --------
    >>> import numpy as np
    >>> f = verify_features(np.random.default_rng(0).integers(0, 256, (96, 128), np.uint8))
    >>> f.method, f.image_size, 0 < len(f) <= VERIFY_KEYPOINTS
    ('rootsift', (128, 96), True)
    """
    from lookalike.features import extract_local

    return extract_local(pixels, method="rootsift", working_size=VERIFY_SIZE, max_keypoints=VERIFY_KEYPOINTS)
