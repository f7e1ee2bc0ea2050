"""Writing a picture a command made: checked before any work, written with one clear error."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from lookalike.errors import ParameterError

#: File types the commands can write pictures as.
WRITABLE = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def check_picture_path(target: Path, *, option: str, example: str) -> None:
    """Fail before any work when a picture could not be written to ``target``.

    ``option`` names the command-line option (``--out``) and ``example`` a good
    file name (``diff.png``) for the messages.
    """
    if target.is_dir():
        raise ParameterError(
            f"cannot write {str(target)!r}: it is a folder; give a file name such as {str(target / example)!r}"
        )
    if target.suffix.lower() not in WRITABLE:
        raise ParameterError(
            f"cannot write {str(target)!r}: unknown picture type {target.suffix or '(none)'!r}; "
            f"use one of {', '.join(WRITABLE)} (e.g. {option} {example})"
        )
    check_output_file(target, option=option, example=example)


def check_output_file(target: Path, *, option: str, example: str) -> None:
    """Fail before any work when a file (a picture, a page) could not be written to ``target``."""
    if target.is_dir():
        raise ParameterError(
            f"cannot write {str(target)!r}: it is a folder; give a file name such as {str(target / example)!r}"
        )
    folder = target.parent if str(target.parent) else Path(".")
    if folder.exists() and not folder.is_dir():
        raise ParameterError(
            f"cannot write {str(target)!r}: {str(folder)!r} is a file, not a folder; choose another {option}"
        )
    if not folder.is_dir():
        raise ParameterError(
            f"cannot write {str(target)!r}: folder {str(folder)!r} does not exist; create it or choose another {option}"
        )
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise ParameterError(f"cannot write {str(target)!r}: permission denied; choose another {option}")


def write_picture(target: Path, picture: np.ndarray, *, option: str, example: str) -> None:
    """Encode an RGB uint8 picture by the file's suffix and write it; OSError becomes one clear error."""
    import cv2

    ok, encoded = cv2.imencode(target.suffix.lower(), np.ascontiguousarray(picture[..., ::-1]))
    if not ok:  # pragma: no cover - every listed type has an encoder in opencv-python
        raise ParameterError(f"cannot encode the picture as {target.suffix}; use {option} {example}")
    try:
        target.write_bytes(encoded.tobytes())
    except OSError as exc:
        raise ParameterError(f"cannot write {str(target)!r}: {exc.strerror or exc}") from exc
