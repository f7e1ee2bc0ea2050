"""Decode images from paths, bytes, file objects, PIL images or arrays; find the image files of a folder
(or, through fsspec, of a URL: :func:`list_url`, :func:`read_url`).

Every failure is one :class:`lookalike.errors.ImageReadError` that names the
file and the cause.
"""

from lookalike.io._files import (
    IMAGE_SUFFIXES,
    ImageFile,
    ImageListing,
    RejectedFile,
    UnusableFile,
    common_root,
    display_name,
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
from lookalike.io._sources import SourceStat, is_url, list_url, read_url, stat_url

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "ImageFile",
    "ImageListing",
    "ImageSource",
    "RejectedFile",
    "SourceStat",
    "UnusableFile",
    "common_root",
    "display_name",
    "exif_orientation",
    "find_images",
    "is_url",
    "list_url",
    "load_image",
    "open_image",
    "oriented_size",
    "read_bytes",
    "read_url",
    "resolve_path",
    "sniff_image_format",
    "stat_url",
]
