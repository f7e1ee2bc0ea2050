"""Broken inputs shared by the loader tests (API) and the CLI error tests.

Each builder writes one file into a folder and returns its path. The valid
files they start from are made from scikit-image's bundled CC0 images.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image


def sample_rgb() -> np.ndarray:
    """A 128x128 crop of scikit-image's astronaut (public domain, NASA)."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[100:228, 180:308])


def encode(array: np.ndarray, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, fmt, **options)
    return buffer.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


@cache
def bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A valid 1-bit PNG of width x height black pixels: a few tens of KB, hundreds of MB decoded."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", body) + png_chunk(b"IEND", b"")


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def _missing(folder: Path) -> Path:
    return folder / "does-not-exist.png"


def _folder(folder: Path) -> Path:
    path = folder / "a-folder.png"
    path.mkdir()
    return path


def _empty(folder: Path) -> Path:
    return _write(folder, "empty.jpg", b"")


def _truncated_jpeg(folder: Path) -> Path:
    data = encode(sample_rgb(), "JPEG", quality=90)
    return _write(folder, "truncated.jpg", data[: len(data) // 2])


def _truncated_png(folder: Path) -> Path:
    data = encode(sample_rgb(), "PNG")
    return _write(folder, "truncated.png", data[: len(data) // 2])


def _corrupt_png(folder: Path) -> Path:
    """A PNG whose headers are intact and whose IDAT holds random bytes (with a valid CRC)."""
    data = encode(sample_rgb(), "PNG")
    start = data.index(b"IDAT") - 4
    length = struct.unpack(">I", data[start : start + 4])[0]
    garbage = np.random.default_rng(0).integers(0, 256, length, dtype=np.uint8).tobytes()
    rest = data[start + 12 + length :]
    return _write(folder, "corrupt.png", data[:start] + png_chunk(b"IDAT", garbage) + rest)


def _corrupt_jpeg(folder: Path) -> Path:
    """A JPEG whose headers are intact and whose scan data is garbage with a stray start marker.

    JPEG has no checksum: libjpeg (like every viewer) turns many random bodies
    into noise without an error. A marker that cannot appear inside a scan is
    damage it always reports.
    """
    data = encode(sample_rgb(), "JPEG", quality=90)
    body = data.index(b"\xff\xda") + 14  # SOS marker + its 12-byte header for 3 components
    garbage = np.random.default_rng(0).integers(0, 256, len(data) - body, dtype=np.uint8).tobytes()
    return _write(folder, "corrupt.jpg", data[:body] + b"\xff\xd8" + garbage)


def _text(folder: Path) -> Path:
    return _write(folder, "notes.png", b"This is a text file, not a picture.\nSecond line.\n")


def _pdf(folder: Path) -> Path:
    pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"
    return _write(folder, "document.jpg", pdf)


def _random(folder: Path) -> Path:
    return _write(folder, "noise.bmp", np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())


def _bomb(folder: Path) -> Path:
    return _write(folder, "bomb.png", bomb_png())


#: name -> (builder, words the error message must contain besides the file name)
BAD_FILES: dict[str, tuple[Callable[[Path], Path], tuple[str, ...]]] = {
    "missing": (_missing, ("no such file",)),
    "folder": (_folder, ("folder",)),
    "empty": (_empty, ("empty", "0 bytes")),
    "truncated-jpeg": (_truncated_jpeg, ("JPEG", "truncated")),
    "truncated-png": (_truncated_png, ("PNG", "truncated")),
    "corrupt-png": (_corrupt_png, ("corrupt PNG",)),
    "corrupt-jpeg": (_corrupt_jpeg, ("corrupt JPEG",)),
    "text": (_text, ("not an image", "text")),
    "pdf": (_pdf, ("not an image", "PDF")),
    "random-bytes": (_random, ("not a recognised image format",)),
    "bomb": (_bomb, ("20000x20000", "decompression-bomb guard")),
}
