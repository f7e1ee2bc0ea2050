"""Find the image files in a folder: by suffix and by content, in a stable order, never stopping early.

Shared by the commands that take folders (``matrix``, and later ``search`` and
``duplicates``). A folder of photos is rarely clean: hidden files, ``.txt``
notes, empty or renamed files, unreadable sub-folders and symbolic links that
loop back. Each is either left out silently (not an image at all) or reported
as a :class:`RejectedFile` (looks like an image but cannot be one), so a caller
can list it without stopping the run.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lookalike.errors import ParameterError
from lookalike.io._load import sniff_image_format

__all__ = [
    "IMAGE_SUFFIXES", "ImageFile", "ImageListing", "RejectedFile", "UnusableFile", "common_root", "display_name",
    "find_images", "resolve_path",
]

#: File name suffixes (lower case) taken as images: the formats :func:`lookalike.io.load_image` decodes.
IMAGE_SUFFIXES: frozenset[str] = frozenset({
    ".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".dib", ".tif", ".tiff", ".webp", ".gif",
    ".avif", ".heic", ".heif", ".ppm", ".pgm", ".pbm", ".pnm",
})

_HEAD_BYTES = 32


@dataclass(frozen=True)
class ImageFile:
    """One image file found in a folder.

    Attributes
    ----------
    path : str
        The path to open: the folder as given joined with ``label``.
    label : str
        The path relative to the folder searched, with ``/`` separators
        (``"holiday/beach.jpg"``): what tables and pictures show.
    """

    path: str
    label: str


@dataclass(frozen=True)
class UnusableFile:
    """A file (or folder, or pair) that could not be used; the run went on without it.

    The one type for it everywhere: folder listings, indexing reports, the matrix.

    Attributes
    ----------
    path : str
        The file or folder.
    reason : str
        Why, in words a user can act on.
    label : str or None
        Its path relative to the folder searched (``/`` separators), where there is one.
    stage : str or None
        Where it failed: ``"listing"``, ``"index"``, and for the matrix ``"read"``,
        ``"features"`` or ``"compare"`` (``other`` then names the second file).
    skipped : bool
        True when the file is left out of the result.
    other : str or None
        The label of the second image of a pair.
    """

    path: str
    reason: str
    label: str | None = None
    stage: str | None = None
    skipped: bool = True
    other: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the fields that are set."""
        out: dict[str, Any] = {"path": self.path, "reason": self.reason}
        for name in ("label", "stage", "other"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if not self.skipped:
            out["skipped"] = False
        return out


class RejectedFile(UnusableFile):
    """:class:`UnusableFile` of a folder listing, made as ``RejectedFile(path, label, reason)``
    (the name of the type before there was one; ``stage`` is ``"listing"``)."""

    label: str

    def __init__(self, path: str, label: str, reason: str) -> None:
        super().__init__(path, reason, label, "listing")


@dataclass(frozen=True)
class ImageListing:
    """What :func:`find_images` found: the images, in a stable order, and what it had to leave out."""

    root: str
    images: list[ImageFile] = field(default_factory=list)
    rejected: list[RejectedFile] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def paths(self) -> list[str]:
        """The image paths, in listing order."""
        return [f.path for f in self.images]

    @property
    def labels(self) -> list[str]:
        """The relative labels, in listing order."""
        return [f.label for f in self.images]


def resolve_path(path: str | os.PathLike[str]) -> str:
    """The catalogue key of a path: absolute, symbolic links resolved (a link loop is left as it is); an fsspec
    URL (``s3://bucket/key``, ``file:///abs``) is its own key."""
    from lookalike.io._sources import is_url

    if is_url(path):
        return str(path)
    text = os.path.abspath(os.fspath(path))
    try:
        return os.path.realpath(text)
    except ValueError:  # a NUL character: no file has that name, so none is indexed under it
        return text
    except (OSError, RuntimeError):  # pragma: no cover - loops do not raise with strict=False
        return text



def common_root(paths: Iterable[str]) -> str | None:
    """The deepest folder holding every path (None for no path): what result names are relative to.

    >>> common_root(["/photos/a/1.jpg", "/photos/b/2.jpg"]) == os.path.normpath("/photos")
    True
    """
    folders = {os.path.dirname(p) for p in paths}
    if not folders:
        return None
    try:
        return os.path.commonpath(sorted(folders))
    except ValueError:  # paths on different drives (Windows), or absolute and relative mixed
        return None


def display_name(path: str, roots: Iterable[str | None]) -> str:
    """``path`` relative to the first of ``roots`` that holds it, else its file name: never an absolute path.

    >>> display_name("/photos/a/1.jpg", ["/photos"]) == os.path.join("a", "1.jpg")
    True
    """
    for root in roots:
        if root and (path == root or path.startswith(root.rstrip(os.sep) + os.sep)):
            return os.path.relpath(path, root)
    return os.path.basename(path)

def find_images(
    root: str | os.PathLike[str],
    *,
    recursive: bool = False,
    check_content: bool = True,
    include_hidden: bool = False,
    follow_symlinks: bool = True,
    exclude: Iterable[str | os.PathLike[str]] = (),
) -> ImageListing:
    """List the image files in a folder, in a stable order, reporting the ones that cannot be images.

    A file is an image when its suffix is one of :data:`IMAGE_SUFFIXES` (any
    case) and, with ``check_content``, its first bytes carry the signature of a
    supported format (a cheap read of 32 bytes, no decoding). Files with an
    image suffix that fail that check (empty, text renamed ``.jpg``, unreadable)
    and folders that cannot be listed are returned in ``rejected`` with the
    reason; files without an image suffix are left out silently.

    Parameters
    ----------
    root : str or path-like
        The folder to search.
    recursive : bool, keyword-only
        Also search sub-folders, at any depth.
    check_content : bool, keyword-only
        Check each file's magic number (default). ``False`` trusts suffixes.
    include_hidden : bool, keyword-only
        Also take files and folders whose name starts with ``"."`` (skipped by
        default, like the dot-folders of editors, version control and thumbnails).
    follow_symlinks : bool, keyword-only
        Follow links to files and folders (default). A folder reached twice,
        through a link that loops back or two links to one place, is searched once.
    exclude : iterable of path-like, keyword-only
        Folders to leave out, such as an output folder inside ``root``.

    Returns
    -------
    ImageListing
        ``images`` sorted by their relative label in natural order (``img2``
        before ``img10``, then plain string order), so the order does not depend
        on the file system; ``rejected`` in the same order.

    Raises
    ------
    ParameterError
        ``root`` does not exist or is not a folder.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "b.png").write_bytes(bytes.fromhex("89504e470d0a1a0a") + bytes(24))
    >>> _ = (folder / "a.jpg").write_bytes(b"not really a jpeg")
    >>> _ = (folder / "notes.txt").write_text("hello")
    >>> listing = find_images(folder)
    >>> listing.labels, [r.label for r in listing.rejected]
    (['b.png'], ['a.jpg'])
    """
    root_text = os.fspath(root)
    root_path = Path(root_text)
    if not root_path.exists():
        raise ParameterError(f"no such folder: {root_text!r}; give a folder that holds images")
    if not root_path.is_dir():
        raise ParameterError(
            f"expected a folder of images, got the file {root_text!r}; give the folder that holds it"
        )
    excluded = {_identity(Path(p)) for p in exclude}
    excluded.discard(None)
    images: list[ImageFile] = []
    rejected: list[RejectedFile] = []
    seen_dirs: set[tuple[int, int]] = set()
    top = _identity(root_path)
    if top is not None:
        seen_dirs.add(top)
    pending: list[tuple[str, str]] = [(root_text, "")]  # (folder path, label prefix)
    while pending:
        folder, prefix = pending.pop()
        try:
            with os.scandir(folder) as entries:
                listed = list(entries)
        except OSError as exc:
            rejected.append(RejectedFile(folder, prefix.rstrip("/") or ".", _os_reason(exc, "folder")))
            continue
        for entry in listed:
            name = entry.name
            if not include_hidden and name.startswith("."):
                continue
            label = prefix + name
            try:
                is_link = entry.is_symlink()
                if is_link and not follow_symlinks:
                    continue
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError as exc:
                if Path(name).suffix.lower() in IMAGE_SUFFIXES:
                    rejected.append(RejectedFile(entry.path, label, _os_reason(exc, "file")))
                continue
            if is_dir:
                if not recursive:
                    continue
                ident = _entry_identity(entry)
                if ident is None or ident in seen_dirs or ident in excluded:
                    continue
                seen_dirs.add(ident)
                pending.append((entry.path, label + "/"))
                continue
            if Path(name).suffix.lower() not in IMAGE_SUFFIXES:
                continue
            reason = _check_file(entry, check_content=check_content)
            if reason is None:
                images.append(ImageFile(entry.path, label))
            else:
                rejected.append(RejectedFile(entry.path, label, reason))
    images.sort(key=lambda f: _natural_key(f.label))
    rejected.sort(key=lambda f: _natural_key(f.label))
    return ImageListing(root_text, images, rejected)


def _check_file(entry: os.DirEntry[str], *, check_content: bool) -> str | None:
    """None when the file can be taken as an image, else the reason it cannot."""
    try:
        info = entry.stat(follow_symlinks=True)
    except FileNotFoundError:
        return "broken link: the file it points to does not exist"
    except OSError as exc:
        return _os_reason(exc, "file")
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if info.st_size == 0:
        return "the file is empty (0 bytes)"
    if not check_content:
        return None
    try:
        with open(entry.path, "rb") as handle:
            head = handle.read(_HEAD_BYTES)
    except OSError as exc:
        return _os_reason(exc, "file")
    if sniff_image_format(head) is not None:
        return None
    if all(32 <= b < 127 or b in b"\r\n\t" for b in head) or head.lstrip().startswith((b"<", b"{", b"%PDF")):
        return "not an image (the file looks like text or a document despite its suffix)"
    return "not an image: its first bytes match no supported format (PNG, JPEG, BMP, TIFF, WebP, GIF, AVIF, HEIC, PPM)"


def _os_reason(exc: OSError, what: str) -> str:
    if isinstance(exc, PermissionError):
        return f"permission denied: cannot read this {what}"
    if exc.errno == errno.ELOOP:
        return "symbolic link loop"
    return exc.strerror or str(exc)


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_dev, info.st_ino)


def _entry_identity(entry: os.DirEntry[str]) -> tuple[int, int] | None:
    try:
        info = entry.stat(follow_symlinks=True)
    except OSError:
        return None
    return (info.st_dev, info.st_ino)


_DIGITS = re.compile(r"(\d+)")


def _natural_key(label: str) -> tuple[tuple[tuple[int, int | str], ...], str]:
    """Sort key: path parts compared in natural order (numbers by value), the raw label breaking ties."""
    parts = label.split("/")
    key: list[tuple[int, int | str]] = []
    for part in parts:
        for chunk in _DIGITS.split(part.casefold()):
            if chunk.isdecimal():  # what \d matched ("²" is a digit to isdigit(), not to int())
                key.append((0, int(chunk)))
            elif chunk:
                key.append((1, chunk))
        key.append((-1, ""))  # part separator sorts before any character
    return tuple(key), label
