"""Image sources beyond local paths: fsspec URLs (``file://``, ``s3://``, ``gs://``, ``az://``, ...).

A folder given as a URL is listed with fsspec on the caller's side and every
file is read with fsspec where the work runs (a Ray worker reads straight
from the object store); the catalogue records each file under its URL
(``protocol://path``), its size and modification time as the filesystem
reports them. ``file://`` needs only fsspec; other protocols need the
fsspec package for them (``s3fs``, ``gcsfs``, ``adlfs``), installed by the
user. An fsspec ``memory://`` filesystem lives in one process, so workers in
other processes do not see it.
"""

from __future__ import annotations

import datetime
import os
import stat
from typing import Any, NamedTuple

from lookalike.errors import MissingDependencyError, ParameterError

__all__ = ["SourceStat", "is_url", "list_url", "read_url", "stat_url"]

_INSTALL_HINT = ("URLs are read with fsspec: pip install 'lookalike[scale]' (and the package of the protocol, "
                 "e.g. s3fs for s3://)")
_TIME_KEYS = ("mtime", "LastModified", "last_modified", "updated", "modified", "created")


class SourceStat(NamedTuple):
    """What indexing needs of a file's metadata (the fields of :func:`os.stat` it reads)."""

    st_mode: int
    st_size: int
    st_mtime_ns: int


def is_url(text: object) -> bool:
    """True for ``protocol://...`` (two or more letters before ``://``, so a Windows drive is no URL)."""
    if not isinstance(text, str):
        return False
    scheme, sep, _rest = text.partition("://")
    return bool(sep) and len(scheme) > 1 and scheme.replace("+", "").replace("-", "").isalnum()


def _filesystem(url: str) -> tuple[Any, str]:
    try:
        import fsspec
    except ImportError:
        raise MissingDependencyError(f"cannot read {url!r}: {_INSTALL_HINT}") from None
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise MissingDependencyError(f"cannot read {url!r}: {exc}; {_INSTALL_HINT}") from None
    return fs, path


def _url(fs: Any, path: str) -> str:
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return f"{protocol}://{path}" if protocol != "file" else f"file://{path}"


def list_url(url: str, *, recursive: bool = True, suffixes: Any = None) -> list[str]:
    """The URLs of the files under folder ``url`` whose suffix is an image suffix, sorted; hidden names skipped.

    Raises
    ------
    ParameterError
        ``url`` is not a folder.
    """
    from lookalike.io._files import IMAGE_SUFFIXES

    wanted = {s.lower() for s in (suffixes or IMAGE_SUFFIXES)}
    fs, root = _filesystem(url)
    if not fs.isdir(root):
        raise ParameterError(f"{url!r} is not a folder (fsspec finds no directory there); give a folder URL")
    found = fs.find(root, maxdepth=None if recursive else 1, withdirs=False)
    base = root.rstrip("/") + "/"
    keep = []
    for path in sorted(found):
        relative = path[len(base):] if path.startswith(base) else os.path.basename(path)
        if any(part.startswith(".") for part in relative.split("/")):
            continue
        if os.path.splitext(path)[1].lower() in wanted:
            keep.append(_url(fs, path))
    return keep


def stat_url(url: str) -> SourceStat:
    """Size and modification time (nanoseconds; 0 where the store keeps none) of the file at ``url``."""
    fs, path = _filesystem(url)
    if getattr(fs, "local_file", False) or _url(fs, path).startswith("file://"):
        info = os.stat(path)
        return SourceStat(info.st_mode, int(info.st_size), int(info.st_mtime_ns))
    info = fs.info(path)  # FileNotFoundError (an OSError) where there is none
    mode = stat.S_IFDIR if info.get("type") == "directory" else stat.S_IFREG
    return SourceStat(mode, int(info.get("size") or 0), _mtime_ns(info))


def _mtime_ns(info: dict[str, Any]) -> int:
    for key in _TIME_KEYS:
        value = info.get(key)
        if isinstance(value, datetime.datetime):
            return int(value.timestamp() * 1e9)
        if isinstance(value, int | float):
            return int(value * 1e9)
        if isinstance(value, str):
            try:
                return int(datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1e9)
            except ValueError:
                continue
    return 0


def read_url(url: str) -> bytes:
    """The bytes of the file at ``url``."""
    fs, path = _filesystem(url)
    data: bytes = fs.cat_file(path)
    return data
