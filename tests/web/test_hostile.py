"""Hostile input: every request gets a proper JSON answer, nothing is written outside the index, the
service keeps serving. In-process where the answer is all that matters; against ``lookalike serve``
where sockets, concurrency and memory are the point."""

from __future__ import annotations

import asyncio
import io
import os
import select
import socket
import struct
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.web.conftest import API_KEY, INDEXED, client, noise_png, small_image_bytes
from tests.web.test_api import error_of, wait_for

API = "/api/v1"


def png_claiming(width: int, height: int) -> bytes:
    """A valid PNG header (IHDR with a good CRC) that claims ``width`` x ``height`` pixels, with a tiny body."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + chunk(
        b"IEND", b"")


def test_hostile_uploads_in_process(built_index: Path) -> None:
    png = small_image_bytes("camera.png")
    with client(index=built_index, max_pixels=10_000_000) as c:
        def compare(a: tuple[Any, ...], b: tuple[Any, ...] = ("b.png", png)) -> Any:
            return c.post(f"{API}/compare", files={"a": a, "b": b})

        bomb = error_of(compare(("bomb.png", png_claiming(30000, 30000))), 413)  # refused from the header
        assert bomb["code"] == "too_large" and "30000x30000" in bomb["message"]
        assert error_of(compare(("cut.png", png[: len(png) // 2])), 400)["code"] == "unreadable_image"
        assert error_of(compare(("photo.jpg", b"just some text, named like a photo\n" * 20)), 415)["code"] == (
            "unsupported_media_type")
        assert error_of(compare(("empty.png", b"")), 400)["code"] == "unreadable_image"
        # the declared content type is ignored both ways: content decides
        assert compare(("a.txt", png, "text/plain")).status_code == 200
        error_of(compare(("a.jpg", b"%PDF-1.4 not an image", "image/jpeg")), 415)
        # a client file name is a label, never a path
        named = compare(("../../etc/passwd", png))
        assert named.status_code == 200 and named.json()["a"] == "passwd"
        assert compare(("..\\..\\windows\\win.ini", png)).json()["a"] == "win.ini"
        for body, kind in [(b"--xx\r\nbroken header line\r\n\r\nabc\r\n--xx--\r\n", "multipart/form-data; boundary=xx"),
                           (b"abc", "multipart/form-data")]:
            error_of(c.post(f"{API}/compare", content=body, headers={"content-type": kind}), 400)
        error_of(c.post(f"{API}/compare", content=b'{"a": 1}', headers={"content-type": "application/json"}), 422)
        error_of(c.post(f"{API}/search", files={"image": ("bomb.png", png_claiming(30000, 30000))}), 413)
        error_of(c.get(f"{API}/images/123456789/thumbnail"), 404)
        assert c.get(f"{API}/health").json()["status"] == "ok"  # still serving


def _raw_request(port: int, head: bytes, body_chunks: Any, budget: int) -> tuple[bytes, int]:
    """Send ``head`` then chunks until the server answers; return (the answer, body bytes sent by then)."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        answer = b""
        try:
            for chunk in body_chunks:
                if select.select([sock], [], [], 0)[0]:
                    break
                sock.sendall(chunk)
                sent += len(chunk)
                if sent > budget:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and b"\r\n\r\n" not in answer:
            try:
                part = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not part:
                break
            answer += part
    return answer, sent


def test_oversized_uploads_are_refused_before_the_body_is_read(live_server: Any, tmp_path: Path) -> None:
    server = live_server(["--max-upload-mb", "1"])
    head = (b"POST /api/v1/compare HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n")
    # declared: answered from Content-Length, with almost none of the 200 MB body sent
    answer, sent = _raw_request(server.port, head + b"Content-Length: 200000000\r\n\r\n",
                                iter([b"--b\r\n"] + [b"\0" * 65536] * 3000), budget=200_000_000)
    assert answer.startswith(b"HTTP/1.1 413")
    assert sent < 50_000_000, sent
    # streamed (chunked, no length): answered once the chunks pass the limit, long before 100 MB
    part = b'--b\r\nContent-Disposition: form-data; name="a"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n'
    chunks = [part] + [b"\0" * 65536] * 1600  # a well-formed file part that never ends
    framed = (f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for chunk in chunks)
    answer, sent = _raw_request(server.port, head + b"Transfer-Encoding: chunked\r\n\r\n", framed, budget=100_000_000)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 60_000_000, sent  # 1 MB read, then whatever the socket buffers held
    import httpx2

    assert httpx2.get(server.url + "/api/v1/health").json()["status"] == "ok"


