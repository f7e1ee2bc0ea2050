"""Validation and conversions shared by every full-reference metric."""

from __future__ import annotations

import numpy as np

from lookalike.color import rgb2gray
from lookalike.errors import ImageSizeError, ParameterError


def check_pair(image0: np.ndarray, image1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return both images as arrays after checking they are images of the same shape."""
    image0 = np.asarray(image0)
    image1 = np.asarray(image1)
    for name, image in (("image0", image0), ("image1", image1)):
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
            raise ParameterError(
                f"{name} must be an (H, W) grey or (H, W, 3) colour array, got shape {image.shape}"
            )
        if image.size == 0:
            raise ParameterError(f"{name} is empty (shape {image.shape})")
        if image.dtype.kind not in "uif" and image.dtype != np.bool_:
            raise ParameterError(f"{name} has unsupported dtype {image.dtype}")
    if image0.shape != image1.shape:
        raise ImageSizeError(
            f"images differ in size: {describe_shape(image0.shape)} vs {describe_shape(image1.shape)}; "
            "resize one first, or compare them with resize='smaller'"
        )
    return image0, image1


def describe_shape(shape: tuple[int, ...]) -> str:
    """'640x480' (width x height) or '640x480x3'."""
    text = f"{shape[1]}x{shape[0]}"
    return text + (f"x{shape[2]}" if len(shape) == 3 else "")


def infer_data_range(image0: np.ndarray, image1: np.ndarray, data_range: float | None) -> float:
    """The dynamic range L: given, else from the integer dtype (uint8 -> 255, uint16 -> 65535).

    Float input requires an explicit ``data_range``, as in scikit-image: guessing
    it silently changes PSNR by tens of dB.
    """
    if data_range is not None:
        if not np.isfinite(data_range) or data_range <= 0:
            raise ParameterError(f"data_range must be a positive number, got {data_range!r}")
        return float(data_range)
    kinds = {image0.dtype, image1.dtype}
    if len(kinds) == 1 and image0.dtype.kind in "ui":
        info = np.iinfo(image0.dtype)
        return float(info.max) - float(min(info.min, 0))
    if image0.dtype == np.bool_ and image1.dtype == np.bool_:
        return 1.0
    raise ParameterError(
        f"data_range is required for {image0.dtype}/{image1.dtype} input: pass data_range=255 for "
        "0-255 values, data_range=1.0 for 0-1 values (integer images of one dtype infer it)"
    )


def to_gray(image: np.ndarray) -> np.ndarray:
    """Luma the way MATLAB's reference code gets it: ``rgb2gray`` (rounded for integer input).

    Grey (H, W) input is returned unchanged; (H, W, 1) is squeezed; an alpha
    channel is ignored.
    """
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return image[..., 0]
    return rgb2gray(image[..., :3])
