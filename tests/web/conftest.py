"""Web tests: a tiny index of the bundled example photos, the app in-process, and ``lookalike serve`` for real."""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the web extra is not installed (pip install 'lookalike[web]')")
pytest.importorskip("httpx2", reason="Starlette's test client needs httpx2")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "images"
#: The originals indexed (128 px: cheap to index and to verify) and the edited copies used as queries.
INDEXED = ("astronaut.png", "camera.png", "chelsea.png", "coffee.jpg", "rocket.jpg")
LONGEST = 128


def small_image_bytes(name: str, *, fmt: str | None = None, longest: int = LONGEST) -> bytes:
    """An example image scaled to ``longest`` pixels, encoded as ``fmt`` (default: its own format)."""
    from PIL import Image

    with Image.open(EXAMPLES / name) as image:
        image.thumbnail((longest, longest))
        buffer = io.BytesIO()
        fmt = fmt or ("PNG" if name.endswith(".png") else "JPEG")
        image.convert("RGB" if fmt == "JPEG" else image.mode).save(buffer, fmt, quality=90)
        return buffer.getvalue()


def noise_png(seed: int, size: int = 64) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("web-photos") / "photos"
    (folder / "nested").mkdir(parents=True)
    for i, name in enumerate(INDEXED):
        target = folder / ("nested" if i % 2 else "") / name
        target.write_bytes(small_image_bytes(name))
    return folder


@pytest.fixture(scope="session")
def built_index(photo_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A phash + rootsift index of the five photos (no embedding: seconds to build, no model)."""
    from lookalike.index import Index

    path = tmp_path_factory.mktemp("web-index") / "index"
    with Index.create(path, descriptors=["phash", "rootsift"]) as index:
        report = index.update(photo_folder, jobs=1)
    assert report.added == len(INDEXED)
    return path


CLASSES = {"people and things": ("astronaut.png", "camera.png", "rocket.jpg"), "cats and cups": ("chelsea.png",
                                                                                                 "coffee.jpg")}


@pytest.fixture(scope="session")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two class folders (names with spaces) and their feature index, built as ``lookalike classify`` builds it."""
    pytest.importorskip("onnxruntime", reason="classification needs the embedding (pip install 'lookalike[embed]')")
    from lookalike.index import Index

    root = tmp_path_factory.mktemp("web-labelled") / "refs"
    for label, names in CLASSES.items():
        (root / label).mkdir(parents=True)
        for name in names:
            (root / label / name).write_bytes(small_image_bytes(name))
    with Index.create(root / ".lookalike-index", descriptors=["phash", "embedding"]) as index:
        assert index.update(root, jobs=1).added == 5
    return root


@pytest.fixture
def index_copy(built_index: Path, tmp_path: Path) -> Path:
    """A copy of the index this test may change."""
    return Path(shutil.copytree(built_index, tmp_path / "index"))


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "api-key"
    path.write_text("test-key-0123456789abcdef\n")
    path.chmod(0o600)
    return path


API_KEY = "test-key-0123456789abcdef"


def client(**config: Any) -> Any:
    """A Starlette test client of the app for ``ServeConfig(**config)`` (use as a context manager)."""
    from starlette.testclient import TestClient

    from lookalike.web import ServeConfig, create_app

    return TestClient(create_app(ServeConfig(**{k: str(v) if isinstance(v, Path) else v
                                                for k, v in config.items()})))


#: The installed command (what the systemd unit in deploy/ runs).
LOOKALIKE = str(Path(sys.executable).parent / "lookalike")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """``lookalike serve`` in a subprocess on a free localhost port; stopped with SIGTERM."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, *, command: list[str] | None = None) -> None:
        """``lookalike serve --port P ARGS``, or ``command`` as given (its port from ``LOOKALIKE_PORT``)."""
        self.port = int(env["LOOKALIKE_PORT"]) if command is not None else free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._log_file = open(log, "wb")
        argv = command if command is not None else [LOOKALIKE, "serve", "--port", str(self.port), *args]
        self.process = subprocess.Popen(argv, env={**os.environ, **env}, stdout=self._log_file,
                                        stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        import httpx2

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"lookalike serve exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx2.get(self.url + "/api/v1/health", timeout=2).status_code in (200, 503):
                    return
            except httpx2.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise AssertionError(f"lookalike serve did not answer within {timeout} s:\n{self.output()}")

    def output(self) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()
        return int(self.process.returncode)


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[Any]:
    """A factory: ``live_server(args, env)`` starts ``lookalike serve``; every server is stopped afterwards."""
    servers: list[LiveServer] = []

    def start(args: list[str], env: dict[str, str] | None = None, command: list[str] | None = None) -> LiveServer:
        server = LiveServer(args, {"HOME": str(tmp_path), **(env or {})}, tmp_path / f"serve-{len(servers)}.log",
                            command=command)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
