"""The one error hierarchy of lookalike.

Every class also inherits the builtin exception it refines, so code that
already catches ``OSError`` or ``ValueError`` keeps working::

    try:
        image = lookalike.io.load_image("holiday.jpg")
    except OSError as exc:          # also catches ImageReadError
        ...

The command-line tool turns any :class:`LookalikeError` into a one-line
message and exit code 2.
"""

from __future__ import annotations

import os

__all__ = [
    "CheckpointFormatError",
    "ImageReadError",
    "ImageSizeError",
    "IndexBusyError",
    "IndexFormatError",
    "IndexReadOnlyError",
    "LookalikeError",
    "MissingDependencyError",
    "ParameterError",
    "ServiceError",
]


class LookalikeError(Exception):
    """Base class of every error lookalike raises on purpose."""


class ImageReadError(LookalikeError, OSError):
    """An image could not be read: missing, empty, truncated, corrupt, too large or not an image.

    Attributes
    ----------
    source : str
        The file (or a description such as ``"<bytes>"``) that failed.
    reason : str
        What went wrong, in words a user can act on.
    """

    def __init__(self, source: object, reason: str) -> None:
        self.source = describe_source(source)
        self.reason = reason
        super().__init__(f"cannot read image {self.source}: {reason}")

    def __reduce__(self) -> tuple[object, ...]:  # picklable across processes, message unchanged
        return (_rebuild_read_error, (type(self), self.source, self.reason))


def _rebuild_read_error(cls: type[ImageReadError], described: str, reason: str) -> ImageReadError:
    error = cls.__new__(cls)
    error.source, error.reason = described, reason
    Exception.__init__(error, f"cannot read image {described}: {reason}")
    return error


class ImageSizeError(LookalikeError, ValueError):
    """Two images that must have the same size do not."""


class ParameterError(LookalikeError, ValueError):
    """An argument has a value the function cannot use."""


class MissingDependencyError(LookalikeError, ImportError):
    """An optional dependency is not installed; the message says which extra to install."""


class ServiceError(LookalikeError, ConnectionError):
    """A cluster or database lookalike was pointed at (Ray, Milvus) cannot be reached or refused the work."""


class IndexFormatError(LookalikeError, OSError):
    """An index folder is missing, damaged, or written by an incompatible version."""


class IndexReadOnlyError(LookalikeError, PermissionError):
    """An index on a read-only medium (or without write permission) was asked to change.

    It can still be opened and searched; the message says how to change it.
    """


class IndexBusyError(LookalikeError, BlockingIOError):
    """Another process is changing the index (one writer at a time); searching it still works."""


class CheckpointFormatError(LookalikeError, ValueError):
    """A weights file is not a legacy PyTorch state dict the embedding's reader understands.

    Raised by the reader of the deep-embedding weights (``lookalike.features``), which
    unpickles only what such a state dict needs; the message names the file and what
    is wrong with it.
    """


def describe_source(source: object) -> str:
    """Name an image source for an error message: a path as given, else its kind."""
    if isinstance(source, str):
        return repr(source) if not source.startswith("<") else source
    if isinstance(source, os.PathLike):
        return repr(os.fspath(source))
    if isinstance(source, bytes | bytearray | memoryview):
        return f"<{len(source)} bytes>"
    name = getattr(source, "name", None)
    if isinstance(name, str):
        return repr(name)
    return f"<{type(source).__name__}>"
