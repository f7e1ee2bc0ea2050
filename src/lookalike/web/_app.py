"""The FastAPI application: the versioned JSON API under ``/api/v1`` and the page at ``/``.

Safety rules (OWASP file-upload guidance), each enforced here:

- the request body is limited while it streams in (FastAPI's ``max_body_size``: 413 from the
  ``Content-Length`` or as soon as the streamed chunks pass it);
- an upload's type is sniffed from its bytes (the image header), never from its name or its
  declared content type; its size in pixels is read from the header and refused (413) before
  any pixel is decoded;
- no path is taken from a request: files are found by their id in the index, uploads are stored
  under the index's own folder named by their SHA-256;
- at most ``max_decodes`` images are decoded and processed at once (the others wait, then 503);
- writes need ``allow_writes`` (403) and the API key (401), compared in constant time; the key
  and the image bytes are never logged;
- no stack trace, server path or library version in a response; CORS only for named origins.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import io
import json
import logging
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from typing import Annotated, Any, ClassVar, TypeVar

import anyio.to_thread
import numpy as np
from fastapi import FastAPI, File, Form, Path, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from lookalike.errors import (
    ImageReadError,
    ImageSizeError,
    IndexBusyError,
    IndexFormatError,
    IndexReadOnlyError,
    LookalikeError,
    ParameterError,
)
from lookalike.features import LOCAL_METHODS
from lookalike.io import common_root, display_name
from lookalike.pipelines import (
    CLASSIFY_METHODS,
    DEFAULT_K,
    DEFAULT_METRICS,
    EMBEDDING_VIEWS,
    PROGRESS_LABELS,
    RESIZE_CHOICES,
    SEARCH_KINDS,
    Comparison,
)
from lookalike.web._config import ServeConfig

log = logging.getLogger("lookalike.web")

API = "/api/v1"
#: Where uploaded images live, inside the index folder.
UPLOADS = "uploads"
#: File extension of each sniffed format (uploads are named ``<sha256>.<ext>``).
EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "GIF": "gif", "BMP": "bmp", "TIFF": "tif", "WEBP": "webp",
              "AVIF": "avif", "HEIF": "heic", "MPO": "jpg"}
THUMBNAIL_SIZE = 256
PICTURES_KEPT = 64
THUMBNAILS_KEPT = 512
JOBS_KEPT = 100
MAX_TOP = 100
MAX_ADD_FILES = 100
#: Trained classifiers kept (one per method and k asked for).
CLASSIFIERS_KEPT = 8

_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; script-src 'self'; "
                               "style-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'",
}

T = TypeVar("T")


class ApiError(Exception):
    """An error answered as ``{"error": {"code": ..., "message": ...}}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def _error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


_HTTP_CODES = {400: "malformed_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type",
               422: "invalid_parameter", 503: "unavailable"}