def _rss_kb(pid: int, field: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def big_jpeg(target_bytes: int = 5_000_000) -> bytes:
    """A noisy JPEG of about ``target_bytes`` (noise does not compress)."""
    from PIL import Image

    side = int((target_bytes / 1.2) ** 0.5)  # quality 95 keeps about 1.2 bytes a noisy pixel
    pixels = np.random.default_rng(5).integers(0, 256, (side, side, 3), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


@pytest.mark.slow
def test_a_burst_of_large_uploads_is_served_within_the_decode_limit(live_server: Any, built_index: Path,
                                                                     tmp_path: Path) -> None:
    import httpx2

    spool = tmp_path / "tmp"
    spool.mkdir()
    server = live_server(["--index", str(built_index), "--max-decodes", "2", "--no-verify"],
                         env={"TMPDIR": str(spool)})
    data = big_jpeg()
    assert 4_500_000 < len(data) < 6_000_000
    pid = server.process.pid
    before = _rss_kb(pid)

    async def burst() -> list[int]:
        limits = httpx2.Limits(max_connections=200, max_keepalive_connections=0)
        async with httpx2.AsyncClient(base_url=server.url, limits=limits, timeout=120) as http:
            async def one(i: int) -> int:
                response = await http.post(f"{API}/search", files={"image": (f"{i}.jpg", io.BytesIO(data))})
                assert response.headers["content-type"] == "application/json"
                return response.status_code
            return await asyncio.gather(*(one(i) for i in range(200)))

    statuses = asyncio.run(burst())
    assert statuses.count(200) == 200, sorted(set(statuses))
    health = httpx2.get(server.url + "/api/v1/health").json()
    assert health["decodes"]["peak"] <= 2 and health["decodes"]["running"] == 0
    peak_growth_mb = (_rss_kb(pid, "VmHWM") - before) / 1024
    # 200 x 5 MB of bodies, held in memory at once, would be 1 GB before decoding; waiting requests
    # hold their spooled bodies (memory up to 1 MB each, disk beyond), at most 2 are decoded at once
    assert peak_growth_mb < 600, f"server memory grew by {peak_growth_mb:.0f} MB during the burst"
    assert list(spool.iterdir()) == []  # the spooled bodies left nothing behind
    assert httpx2.get(server.url + "/api/v1/health").json()["status"] == "ok"


def test_adds_and_deletes_while_searches_run(live_server: Any, index_copy: Path, key_file: Path,
                                             tmp_path: Path) -> None:
    import httpx2

    before = {p for p in tmp_path.rglob("*") if "uploads" not in p.parts}
    server = live_server(["--index", str(index_copy), "--allow-writes", "--api-key-file", str(key_file),
                          "--max-decodes", "2"])
    queries = [small_image_bytes(name, fmt="JPEG") for name in INDEXED]
    failures: list[str] = []
    stop = threading.Event()

    def searcher(seed: int) -> None:
        with httpx2.Client(base_url=server.url, timeout=60) as http:
            for i in range(12):
                if stop.is_set():
                    return
                query = queries[(seed + i) % len(queries)]
                response = http.post(f"{API}/search", files={"image": ("q.jpg", query)}, data={"verify": "false"})
                if response.status_code != 200 or not response.json()["results"]:
                    failures.append(f"search {response.status_code}: {response.text[:200]}")

    threads = [threading.Thread(target=searcher, args=(s,)) for s in range(3)]
    for thread in threads:
        thread.start()
    keyed = {"X-API-Key": API_KEY}
    with httpx2.Client(base_url=server.url, timeout=60) as http:
        for round_ in range(3):
            files = [("images", (f"{round_}-{k}.png", noise_png(100 + 10 * round_ + k))) for k in range(2)]
            job = http.post(f"{API}/index/images", headers=keyed, files=files)
            assert job.status_code == 202, job.text
            done = wait_for(http, job.json())
            assert done["status"] == "done" and done["result"]["added"] == 2, done
            for image in done["result"]["images"]:
                deleted = http.delete(f"{API}/index/images/{image['id']}", headers=keyed)
                assert deleted.status_code == 200, deleted.text
        stop.set()
        for thread in threads:
            thread.join(120)
        assert failures == []
        assert http.get(f"{API}/health").json()["index"]["files"] == len(INDEXED)
    after = {p for p in tmp_path.rglob("*") if "uploads" not in p.parts}
    new = {p for p in after - before if not p.name.startswith("serve-")}
    assert all(index_copy in p.parents for p in new), sorted(map(str, new))  # only the index's own files
    assert list((index_copy / "uploads").iterdir()) == []  # every upload was deleted with its entry
    assert not any(os.path.basename(str(p)) == "passwd" for p in after)
