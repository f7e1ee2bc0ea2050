"""``read_bytes``: the bytes of an image file, with the same errors as ``load_image`` on a path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lookalike.errors import ImageReadError
from lookalike.io import load_image
from lookalike.io._load import read_bytes


def test_bytes_of_a_file(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"\x89PNG whatever")
    assert read_bytes(path) == b"\x89PNG whatever"


@pytest.mark.parametrize(("make", "reason"), [
    (lambda p: p, "no such file"),
    (lambda p: (p.mkdir(), p)[1], "it is a folder"),
    (lambda p: (p.write_bytes(b""), p)[1], r"empty \(0 bytes\)"),
    (lambda p: (os.mkfifo(p), p)[1], "not a regular file"),  # would block a plain open().read()
])
def test_same_errors_as_load_image(tmp_path: Path, make, reason: str) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path / "x.jpg")
    for read in (read_bytes, load_image):
        with pytest.raises(ImageReadError, match=reason) as info:
            read(path)
        assert str(path) in str(info.value)
