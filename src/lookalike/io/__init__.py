"""Decode images from paths, bytes, file objects, PIL images or arrays; find the image files of a folder.

Every failure is one :class:`lookalike.errors.ImageReadError` that names the
file and the cause.
"""

from lookalike.io._files import (
    IMAGE_SUFFIXES,
    ImageFile,
    ImageListing,
    RejectedFile,
    find_images,
    resolve_path,
    sniff_image_format,
)
from lookalike.io._load import (
    DEFAULT_MAX_PIXELS,
    ImageSource,
    load_image,
    open_image,
    read_bytes,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "ImageFile",
    "ImageListing",
    "ImageSource",
    "RejectedFile",
    "find_images",
    "load_image",
    "open_image",
    "read_bytes",
    "resolve_path",
    "sniff_image_format",
]
