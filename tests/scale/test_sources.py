"""fsspec sources: a folder given as a ``file://`` URL is listed and read through fsspec (by Ray workers too)
and each file is recorded under its URL, with the same descriptors as the same files given as paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from lookalike.index import build_index
from lookalike.io import is_url, list_url, read_url, resolve_path, stat_url
from tests.index.conftest import PHOTOS, photo

pytest.importorskip("fsspec", reason="fsspec is not installed: pip install 'lookalike[scale]'")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    (folder / ".hidden").mkdir()
    for i, name in enumerate(PHOTOS[:6]):
        Image.fromarray(photo(name, longest=160)).save(folder / ("sub" if i % 2 else "") / f"{name}.png")
    Image.fromarray(photo("camera", longest=64)).save(folder / ".hidden" / "skip.png")
    (folder / "notes.txt").write_text("not an image")
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    return folder


def test_urls_are_listed_stated_and_read(folder: Path) -> None:
    url = f"file://{folder}"
    assert is_url(url) and is_url("s3://bucket/key") and not is_url(str(folder)) and not is_url("C://x")
    assert resolve_path(url + "/a.png") == url + "/a.png"
    listed = list_url(url)
    assert [u.removeprefix(url + "/") for u in listed] == sorted(
        ["broken.jpg", *(("sub/" if i % 2 else "") + f"{n}.png" for i, n in enumerate(PHOTOS[:6]))])
    assert len(list_url(url, recursive=False)) == 4
    first = folder / f"{PHOTOS[0]}.png"
    info = stat_url(f"file://{first}")
    assert (info.st_size, info.st_mtime_ns) == (first.stat().st_size, first.stat().st_mtime_ns)
    assert read_url(f"file://{first}") == first.read_bytes()


def _by_name(index: Any) -> dict[str, tuple[Any, ...]]:
    ids, vectors = index.vectors("phash")
    vector = dict(zip(ids.tolist(), vectors, strict=True))
    return {r.path.rsplit("/", 1)[1]: (r.size, r.mtime_ns, r.content_hash, r.width, r.height, r.status,
                                       vector[r.id].tobytes() if r.id in vector else None)
            for r in index.records(status="ok")}


@pytest.mark.parametrize("engine", ["local", "ray"])
def test_a_url_folder_is_indexed_under_its_urls(engine: str, folder: Path, tmp_path: Path,
                                                request: pytest.FixtureRequest) -> None:
    jobs = request.getfixturevalue("ray_engine") if engine == "ray" else 1
    url = f"file://{folder}"
    by_path, _ = build_index(folder, tmp_path / "paths", descriptors=["phash"], jobs=1)
    by_url, report = build_index(url, tmp_path / "urls", descriptors=["phash"], jobs=jobs)
    with by_path, by_url:
        assert report.added == 6 and [e.path for e in report.errors] == [f"{url}/broken.jpg"]
        assert all(r.path.startswith(url + "/") for r in by_url.records())
        assert _by_name(by_url) == _by_name(by_path) and len(_by_name(by_url)) == 6
        assert [r.path for r in by_url.records(status="error")] == [f"{url}/broken.jpg"]
        again = by_url.update(url, jobs=jobs)
        assert (again.unchanged, again.processed) == (6, 1)  # the broken file is read again, the others skipped
        (folder / f"{PHOTOS[0]}.png").unlink()
        assert by_url.update(url, jobs=jobs).removed == 1
        query = by_path.vectors("phash", by_path.ids_of([folder / "sub" / f"{PHOTOS[1]}.png"]))[1]
        _d, ids = by_url.search_vectors(query, 1, descriptor="phash")
        assert by_url.paths(ids[0])[0] == f"{url}/sub/{PHOTOS[1]}.png"
