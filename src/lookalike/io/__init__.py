"""Decode images from paths, bytes, file objects, PIL images or arrays; find the image files of a folder.

Every failure is one :class:`lookalike.errors.ImageReadError` that names the
file and the cause.
"""

from lookalike.io._files import (
    IMAGE_SUFFIXES,
    ImageFile,
    ImageListing,
    RejectedFile,
    UnusableFile,
    find_images,
    resolve_path,
)
from lookalike.io._load import (
    DEFAULT_MAX_PIXELS,
    ImageSource,
    exif_orientation,
    load_image,
    open_image,
    oriented_size,
    read_bytes,
    sniff_image_format,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "ImageFile",
    "ImageListing",
    "ImageSource",
    "RejectedFile",
    "UnusableFile",
    "exif_orientation",
    "find_images",
    "load_image",
    "open_image",
    "oriented_size",
    "read_bytes",
    "resolve_path",
    "sniff_image_format",
]
