"""Decode images from paths, bytes, file objects, PIL images or arrays.

Every failure is one :class:`lookalike.errors.ImageReadError` that names the
file and the cause.
"""

from lookalike.io._load import (
    DEFAULT_MAX_PIXELS,
    ImageSource,
    load_image,
    open_image,
)

__all__ = ["DEFAULT_MAX_PIXELS", "ImageSource", "load_image", "open_image"]
