"""find_images: suffix and magic checks, hidden files, recursion, links, unreadable folders, stable order."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.errors import ParameterError
from lookalike.io import IMAGE_SUFFIXES, sniff_image_format
from lookalike.pipelines import ImageListing, find_images


def _png(path: Path, value: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((4, 4), value, np.uint8)).save(path)
    return path


def _labels(listing: ImageListing) -> list[str]:
    return listing.labels


@pytest.mark.parametrize("fmt, suffix, expected", [
    ("PNG", ".png", "png"), ("JPEG", ".jpg", "jpeg"), ("GIF", ".gif", "gif"), ("BMP", ".bmp", "bmp"),
    ("TIFF", ".tif", "tiff"), ("WEBP", ".webp", "webp"), ("PPM", ".ppm", "netpbm"),
])
def test_every_format_pillow_writes_is_recognised_by_its_magic(
    tmp_path: Path, fmt: str, suffix: str, expected: str
) -> None:
    buffer = io.BytesIO()
    mode = "RGB" if fmt in ("JPEG", "PPM", "WEBP") else "L"
    Image.new(mode, (8, 8), 90).save(buffer, format=fmt)
    assert sniff_image_format(buffer.getvalue()[:32]) == expected
    (tmp_path / f"x{suffix}").write_bytes(buffer.getvalue())
    assert _labels(find_images(tmp_path)) == [f"x{suffix}"]
    assert suffix in IMAGE_SUFFIXES


@pytest.mark.parametrize("head, expected", [
    (b"II*\x00" + bytes(12), "tiff"), (b"MM\x00*" + bytes(12), "tiff"),  # little- and big-endian TIFF
    (b"II+\x00" + bytes(12), "tiff"),  # BigTIFF
    (bytes(4) + b"ftypavif" + bytes(4), "avif"), (bytes(4) + b"ftypheic" + bytes(4), "heif"),
    (bytes(4) + b"ftypmif1" + bytes(4), "heif"),
    (b"GIF87a" + bytes(8), "gif"), (b"P5\n8 8\n255\n", "netpbm"),
    (b"BM", None),  # too short for a BMP header
    (b"RIFF\x00\x00\x00\x00WAVE", None),  # RIFF, but sound
    (bytes(4) + b"ftypmp42" + bytes(4), None),  # ISO media, but a video brand
])
def test_the_sniffer_names_the_format_of_each_magic(head: bytes, expected: str | None) -> None:
    assert sniff_image_format(head) == expected


def test_non_images_are_rejected_with_a_reason_and_other_files_ignored(tmp_path: Path) -> None:
    _png(tmp_path / "good.png")
    (tmp_path / "text.jpg").write_text("this is not a jpeg\n")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "random.bmp").write_bytes(bytes(range(200, 232)))
    (tmp_path / "notes.txt").write_text("not an image suffix: ignored silently")
    (tmp_path / "good.png.bak").write_bytes((tmp_path / "good.png").read_bytes())
    listing = find_images(tmp_path)
    assert _labels(listing) == ["good.png"]
    reasons = {r.label: r.reason for r in listing.rejected}
    assert set(reasons) == {"text.jpg", "empty.png", "random.bmp"}
    assert "text" in reasons["text.jpg"]
    assert "empty" in reasons["empty.png"]
    assert "match no supported format" in reasons["random.bmp"]


def test_suffix_case_is_ignored_and_check_content_false_trusts_suffixes(tmp_path: Path) -> None:
    _png(tmp_path / "UPPER.PNG")
    (tmp_path / "fake.jpg").write_text("text")
    assert _labels(find_images(tmp_path)) == ["UPPER.PNG"]
    assert _labels(find_images(tmp_path, check_content=False)) == ["fake.jpg", "UPPER.PNG"]  # case-folded order


def test_hidden_files_and_folders_are_skipped_unless_asked(tmp_path: Path) -> None:
    _png(tmp_path / "a.png")
    _png(tmp_path / ".hidden.png")
    _png(tmp_path / ".thumbs" / "b.png")
    assert _labels(find_images(tmp_path, recursive=True)) == ["a.png"]
    assert _labels(find_images(tmp_path, recursive=True, include_hidden=True)) == [
        ".hidden.png", ".thumbs/b.png", "a.png",
    ]


def test_recursion_gives_relative_labels_with_slashes(tmp_path: Path) -> None:
    _png(tmp_path / "top.png")
    _png(tmp_path / "sub" / "inner.png")
    _png(tmp_path / "sub" / "deeper" / "deep.png")
    assert _labels(find_images(tmp_path)) == ["top.png"]
    listing = find_images(tmp_path, recursive=True)
    assert _labels(listing) == ["sub/deeper/deep.png", "sub/inner.png", "top.png"]
    for image in listing.images:
        assert os.path.samefile(image.path, tmp_path / image.label)


def test_natural_order_is_stable_whatever_the_creation_order(tmp_path: Path) -> None:
    names = ["img10.png", "img2.png", "Img1.png", "img1.png", "b.png", "a10.png", "a9.png"]
    for value, name in enumerate(names):
        _png(tmp_path / name, value)
    expected = ["a9.png", "a10.png", "b.png", "Img1.png", "img1.png", "img2.png", "img10.png"]
    assert _labels(find_images(tmp_path)) == expected
    other = tmp_path.parent / (tmp_path.name + "_reversed")
    for value, name in enumerate(reversed(names)):
        _png(other / name, value)
    assert _labels(find_images(other)) == expected


def test_names_with_digits_int_cannot_read_are_listed(tmp_path: Path) -> None:
    """'²' and '¹' are digits to str.isdigit() but not to int(): a name like '1²2.png' (or a folder named
    '²') made the sort key raise ValueError, so the whole listing failed with a traceback."""
    for value, name in enumerate(["1²2.png", "img2.png", "img10.png"]):
        _png(tmp_path / name, value)
    _png(tmp_path / "²" / "x.png")
    assert _labels(find_images(tmp_path, recursive=True)) == ["1²2.png", "img2.png", "img10.png", "²/x.png"]


def test_symlink_loops_end_and_each_folder_is_searched_once(tmp_path: Path) -> None:
    _png(tmp_path / "a.png")
    _png(tmp_path / "sub" / "b.png")
    (tmp_path / "sub" / "up").symlink_to(tmp_path, target_is_directory=True)  # loops back to the root
    (tmp_path / "again").symlink_to(tmp_path / "sub", target_is_directory=True)  # second way to sub
    (tmp_path / "self.jpg").symlink_to(tmp_path / "self.jpg")  # a link to itself
    (tmp_path / "gone.png").symlink_to(tmp_path / "nowhere.png")  # a broken link
    listing = find_images(tmp_path, recursive=True)
    assert len(listing.paths) == 2
    assert len({os.path.realpath(p) for p in listing.paths}) == 2
    reasons = {r.label: r.reason for r in listing.rejected}
    assert "loop" in reasons["self.jpg"]
    assert "broken link" in reasons["gone.png"]
    assert _labels(find_images(tmp_path, recursive=True, follow_symlinks=False)) == ["a.png", "sub/b.png"]


def test_an_unreadable_folder_is_reported_and_the_rest_is_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _png(tmp_path / "a.png")
    _png(tmp_path / "locked" / "b.png")
    _png(tmp_path / "open" / "c.png")
    real_scandir = os.scandir

    def scandir(path: str) -> object:  # root cannot take away its own permissions: simulate it
        if os.path.basename(path) == "locked":
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    listing = find_images(tmp_path, recursive=True)
    assert _labels(listing) == ["a.png", "open/c.png"]
    assert [(r.label, r.reason) for r in listing.rejected] == [("locked", "permission denied: cannot read this folder")]


def test_exclude_leaves_out_a_folder_inside_the_root(tmp_path: Path) -> None:
    _png(tmp_path / "a.png")
    _png(tmp_path / "out" / "heatmap.png")
    assert _labels(find_images(tmp_path, recursive=True)) == ["a.png", "out/heatmap.png"]
    assert _labels(find_images(tmp_path, recursive=True, exclude=[tmp_path / "out"])) == ["a.png"]


def test_a_missing_folder_or_a_file_is_a_parameter_error(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="no such folder"):
        find_images(tmp_path / "missing")
    file = _png(tmp_path / "a.png")
    with pytest.raises(ParameterError, match="expected a folder"):
        find_images(file)


def test_an_empty_folder_gives_an_empty_listing(tmp_path: Path) -> None:
    listing = find_images(tmp_path)
    assert len(listing) == 0
    assert listing.rejected == []


def test_every_file_that_could_not_be_used_is_one_type(tmp_path: Path) -> None:
    from lookalike.index import FileError
    from lookalike.io import UnusableFile
    from lookalike.pipelines import MatrixIssue, similarity_matrix

    (tmp_path / "text.jpg").write_text("this is not a jpeg\n")
    _png(tmp_path / "a.png", 10)
    _png(tmp_path / "b.png", 200)
    [rejected] = find_images(tmp_path).rejected
    [issue] = similarity_matrix(tmp_path, metric="mse").errors
    for item in (rejected, issue, FileError(str(tmp_path / "text.jpg"), rejected.reason)):
        assert isinstance(item, UnusableFile)
        assert item.path == str(tmp_path / "text.jpg") and item.reason == rejected.reason
    assert (rejected.label, rejected.stage) == (issue.label, issue.stage) == ("text.jpg", "listing")
    assert isinstance(issue, MatrixIssue) and issue.to_dict() == {
        "path": str(tmp_path / "text.jpg"), "reason": rejected.reason, "label": "text.jpg", "stage": "listing"}