def _api_error_from(exc: Exception) -> ApiError:
    """The HTTP answer to an error of the library (messages name no server path: sources are bytes)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ImageReadError):
        return _read_error(exc)
    if isinstance(exc, ImageSizeError | ParameterError):
        return ApiError(422, "invalid_parameter", str(exc))
    if isinstance(exc, IndexFormatError):
        return ApiError(503, "unavailable", "the index cannot be used now")
    if isinstance(exc, LookalikeError):  # MissingDependencyError and the like: a server set-up problem
        log.error("request failed: %s", exc)
        return ApiError(503, "unavailable", "the server cannot answer this request (see its log)")
    raise exc


def _job_error(exc: Exception) -> str:
    """What a failed job says to the client: the cause in words, never a server path (library messages
    about the index name its folder; the full message goes to the server's log)."""
    if isinstance(exc, IndexBusyError):
        return "the index is being changed by another process; try again when it is done"
    if isinstance(exc, IndexReadOnlyError):
        return "the index is on a read-only medium; images cannot be added"
    if isinstance(exc, ImageReadError | ImageSizeError):
        return f"an upload could not be indexed: {_api_error_from(exc).message}"
    return "indexing failed (see the server's log)"


def _read_error(exc: ImageReadError, field_name: str = "") -> ApiError:
    where = f"{field_name}: " if field_name else ""
    reason = exc.reason
    if reason.startswith(("not an image", "not a recognised")):
        return ApiError(415, "unsupported_media_type", f"{where}{reason}")
    return ApiError(400, "unreadable_image", f"{where}{reason}")


# -- the body limit -------------------------------------------------------------------------------

class _BodyTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes is answered 413 (JSON) as soon as that is known.

    From ``Content-Length`` before a byte is read, else while the body streams in: the chunk that
    passes the limit stops the read, the rest is never received. (FastAPI's own ``max_body_size``
    does the same but answers in plain text, outside the API's error format.)
    """

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope.get("headers", ()):
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0:
                    await self._answer(send, 400, "malformed_request", "invalid Content-Length")
                    return
                if declared > self.limit:
                    await self._answer(send, 413, "too_large", self._message())
                    return
        seen = 0
        exceeded = started = False

        async def limited_receive() -> Any:
            nonlocal seen, exceeded
            if exceeded:
                raise _BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Any) -> None:
            nonlocal started
            if exceeded:  # the form parser turned the stopped read into its own error: answer 413 instead
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await self._answer(send, 413, "too_large", self._message())
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._answer(send, 413, "too_large", self._message())

    def _message(self) -> str:
        return f"the request is larger than this server accepts ({self.limit / 1e6:g} MB)"

    @staticmethod
    async def _answer(send: Any, status: int, code: str, message: str) -> None:
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """ASGI middleware: the headers of ``_SECURITY_HEADERS`` on every response that does not set them.

    Plain ASGI rather than ``@app.middleware("http")`` (Starlette's ``BaseHTTPMiddleware``), which
    wraps each request and response in extra tasks and streams: about half a millisecond of CPU a
    request on this machine, for four headers.
    """

    _HEADERS: ClassVar[list[tuple[bytes, bytes]]] = [
        (key.lower().encode("latin-1"), value.encode("latin-1")) for key, value in _SECURITY_HEADERS.items()]

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {key.lower() for key, _value in headers}
                headers += [(key, value) for key, value in self._HEADERS if key not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


# -- bounded caches -------------------------------------------------------------------------------

class _Cache:
    """A small thread-safe LRU of bytes (rendered pictures, thumbnails): nothing is written to disk."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Any, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> bytes | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Any, value: bytes) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def discard(self, key: Any) -> None:
        with self._lock:
            self._items.pop(key, None)


# -- jobs -----------------------------------------------------------------------------------------

@dataclass
class Job:
    """A long job (indexing uploads): its progress is the pipelines' ``progress(stage, done, total)``."""

    id: str
    kind: str
    status: str = "queued"  # queued, running, done, failed
    stage: str | None = None
    done: int = 0
    total: int = 0
    result: dict[str, Any] | None = None
    error: str | None = None
    created: float = field(default_factory=time.time)

    def progress(self, stage: str, done: int, total: int) -> None:
        """The callback the pipelines call, the one the CLI's progress bar also consumes."""
        self.stage, self.done, self.total = stage, int(done), int(total)

    def to_dict(self) -> dict[str, Any]:
        label = PROGRESS_LABELS.get(self.stage, self.stage) if self.stage else None
        return {"id": self.id, "kind": self.kind, "status": self.status, "stage": self.stage, "label": label,
                "done": self.done,
                "total": self.total, "url": f"{API}/jobs/{self.id}", "events": f"{API}/jobs/{self.id}/events",
                "result": self.result, "error": self.error}


# -- the service ----------------------------------------------------------------------------------

class Service:
    """The state behind the routes: the open index, limits, caches, jobs.

    One :class:`~lookalike.index.Index` serves every thread: its catalogue keeps a SQLite
    connection per thread in WAL mode (searches never wait for a write) and one write lock.
    Writes (adds, deletes) still go one at a time through one worker thread, so a job's batch and
    the names refreshed after it stay in order.
    """

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.api_key = config.read_api_key()
        self.index: Any = None
        self.index_path: str | None = None
        self.index_error: str | None = None
        self.roots: tuple[str | None, ...] = ()
        self.files = 0
        self.pictures = _Cache(PICTURES_KEPT)
        self.thumbnails = _Cache(THUMBNAILS_KEPT)
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.write_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lookalike-writer")
        self.slots: asyncio.Semaphore | None = None
        self.running = 0
        self.peak = 0  # most decodes seen at once (tests check the limit holds)
        self.stopping = False
        self._classifiers: OrderedDict[tuple[str, int], Any] = OrderedDict()
        self._threads_before: int | None = None
        self._classifier_lock = threading.Lock()

    # lifecycle
    def open(self) -> None:
        if self.config.index is None:
            return
        from lookalike.index import Index

        try:
            self.index = Index.open(self.config.index)
        except LookalikeError as exc:
            self.close()
            self.index_error = str(exc)
            log.error("the index cannot be opened: %s", exc)
            return
        self.index_path = self.index.path
        self._refresh_names(self.index)
        # max_decodes queries run at once: each embeds on its share of the cores (same vectors, less contention)
        from lookalike.pipelines import set_embedding_threads

        self._threads_before = set_embedding_threads(max(1, _cores() // self.config.max_decodes))

    def close(self) -> None:
        self.stopping = True
        self.write_executor.shutdown(wait=True)  # a running job finishes; its batch is committed
        if self.index is not None:
            self.index.close()
            self.index = None
            from lookalike.pipelines import set_embedding_threads

            set_embedding_threads(self._threads_before)
        if self.index_path is not None:
            log.info("index closed")
            self.index_path = None

    def _refresh_names(self, index: Any) -> None:
        paths = [r.path for r in index.records(status="ok")]
        uploads = _uploads_prefix(index)
        self.roots = (common_root(p for p in paths if not p.startswith(uploads)), os.path.realpath(index.path))
        self.files = len(paths)
        with self._classifier_lock:  # trained on the files indexed before this change
            self._classifiers.clear()

    def classifier(self, index: Any, method: str, k: int) -> Any:
        """The classifier of the served index for ``(method, k)``, trained once on the embeddings it holds
        (:class:`lookalike.pipelines.IndexClassifier`); 409 when the index holds no labels."""
        from lookalike.pipelines import IndexClassifier

        if not any(spec.kind == "embedding" for spec in index.descriptors):
            raise ApiError(409, "no_labels", "this index cannot classify: it holds no embedding (build it with "
                           "-d embedding, from a folder with one sub-folder per class)")
        with self._classifier_lock:
            model = self._classifiers.get((method, k))
            if model is None:
                root = self.roots[0] if self.roots else None
                try:
                    if root is None:
                        raise ParameterError("no indexed folder")
                    model = IndexClassifier(index, root, method=method, k=k)
                except ParameterError:
                    raise ApiError(409, "no_labels", "this index holds no labels: classification needs an index of "
                                   "a folder with one sub-folder per class (cats/, dogs/, ...) and images in two "
                                   "or more of them") from None
                self._classifiers[(method, k)] = model
                while len(self._classifiers) > CLASSIFIERS_KEPT:
                    self._classifiers.popitem(last=False)
            return model

    @property
    def available(self) -> bool:
        return self.index is not None and not self.stopping

    # bounded work
    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """One of the ``max_decodes`` slots in which an upload is read into memory, decoded and processed.

        Requests beyond them wait here with their bodies still spooled by the form parser (on disk past
        1 MB), at most ``queue_timeout`` seconds; then 503.
        """
        assert self.slots is not None
        try:
            await asyncio.wait_for(self.slots.acquire(), self.config.queue_timeout)
        except TimeoutError:
            raise ApiError(503, "busy", "the server is busy; retry shortly", {"Retry-After": "5"}) from None
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            yield
        finally:
            self.running -= 1
            self.slots.release()

    def with_index(self, fn: Callable[[Any], T]) -> Callable[[], T]:
        """``fn(index)`` as a call for a worker thread (each thread reads through its own catalogue connection)."""
        def call() -> T:
            if not self.available:
                raise ApiError(503, "unavailable", self._unavailable_message())
            return fn(self.index)
        return call

    def _unavailable_message(self) -> str:
        if self.stopping:
            return "the server is shutting down"
        if self.config.index is None:
            return "no index is served: start the server with --index IDX (or LOOKALIKE_INDEX)"
        return "the index cannot be used now (see the server's log)"

    def require_index(self) -> None:
        if not self.available:
            raise ApiError(503, "unavailable", self._unavailable_message())

    # writes
    def check_write(self, request: Request) -> None:
        if not self.config.allow_writes:
            raise ApiError(403, "forbidden", "this server does not accept changes to its index (--allow-writes is off)")
        self.require_index()
        given = request.headers.get("x-api-key")
        authorization = request.headers.get("authorization", "")
        if given is None and authorization.lower().startswith("bearer "):
            given = authorization[7:].strip()
        # compare_digest takes constant time for equal lengths; both sides are hashed to one length
        expected = hashlib.sha256(self.api_key or b"").digest()
        offered = hashlib.sha256((given or "").encode("utf-8", "replace")).digest()
        if not given or not hmac.compare_digest(expected, offered):
            raise ApiError(401, "unauthorized", "a valid API key is needed: send it as X-API-Key or "
                           "'Authorization: Bearer KEY'", {"WWW-Authenticate": "Bearer"})

    def new_job(self, kind: str) -> Job:
        job = Job(secrets.token_urlsafe(16), kind)
        self.jobs[job.id] = job
        while len(self.jobs) > JOBS_KEPT:
            oldest = next(iter(self.jobs))
            if self.jobs[oldest].status in ("done", "failed"):
                self.jobs.pop(oldest)
            else:
                break
        return job

    def add_images(self, job: Job, uploads: list[tuple[bytes, str]]) -> None:
        """Store ``(bytes, extension)`` uploads under the index's folder by content hash and index them."""
        job.status = "running"
        try:
            folder = _uploads_prefix(self.index).rstrip(os.sep)
            os.makedirs(folder, exist_ok=True)
            paths = []
            for data, extension in uploads:
                target = os.path.join(folder, f"{hashlib.sha256(data).hexdigest()}.{extension}")
                if not os.path.exists(target):
                    tmp = f"{target}.{secrets.token_hex(4)}.tmp"
                    try:
                        with open(tmp, "xb") as handle:
                            handle.write(data)
                        os.replace(tmp, target)
                    except BaseException:
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(tmp)  # no partial upload left in the index's folder
                        raise
                paths.append(target)
            job.progress("indexing", 0, len(paths))
            report = self.index.add(paths, jobs=self.config.jobs, progress=job.progress)
            ids = self.index.ids_of(paths)
            self._refresh_names(self.index)
            job.result = {
                "added": report.added, "changed": report.changed, "unchanged": report.unchanged,
                "images": [{"id": int(i) if i >= 0 else None, "name": display_name(p, self.roots)}
                           for p, i in zip(paths, ids, strict=True)],
                "errors": [{"name": display_name(e.path, self.roots), "reason": e.reason} for e in report.errors],
                "files": self.files,
            }
            job.status = "done"
        except Exception as exc:
            log.exception("indexing uploads failed")
            job.error, job.status = _job_error(exc), "failed"

    def delete_image(self, image_id: int) -> dict[str, Any]:
        [record] = self.index.records([image_id]) or [None]
        if record is None or record.status != "ok":
            raise ApiError(404, "not_found", f"no image with id {image_id} in the index")
        name = display_name(record.path, self.roots)
        self.index.remove([record.path])
        if record.path.startswith(_uploads_prefix(self.index)):  # a file the index owns (uploaded): removed with it
            with contextlib.suppress(FileNotFoundError):
                os.unlink(record.path)
        self.thumbnails.discard(image_id)
        self._refresh_names(self.index)
        return {"deleted": image_id, "name": name, "files": self.files}


def _uploads_prefix(index: Any) -> str:
    """The folder of an index's uploads as its records name it (resolved: the catalogue holds real paths,
    so an index reached through a symbolic link still owns its uploads), with a trailing separator."""
    return os.path.join(os.path.realpath(index.path), UPLOADS) + os.sep


def _cores() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


# -- reading uploads ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Upload:
    data: bytes
    format: str  # sniffed from the bytes
    size: tuple[int, int]
    label: str


def _label(filename: str | None, default: str) -> str:
    """A name to show for an upload: the client's file name without any folder, at most 100 characters."""
    if not filename:
        return default
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = "".join(ch for ch in name if ch.isprintable())[:100]
    return name if name not in ("", ".", "..") else default


def sniff(data: bytes, max_pixels: int, field_name: str) -> tuple[str, tuple[int, int]]:
    """The format and size read from an image's header (no pixel decoded); 415, 400 or 413 otherwise."""
    from lookalike.io import open_image

    if not data:
        raise ApiError(400, "unreadable_image", f"{field_name}: the file is empty")
    try:
        with open_image(data, max_pixels=None) as image:
            fmt, size = str(image.format or ""), (int(image.size[0]), int(image.size[1]))
    except ImageReadError as exc:
        raise _read_error(exc, field_name) from None
    if fmt not in EXTENSIONS:
        raise ApiError(415, "unsupported_media_type", f"{field_name}: {fmt or 'this'} images are not accepted; "
                       f"send one of {', '.join(sorted(set(EXTENSIONS) - {'MPO'}))}")
    if size[0] * size[1] > max_pixels:
        raise ApiError(413, "too_large", f"{field_name}: the image is {size[0]}x{size[1]} = {size[0] * size[1]:,} "
                       f"pixels; this server accepts at most {max_pixels:,}")
    return fmt, size


async def read_upload(upload: UploadFile, config: ServeConfig, field_name: str) -> Upload:
    data = await upload.read()
    fmt, size = sniff(data, config.max_pixels, field_name)
    return Upload(data, fmt, size, _label(upload.filename, field_name))


def decode(upload: Upload, max_pixels: int) -> np.ndarray:
    from lookalike.io import load_image

    try:
        return load_image(upload.data, max_pixels=max_pixels)
    except ImageReadError as exc:
        raise _read_error(exc, upload.label) from None


def _png(picture: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def with_links(document: dict[str, Any], *, difference: str | None = None,
               drawing: str | None = None) -> dict[str, Any]:
    """A result's ``to_dict()`` (the CLI's ``--json``) plus the links only the service has, the one place they
    are added: ``difference`` (compare) and ``drawing`` (match) pictures when rendered, and each search row's
    ``thumbnail``."""
    if difference is not None:
        document["difference"] = difference
    if drawing is not None:
        document["drawing"] = drawing
    for row in document.get("results", ()):
        row["thumbnail"] = f"{API}/images/{row['id']}/thumbnail"
    return document


# -- the application ------------------------------------------------------------------------------

def _static(name: str) -> bytes:
    return resources.files("lookalike.web").joinpath("static", name).read_bytes()


def build_app(config: ServeConfig) -> FastAPI:
    """The FastAPI application for ``config`` (see :func:`lookalike.web.create_app`)."""
    service = Service(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.slots = asyncio.Semaphore(config.max_decodes)
        await anyio.to_thread.run_sync(service.open)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(service.close)

    app = FastAPI(
        title="lookalike", summary="Find and measure images that look alike.", version="1",
        openapi_url=f"{API}/openapi.json", docs_url=None, redoc_url=None, lifespan=lifespan,
        # no OpenTelemetry spans, metrics or logs (no exporter runs here, and request logs stay ours)
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False,
                   "auto_configure": False},
    )
    app.state.service = service
    pages = {"/": ("index.html", "text/html; charset=utf-8"),
             "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
             "/static/app.css": ("app.css", "text/css; charset=utf-8")}
    static = {path: (_static(name), media) for path, (name, media) in pages.items()}

    if config.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins), allow_methods=["GET", "POST",
                           "DELETE"], allow_headers=["X-API-Key", "Authorization"], allow_credentials=False)

    app.add_middleware(BodyLimit, limit=config.max_upload_bytes)

    app.add_middleware(SecurityHeaders)  # outermost: on every answer, the body limit's 413 included

    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        message = {404: "no such resource", 405: "method not allowed for this resource",
                   413: f"the request is larger than this server accepts ({config.max_upload_mb:g} MB)",
                   400: "the request body could not be parsed (malformed multipart form?)"}.get(
                       exc.status_code, str(exc.detail))
        return _error_response(exc.status_code, code, message, dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors():  # field and problem only: the input is never echoed
            where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path"))
            problems.append(f"{where}: {error.get('msg', 'invalid')}")
        return _error_response(422, "invalid_parameter", "; ".join(problems) or "invalid request")

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error_response(500, "internal", "internal error (the server's log has the details)")

    async def guarded(fn: Callable[[], T]) -> T:
        """``fn`` in a worker thread (call it inside a slot), the library's errors as HTTP answers."""
        try:
            return await anyio.to_thread.run_sync(fn)
        except (LookalikeError, ApiError) as exc:
            raise _api_error_from(exc) from None

    def picture_url(picture: np.ndarray) -> str:
        token = secrets.token_urlsafe(12)
        service.pictures.put(token, _png(picture))
        return f"{API}/pictures/{token}.png"

    def indexed_image(image_id: int) -> tuple[bytes, str]:
        """The bytes and display name of an indexed file, found by id (never by a path from the request)."""
        def read(index: Any) -> tuple[bytes, str]:
            records = index.records([image_id])
            if not records or records[0].status != "ok":
                raise ApiError(404, "not_found", f"no image with id {image_id} in the index")
            try:
                with open(records[0].path, "rb") as handle:
                    return handle.read(), display_name(records[0].path, service.roots)
            except OSError:
                raise ApiError(404, "not_found", f"the file of image {image_id} is no longer readable") from None
        return service.with_index(read)()

    async def second_image(b: UploadFile | None, b_id: int | None) -> Upload:
        if (b is None) == (b_id is None):
            raise ApiError(422, "invalid_parameter", "give the second image as a file b or as an indexed id b_id")
        if b is not None:
            return await read_upload(b, config, "b")
        service.require_index()
        data, name = await anyio.to_thread.run_sync(lambda: indexed_image(int(b_id or 0)))
        fmt, size = sniff(data, config.max_pixels, name)
        return Upload(data, fmt, size, name)

    async def on_pair(a: UploadFile, b: UploadFile | None, b_id: int | None,
                      work: Callable[[Upload, Upload], T]) -> T:
        """``work(first, second)`` on two images (b uploaded, or indexed as b_id), inside one decode slot."""
        async with service.slot():
            first = await read_upload(a, config, "a")
            second = await second_image(b, b_id)
            return await guarded(lambda: work(first, second))

    # -- pages --------------------------------------------------------------------------------------
    for path in static:
        def page(request: Request, _path: str = path) -> Response:
            body, media = static[_path]
            return Response(body, media_type=media, headers={"Cache-Control": "no-cache"})
        app.add_api_route(path, page, methods=["GET"], include_in_schema=False)

    # -- API ----------------------------------------------------------------------------------------
    @app.get(f"{API}/health", summary="Status and index size, for a load balancer")
    async def health() -> JSONResponse:
        ok = config.index is None or service.available
        body = {"status": "ok" if ok else "unavailable",
                "index": {"available": service.available, "files": service.files} if config.index else None,
                "writes": config.allow_writes, "max_upload_mb": config.max_upload_mb,
                "max_pixels": config.max_pixels,
                "decodes": {"running": service.running, "limit": config.max_decodes, "peak": service.peak}}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.post(f"{API}/compare", summary="Full-reference metrics between two images, and a difference picture")
    async def compare_route(
        a: Annotated[UploadFile, File(description="the reference image")],
        b: Annotated[UploadFile | None, File(description="the image to compare (or b_id)")] = None,
        b_id: Annotated[int | None, Form(description="an indexed image instead of b", ge=0)] = None,
        metrics: Annotated[str, Form(description="comma-separated metric names, or 'all'")] = ",".join(
            DEFAULT_METRICS),
        convention: Annotated[str | None, Form(description="SSIM convention")] = None,
        resize: Annotated[str, Form(description=f"one of {', '.join(RESIZE_CHOICES)}")] = "none",
        difference: Annotated[bool, Form(description="render the difference picture")] = True,
    ) -> dict[str, Any]:
        from lookalike.pipelines import compare, resize_pair, resolve_metrics

        if resize not in RESIZE_CHOICES:
            raise ApiError(422, "invalid_parameter", f"resize must be one of {', '.join(RESIZE_CHOICES)}")
        try:
            names = resolve_metrics(metrics)
        except ParameterError as exc:
            raise ApiError(422, "invalid_parameter", str(exc)) from None

        def work(first: Upload, second: Upload) -> dict[str, Any]:
            image0, image1 = decode(first, config.max_pixels), decode(second, config.max_pixels)
            values = compare(image0, image1, metrics=names, resize=resize, convention=convention)  # type: ignore[arg-type]
            url = None
            if difference:
                from lookalike.viz import diff_image

                pair = resize_pair(image0, image1, resize) if resize != "none" else (image0, image1)  # type: ignore[arg-type]
                if pair[0].ndim != pair[1].ndim:  # one grey, one colour: show both in colour
                    pair = tuple(p if p.ndim == 3 else np.repeat(p[..., None], 3, axis=2) for p in pair)  # type: ignore[assignment]
                url = picture_url(diff_image(pair[0], pair[1], labels=(first.label, second.label)))
            return with_links(Comparison(first.label, second.label, values, convention=convention).to_dict(),
                              difference=url)

        return await on_pair(a, b, b_id, work)

    @app.post(f"{API}/match", summary="Keypoint matching with geometric verification, and a match drawing")
    async def match_route(
        a: Annotated[UploadFile, File(description="first image (A)")],
        b: Annotated[UploadFile | None, File(description="second image (B), or b_id")] = None,
        b_id: Annotated[int | None, Form(description="an indexed image instead of b", ge=0)] = None,
        method: Annotated[str, Form(description=f"one of {', '.join(LOCAL_METHODS)}")] = "rootsift",
        drawing: Annotated[bool, Form(description="render the match drawing")] = True,
    ) -> dict[str, Any]:
        from lookalike.pipelines import match

        if method not in LOCAL_METHODS:
            raise ApiError(422, "invalid_parameter", f"method must be one of {', '.join(LOCAL_METHODS)}")

        def work(first: Upload, second: Upload) -> dict[str, Any]:
            image0, image1 = decode(first, config.max_pixels), decode(second, config.max_pixels)
            result = match(image0, image1, method=method, names=(first.label, second.label))
            url = None
            if drawing:
                from lookalike.viz import draw_matches

                url = picture_url(draw_matches(image0, image1, result))
            return with_links(result.to_dict(), drawing=url)

        return await on_pair(a, b, b_id, work)

    @app.post(f"{API}/search", summary="The indexed images most like a query, best first")
    async def search_route(
        image: Annotated[UploadFile, File(description="the query image")],
        top: Annotated[int, Form(ge=1, le=MAX_TOP, description="results at most")] = 10,
        min_similarity: Annotated[float, Form(ge=0.0, le=1.0, description="leave out results below")] = 0.0,
        kind: Annotated[str, Form(description=f"one of {', '.join(SEARCH_KINDS)}")] = "copy",
        verify: Annotated[bool | None, Form(description="copy search: verify with keypoints")] = None,
        views: Annotated[int | None, Form(ge=1, le=len(EMBEDDING_VIEWS), description="copy search: embedding "
                                          f"views of the query ({', '.join(EMBEDDING_VIEWS)}: the first N)")] = None,
    ) -> dict[str, Any]:
        from lookalike.pipelines import search

        if kind not in SEARCH_KINDS:
            raise ApiError(422, "invalid_parameter", f"kind must be one of {', '.join(SEARCH_KINDS)}")
        service.require_index()
        use_verify = config.verify if verify is None else verify
        use_views = config.views if views is None else views

        def work(index: Any) -> dict[str, Any]:
            [result] = search([query.data], index, top=top, min_similarity=min_similarity, kind=kind,
                              verify=use_verify, views=use_views)
            document = with_links(result.to_dict(roots=service.roots, show_paths=config.show_paths))
            document["query"] = query.label
            return document

        async with service.slot():
            query = await read_upload(image, config, "image")
            return await guarded(service.with_index(work))

    @app.post(f"{API}/classify", summary="The label of a query from its nearest labelled indexed images",
              responses={409: {"description": "the index holds no labels (it is not of a folder with one "
                                              "sub-folder per class, or it holds no embedding)"}})
    async def classify_route(
        image: Annotated[UploadFile, File(description="the image to label")],
        k: Annotated[int, Form(ge=1, le=MAX_TOP, description="neighbours that vote")] = DEFAULT_K,
        method: Annotated[str, Form(description=f"one of {', '.join(CLASSIFY_METHODS)}")] = "knn",
        unknown_below: Annotated[float, Form(ge=0.0, le=1.0, description="label 'unknown' below this "
                                                                          "confidence")] = 0.0,
    ) -> dict[str, Any]:
        """``lookalike classify --train FOLDER IMAGE --json`` where FOLDER is the served index's folder: its
        class sub-folders are the labels, the embeddings are the index's (nothing is decoded but the query)."""
        if method not in CLASSIFY_METHODS:
            raise ApiError(422, "invalid_parameter", f"method must be one of {', '.join(CLASSIFY_METHODS)}")
        service.require_index()

        def work(index: Any) -> dict[str, Any]:
            model = service.classifier(index, method, k)
            result = model.classify([query.data], names=[query.label], unknown_below=unknown_below)
            return with_links(result.to_dict(roots=service.roots, show_paths=config.show_paths))

        async with service.slot():
            query = await read_upload(image, config, "image")
            return await guarded(service.with_index(work))

    @app.get(f"{API}/images/{{image_id}}/thumbnail", summary="A JPEG thumbnail of an indexed image",
             response_class=Response)
    async def thumbnail_route(image_id: Annotated[int, Path(ge=0)]) -> Response:
        service.require_index()
        cached = service.thumbnails.get(image_id)
        if cached is None:
            def work() -> bytes:
                from PIL import Image

                from lookalike.io import load_image

                data, name = indexed_image(image_id)
                sniff(data, config.max_pixels, name)
                try:
                    pixels = load_image(data, mode="rgb", draft=(THUMBNAIL_SIZE, THUMBNAIL_SIZE),
                                        max_pixels=config.max_pixels)
                except ImageReadError:
                    raise ApiError(404, "not_found", f"image {image_id} can no longer be read") from None
                picture = Image.fromarray(pixels)
                picture.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
                buffer = io.BytesIO()
                picture.save(buffer, "JPEG", quality=82)
                return buffer.getvalue()
            async with service.slot():
                cached = await guarded(work)
            service.thumbnails.put(image_id, cached)
        return Response(cached, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    @app.get(f"{API}/pictures/{{token}}.png", summary="A rendered difference picture or match drawing",
             response_class=Response)
    async def picture_route(token: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{8,64}$")]) -> Response:
        picture = service.pictures.get(token)
        if picture is None:
            raise ApiError(404, "not_found", "no such picture (pictures are kept for the latest requests only)")
        return Response(picture, media_type="image/png", headers={"Cache-Control": "private, max-age=600"})

    @app.post(f"{API}/index/images", status_code=202, summary="Upload images and add them to the index (a job)")
    async def add_route(
        request: Request, images: Annotated[list[UploadFile], File(description="the images to add")],
    ) -> JSONResponse:
        service.check_write(request)
        if len(images) > MAX_ADD_FILES:
            raise ApiError(422, "invalid_parameter", f"at most {MAX_ADD_FILES} images a request, got {len(images)}")
        uploads = []
        async with service.slot():
            for position, upload in enumerate(images):
                read = await read_upload(upload, config, f"images[{position}]")
                uploads.append((read.data, EXTENSIONS[read.format]))
        job = service.new_job("index-add")
        job.total = len(uploads)
        service.write_executor.submit(service.add_images, job, uploads)
        return JSONResponse(job.to_dict(), status_code=202, headers={"Location": job.to_dict()["url"]})

    @app.delete(f"{API}/index/images/{{image_id}}", summary="Remove an image from the index")
    async def delete_route(request: Request, image_id: Annotated[int, Path(ge=0)]) -> dict[str, Any]:
        service.check_write(request)
        future = service.write_executor.submit(service.delete_image, image_id)
        try:
            return await asyncio.wrap_future(future)
        except (LookalikeError, ApiError) as exc:
            raise _api_error_from(exc) from None

    def find_job(job_id: str) -> Job:
        job = service.jobs.get(job_id)
        if job is None:
            raise ApiError(404, "not_found", "no such job (finished jobs are kept for a while only)")
        return job

    @app.get(f"{API}/jobs/{{job_id}}", summary="A long job's status and progress")
    async def job_route(job_id: Annotated[str, Path(max_length=64)]) -> dict[str, Any]:
        return find_job(job_id).to_dict()

    @app.get(f"{API}/jobs/{{job_id}}/events", summary="A long job's progress as server-sent events",
             response_class=StreamingResponse)
    async def job_events(job_id: Annotated[str, Path(max_length=64)]) -> StreamingResponse:
        job = find_job(job_id)

        async def events() -> AsyncIterator[str]:
            last = None
            deadline = time.monotonic() + 3600
            while time.monotonic() < deadline:
                state = json.dumps(job.to_dict())
                if state != last:
                    yield f"event: progress\ndata: {state}\n\n"
                    last = state
                if job.status in ("done", "failed") or service.stopping:
                    yield f"event: end\ndata: {state}\n\n"
                    return
                await asyncio.sleep(0.2)

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    return app
