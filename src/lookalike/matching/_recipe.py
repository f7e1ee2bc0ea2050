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

__all__ = ["VERIFY_KEYPOINTS", "VERIFY_SIZE", "verify_features", "verify_pixels"]

#: Longest side (pixels) at which keypoints are detected for verification, and how many
#: are kept (the strongest). The copy similarity of :func:`lookalike.search` is calibrated
#: with exactly these.
VERIFY_SIZE = 512
VERIFY_KEYPOINTS = 1000


def verify_pixels(source: Any) -> np.ndarray:
    """Decode an image for keypoint verification: reduced-size JPEG decoding to no less than
    :data:`VERIFY_SIZE` on the longest side (:func:`lookalike.io.load_image` with ``draft``)."""
    from lookalike.io import load_image

    return load_image(source, draft=(VERIFY_SIZE, VERIFY_SIZE))


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
