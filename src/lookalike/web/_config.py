"""The settings of ``lookalike serve``: one dataclass, each field also read from a ``LOOKALIKE_*`` variable."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lookalike.errors import ParameterError

#: Hosts that are this machine only: binding elsewhere without an API key is warned about.
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class ServeConfig:
    """What the web service serves and how it protects itself.

    Every field can be set from the environment: ``LOOKALIKE_`` + the field name in capitals
    (``LOOKALIKE_INDEX``, ``LOOKALIKE_API_KEY_FILE``, ``LOOKALIKE_MAX_UPLOAD_MB``, ...); booleans
    read ``1/true/yes/on`` and ``0/false/no/off``, ``cors_origins`` a comma-separated list.
    Command-line options override the environment (:meth:`from_env`).

    Attributes
    ----------
    index : str or None
        The index folder to search (``None``: compare and match only; search answers 503).
    host, port : str, int
        Where to listen (default 127.0.0.1:8000: this machine only).
    allow_writes : bool
        Accept ``POST /api/v1/index/images`` and ``DELETE /api/v1/index/images/{id}``
        (403 otherwise); they also need the API key.
    api_key_file : str or None
        A file whose first line is the API key (never logged; compared in constant time).
    show_paths : bool
        Search results carry the server's absolute ``path`` (default: only ``name``, relative).
    cors_origins : tuple of str
        Origins allowed to call the API from a browser (default none: CORS off).
    max_upload_mb : float
        Largest request body, in MB (default 25), enforced while it streams in (413).
    max_pixels : int
        Largest image, in pixels, read from the header before decoding (413 above it).
    max_decodes : int
        Images decoded and processed at once; further requests wait (at most ``queue_timeout``
        seconds, then 503), so a burst of large uploads cannot exhaust memory.
    queue_timeout : float
        Seconds a request waits for a decode slot before it is answered 503.
    verify : bool
        Copy search verifies its short list with keypoints (default, as the CLI); a request may
        turn it off with ``verify=false``.
    views : int or None
        Embedding views of a copy-search query (1-4, as the CLI's ``--views``; default None: 4
        with verification, 1 without); a request may ask for others with ``views=N``. Each
        costs about 10 ms of CPU.
    jobs : int
        Worker processes when uploaded images are indexed (default 1).
    shutdown_timeout : float
        Seconds in-flight requests get to finish on SIGTERM.
    """

    index: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    allow_writes: bool = False
    api_key_file: str | None = None
    show_paths: bool = False
    cors_origins: tuple[str, ...] = ()
    max_upload_mb: float = 25.0
    max_pixels: int = 50_000_000
    max_decodes: int = 2
    queue_timeout: float = 60.0
    verify: bool = True
    views: int | None = None
    jobs: int = 1
    shutdown_timeout: float = 30.0

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ParameterError(f"port must be in 1..65535, got {self.port}")
        for name in ("max_upload_mb", "queue_timeout", "shutdown_timeout"):
            if not getattr(self, name) > 0:
                raise ParameterError(f"{name} must be positive, got {getattr(self, name)!r}")
        for name in ("max_pixels", "max_decodes", "jobs"):
            if getattr(self, name) < 1:
                raise ParameterError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.views is not None and not 1 <= self.views <= 4:
            raise ParameterError(f"views must be 1 to 4 (embedding views of a query), got {self.views!r}")
        if self.allow_writes and not self.api_key_file:
            raise ParameterError(
                "writes need an API key: give --api-key-file FILE (or LOOKALIKE_API_KEY_FILE) with --allow-writes"
            )

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1_000_000)

    @property
    def is_local(self) -> bool:
        return self.host in LOCAL_HOSTS

    def read_api_key(self) -> bytes | None:
        """The API key from :attr:`api_key_file` (its first line), or None without a file."""
        if self.api_key_file is None:
            return None
        try:
            with open(self.api_key_file, "rb") as handle:
                key = handle.readline().strip()
        except OSError as exc:
            raise ParameterError(f"cannot read the API key file {self.api_key_file!r}: {exc.strerror}") from None
        if len(key) < 16:
            raise ParameterError(
                f"the API key in {self.api_key_file!r} is shorter than 16 characters; write a longer one "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))' > FILE`)"
            )
        return key

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ServeConfig:
        """Defaults, then ``LOOKALIKE_*`` variables, then ``overrides`` (those not None)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            text = environ.get(f"LOOKALIKE_{f.name.upper()}")
            if text is not None and text.strip() != "":
                values[f.name] = _parse(f.name, str(f.type), text.strip())
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _parse(name: str, kind: str, text: str) -> Any:
    variable = f"LOOKALIKE_{name.upper()}"
    kind = kind.removesuffix(" | None")
    try:
        if kind == "bool":
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind.startswith("tuple"):
            return tuple(part.strip() for part in text.split(",") if part.strip())
        return text
    except ValueError:
        raise ParameterError(f"{variable}={text!r} is not a valid {kind}") from None
