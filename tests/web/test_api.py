"""The JSON API in-process (Starlette's test client): every endpoint, its success and each error status."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest

from lookalike.cli._progress import ProgressBar
from lookalike.errors import ParameterError
from lookalike.web import ServeConfig
from tests.integration.runner import run_cli
from tests.web.conftest import API_KEY, INDEXED, client, noise_png, small_image_bytes

API = "/api/v1"


def error_of(response: Any, status: int) -> dict[str, str]:
    """The ``{"error": {"code", "message"}}`` body of a response that must have ``status``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    text = response.text
    assert "Traceback" not in text and "/work/" not in text and "site-packages" not in text
    return body["error"]


def wait_for(c: Any, job: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = c.get(job["url"]).json()
        if state["status"] in ("done", "failed"):
            return state
        time.sleep(0.05)
    raise AssertionError(f"job not finished in {timeout} s: {state}")


# -- health, page, openapi ------------------------------------------------------------------------

def test_health_without_and_with_an_index(built_index: Path, tmp_path: Path) -> None:
    with client() as c:
        assert c.get(f"{API}/health").json()["index"] is None
    with client(index=built_index) as c:
        body = c.get(f"{API}/health").json()
        assert body["status"] == "ok" and body["index"] == {"available": True, "files": len(INDEXED)}
    with client(index=tmp_path / "nowhere") as c:  # a load balancer takes it out of rotation
        response = c.get(f"{API}/health")
        assert response.status_code == 503 and response.json()["status"] == "unavailable"
        error_of(c.post(f"{API}/search", files={"image": ("q.png", noise_png(1))}), 503)


def test_page_and_openapi_are_served_with_no_external_resource() -> None:
    with client() as c:
        page = c.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        for asset in ("/static/app.js", "/static/app.css"):
            assert c.get(asset).status_code == 200
        everything = page.text + c.get("/static/app.js").text + c.get("/static/app.css").text
        assert "http://" not in everything.replace("http://www.w3.org", "") and "https://" not in everything
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-content-type-options"] == "nosniff"
        spec = c.get(f"{API}/openapi.json").json()
        assert {f"{API}/compare", f"{API}/match", f"{API}/search", f"{API}/index/images",
                f"{API}/index/images/{{image_id}}", f"{API}/images/{{image_id}}/thumbnail", f"{API}/health",
                f"{API}/jobs/{{job_id}}"} <= set(spec["paths"])
        assert error_of(c.get("/docs"), 404)["code"] == "not_found"  # Swagger UI would load a CDN
        assert error_of(c.get(f"{API}/nothing"), 404)["code"] == "not_found"
        assert error_of(c.get(f"{API}/compare"), 405)["code"] == "method_not_allowed"


# -- compare and match: one schema with the CLI ---------------------------------------------------

def test_compare_is_the_cli_document_plus_a_difference_picture(tmp_path: Path) -> None:
    a, b = tmp_path / "a.png", tmp_path / "b.jpg"
    a.write_bytes(small_image_bytes("astronaut.png"))
    b.write_bytes(small_image_bytes("astronaut.png", fmt="JPEG"))
    code, out, _ = run_cli("compare", str(a), str(b), "--metric", "ssim,psnr,gmsd", "--json")
    assert code == 0
    cli = json.loads(out)
    with client() as c:
        response = c.post(f"{API}/compare", files={"a": ("a.png", a.read_bytes()), "b": ("b.jpg", b.read_bytes())},
                          data={"metrics": "ssim,psnr,gmsd"})
        assert response.status_code == 200, response.text
        api = response.json()
        assert api.pop("difference").startswith(f"{API}/pictures/")
        assert api == {**cli, "a": "a.png", "b": "b.jpg"}  # the same document, with the upload names
        picture = c.get(response.json()["difference"])
        assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
        assert picture.content.startswith(b"\x89PNG")
        same = c.post(f"{API}/compare", files={"a": ("x.png", a.read_bytes()), "b": ("y.png", a.read_bytes())},
                      data={"difference": "false"}).json()
        assert same["metrics"]["ssim"] == 1.0 and same["metrics"]["psnr"] is None and "difference" not in same
        assert same["infinite"] == {"metrics/psnr": "+inf"}
        error_of(c.get(f"{API}/pictures/AAAAAAAAAAAA.png"), 404)


def test_compare_errors() -> None:
    png = small_image_bytes("camera.png")
    with client() as c:
        assert error_of(c.post(f"{API}/compare", files={"a": ("a.png", png)}), 422)["code"] == "invalid_parameter"
        assert "metric" in error_of(c.post(f"{API}/compare", files={"a": ("a", png), "b": ("b", png)},
                                           data={"metrics": "nope"}), 422)["message"]
        error_of(c.post(f"{API}/compare", files={"a": ("a", png), "b": ("b", png)}, data={"resize": "huge"}), 422)
        sizes = error_of(c.post(f"{API}/compare", files={"a": ("a", png), "b": ("b", noise_png(1))}), 422)
        assert "size" in sizes["message"]
        resized = c.post(f"{API}/compare", files={"a": ("a", png), "b": ("b", noise_png(1))},
                         data={"resize": "smaller"})
        assert resized.status_code == 200, resized.text
        error_of(c.post(f"{API}/compare", files={"a": ("a", png)}, data={"b_id": "3"}), 503)  # no index


def test_match_is_the_cli_document_plus_a_drawing(tmp_path: Path) -> None:
    a, b = tmp_path / "a.png", tmp_path / "b.jpg"
    a.write_bytes(small_image_bytes("chelsea.png", longest=200))
    b.write_bytes(small_image_bytes("chelsea.png", longest=200, fmt="JPEG"))
    code, out, _ = run_cli("match", str(a), str(b), "--json")
    assert code == 0
    with client() as c:
        response = c.post(f"{API}/match", files={"a": ("a.png", a.read_bytes()), "b": ("b.jpg", b.read_bytes())})
        assert response.status_code == 200, response.text
        api = response.json()
        drawing = api.pop("drawing")
        cli = json.loads(out)
        assert cli["a"] == str(a) and cli["b"] == str(b)  # the CLI names the paths it was given
        assert api == {**cli, "a": "a.png", "b": "b.jpg"} and api["inliers"] > 20  # the API the upload names
        assert c.get(drawing).headers["content-type"] == "image/png"
        error_of(c.post(f"{API}/match", files={"a": ("a", a.read_bytes()), "b": ("b", b.read_bytes())},
                        data={"method": "surf"}), 422)


# -- search ---------------------------------------------------------------------------------------

def test_search_is_the_cli_document_with_names_and_thumbnails(built_index: Path, photo_folder: Path,
                                                              tmp_path: Path) -> None:
    query = tmp_path / "query.jpg"
    query.write_bytes(small_image_bytes("coffee.jpg", fmt="JPEG", longest=120))
    code, out, _ = run_cli("search", str(query), "--index", str(built_index), "--json", "-k", "5")
    assert code == 0
    cli = json.loads(out)
    with client(index=built_index, show_paths=True) as c:
        api = c.post(f"{API}/search", files={"image": ("query.jpg", query.read_bytes())}, data={"top": "5"}).json()
    for row in api["results"]:
        assert row.pop("thumbnail") == f"{API}/images/{row['id']}/thumbnail"
    assert api == {**cli, "query": "query.jpg"}  # one schema for --json and the API
    with client(index=built_index) as c:
        response = c.post(f"{API}/search", files={"image": ("q.jpg", query.read_bytes())}, data={"top": "5"})
        assert response.status_code == 200
        body = response.json()
        assert str(photo_folder) not in response.text and "path" not in body["results"][0]  # no server path
        names = [r["name"] for r in body["results"]]
        assert names[0] == "nested/coffee.jpg" and set(names) <= {"astronaut.png", "nested/camera.png",
                                                                  "chelsea.png", "nested/coffee.jpg", "rocket.jpg"}
        similarities = [r["similarity"] for r in body["results"]]
        assert similarities == sorted(similarities, reverse=True) and similarities[0] > 0.7
        thumbnail = c.get(body["results"][0]["thumbnail"])
        assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/jpeg"
        assert c.get(body["results"][0]["thumbnail"]).content == thumbnail.content  # cached
        floor = c.post(f"{API}/search", files={"image": ("q", query.read_bytes())},
                       data={"min_similarity": "0.9"}).json()
        assert all(r["similarity"] >= 0.9 for r in floor["results"])
        pair = c.post(f"{API}/compare", files={"a": ("q", query.read_bytes())},
                      data={"b_id": str(body["results"][0]["id"]), "resize": "smaller"})
        assert pair.status_code == 200 and pair.json()["b"] == "nested/coffee.jpg"  # the result's comparison


def test_search_and_thumbnail_errors(built_index: Path) -> None:
    png = small_image_bytes("camera.png")
    with client(index=built_index) as c:
        for data in ({"top": "0"}, {"top": "x"}, {"kind": "colour"}, {"min_similarity": "2"}):
            error_of(c.post(f"{API}/search", files={"image": ("q.png", png)}, data=data), 422)
        error_of(c.post(f"{API}/search", data={"top": "3"}), 422)
        assert error_of(c.get(f"{API}/images/999999/thumbnail"), 404)["code"] == "not_found"
        error_of(c.get(f"{API}/images/abc/thumbnail"), 422)
        error_of(c.get(f"{API}/images/-1/thumbnail"), 422)
        error_of(c.post(f"{API}/compare", files={"a": ("a", png)}, data={"b_id": "999999"}), 404)
    with client() as c:
        error_of(c.post(f"{API}/search", files={"image": ("q.png", png)}), 503)
        error_of(c.get(f"{API}/images/1/thumbnail"), 503)


# -- writes ---------------------------------------------------------------------------------------

def test_writes_are_refused_unless_allowed_and_keyed(index_copy: Path, key_file: Path) -> None:
    png = noise_png(7)
    with client(index=index_copy) as c:
        assert error_of(c.post(f"{API}/index/images", files={"images": ("n.png", png)}), 403)["code"] == "forbidden"
        error_of(c.delete(f"{API}/index/images/1"), 403)
    with client(index=index_copy, allow_writes=True, api_key_file=key_file) as c:
        for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer " + API_KEY[:-1]},
                        {"X-API-Key": API_KEY + "x"}):
            response = c.post(f"{API}/index/images", files={"images": ("n.png", png)}, headers=headers)
            assert error_of(response, 401)["code"] == "unauthorized"
            assert API_KEY not in response.text
            error_of(c.delete(f"{API}/index/images/1", headers=headers), 401)
    with pytest.raises(ParameterError, match="API key"):
        ServeConfig(index=str(index_copy), allow_writes=True)


def test_add_search_and_delete_an_uploaded_image(index_copy: Path, key_file: Path) -> None:
    png = noise_png(11, size=96)
    digest = hashlib.sha256(png).hexdigest()
    with client(index=index_copy, allow_writes=True, api_key_file=key_file) as c:
        response = c.post(f"{API}/index/images", files={"images": ("../../etc/passwd", png)},
                          headers={"X-API-Key": API_KEY})
        assert response.status_code == 202, response.text
        job = response.json()
        assert response.headers["location"] == job["url"]
        events = c.get(job["events"]).text  # server-sent events until the job ends
        assert "event: progress" in events and "event: end" in events
        done = wait_for(c, job)
        assert done["status"] == "done" and done["result"]["added"] == 1, done
        assert done["done"] == done["total"] == 1 and done["stage"] == "indexing"
        assert done["label"] == ProgressBar.LABELS["indexing"] == "indexing images"  # what the CLI's bar says
        [image] = done["result"]["images"]
        assert image["name"] == f"uploads/{digest}.png"  # named by content, not by the client
        stored = index_copy / "uploads" / f"{digest}.png"
        assert stored.read_bytes() == png
        assert c.get(f"{API}/health").json()["index"]["files"] == len(INDEXED) + 1
        hits = c.post(f"{API}/search", files={"image": ("q.png", png)}).json()["results"]
        assert hits[0]["id"] == image["id"] and hits[0]["similarity"] == 1.0
        deleted = c.delete(f"{API}/index/images/{image['id']}", headers={"Authorization": f"Bearer {API_KEY}"})
        assert deleted.status_code == 200 and deleted.json()["deleted"] == image["id"]
        assert not stored.exists()  # the index owned it
        hits = c.post(f"{API}/search", files={"image": ("q.png", png)}).json()["results"]
        assert all(h["id"] != image["id"] for h in hits)
        error_of(c.delete(f"{API}/index/images/{image['id']}", headers={"X-API-Key": API_KEY}), 404)
        error_of(c.get(f"{API}/images/{image['id']}/thumbnail"), 404)
        error_of(c.get(f"{API}/jobs/unknown"), 404)
        bad = c.post(f"{API}/index/images", files={"images": ("x.png", b"not an image at all")},
                     headers={"X-API-Key": API_KEY})
        assert error_of(bad, 415)["code"] == "unsupported_media_type"
    assert not (Path("/etc/passwd.png")).exists()


def test_uploads_behind_a_linked_index_path_are_deleted_and_a_busy_index_names_no_server_path(
        index_copy: Path, key_file: Path, tmp_path: Path) -> None:
    """Served through a symbolic link, the index still owns (and deletes) its uploads, and names them by
    ``uploads/``; a job that meets another writer says so without the server's folder."""
    from lookalike.index import Index

    linked = tmp_path / "linked-index"
    linked.symlink_to(index_copy)
    headers = {"X-API-Key": API_KEY}
    png = noise_png(12, size=96)
    with client(index=linked, allow_writes=True, api_key_file=key_file) as c:
        job = c.post(f"{API}/index/images", files={"images": ("a.png", png)}, headers=headers).json()
        [image] = wait_for(c, job)["result"]["images"]
        assert image["name"] == f"uploads/{hashlib.sha256(png).hexdigest()}.png"
        stored = index_copy / image["name"]
        assert stored.exists()
        assert c.delete(f"{API}/index/images/{image['id']}", headers=headers).status_code == 200
        assert not stored.exists()  # the index's own upload is removed with it
        other = Index.open(index_copy)
        try:
            with other.writing():  # another writer holds the index
                job = c.post(f"{API}/index/images", files={"images": ("b.png", noise_png(13, size=96))},
                             headers=headers).json()
                failed = wait_for(c, job)
        finally:
            other.close()
        assert failed["status"] == "failed" and "another process" in failed["error"]
        assert str(tmp_path) not in json.dumps(failed)
    assert not [p.name for p in (index_copy / "uploads").iterdir() if p.name.endswith(".tmp")]


# -- CORS and configuration -----------------------------------------------------------------------

def test_cors_is_off_unless_an_origin_is_given() -> None:
    origin = {"Origin": "https://elsewhere.example"}
    with client() as c:
        assert "access-control-allow-origin" not in c.get(f"{API}/health", headers=origin).headers
    with client(cors_origins=("https://elsewhere.example",)) as c:
        assert c.get(f"{API}/health", headers=origin).headers["access-control-allow-origin"] == origin["Origin"]
        other = c.get(f"{API}/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_every_option_reads_from_the_environment(key_file: Path) -> None:
    env = {"LOOKALIKE_INDEX": "/srv/idx", "LOOKALIKE_HOST": "0.0.0.0", "LOOKALIKE_PORT": "9000",
           "LOOKALIKE_ALLOW_WRITES": "yes", "LOOKALIKE_API_KEY_FILE": str(key_file), "LOOKALIKE_SHOW_PATHS": "1",
           "LOOKALIKE_CORS_ORIGINS": "https://a.example, https://b.example", "LOOKALIKE_MAX_UPLOAD_MB": "5",
           "LOOKALIKE_MAX_PIXELS": "1000000", "LOOKALIKE_MAX_DECODES": "3", "LOOKALIKE_QUEUE_TIMEOUT": "9",
           "LOOKALIKE_VERIFY": "off", "LOOKALIKE_JOBS": "2", "LOOKALIKE_SHUTDOWN_TIMEOUT": "4",
           "LOOKALIKE_VIEWS": "2"}
    config = ServeConfig.from_env(env)
    assert config == ServeConfig(index="/srv/idx", host="0.0.0.0", port=9000, allow_writes=True,
                                 api_key_file=str(key_file), show_paths=True,
                                 cors_origins=("https://a.example", "https://b.example"), max_upload_mb=5.0,
                                 max_pixels=1_000_000, max_decodes=3, queue_timeout=9.0, verify=False, jobs=2,
                                 shutdown_timeout=4.0, views=2)
    import dataclasses

    assert {f"LOOKALIKE_{f.name.upper()}" for f in dataclasses.fields(ServeConfig)} == set(env)
    assert ServeConfig.from_env(env, port=9100).port == 9100  # an option given wins
    with pytest.raises(ParameterError, match="LOOKALIKE_PORT"):
        ServeConfig.from_env({"LOOKALIKE_PORT": "eighty"})
    short = key_file.parent / "short"
    short.write_text("abc\n")
    with pytest.raises(ParameterError, match="shorter than 16"):
        ServeConfig(api_key_file=str(short)).read_api_key()


def test_search_views_and_the_embedding_threads_of_a_server(built_index: Path) -> None:
    import os

    from lookalike.pipelines._query import _query_threads

    png = small_image_bytes("camera.png")
    before = _query_threads[0]
    with client(index=built_index, max_decodes=2, views=1) as c:
        # two queries at once on this machine's cores: each embeds on its share of them
        assert _query_threads[0] == max(1, len(os.sched_getaffinity(0)) // 2)
        for views in ("0", "5", "x"):
            error_of(c.post(f"{API}/search", files={"image": ("q.png", png)}, data={"views": views}), 422)
        for views in ("1", "4"):
            response = c.post(f"{API}/search", files={"image": ("q.png", png)}, data={"views": views})
            assert response.status_code == 200 and response.json()["results"][0]["name"] == "nested/camera.png"
    assert _query_threads[0] == before  # given back when the index closes
    with pytest.raises(ParameterError, match="views"):
        ServeConfig(views=5)
    assert ServeConfig.from_env({"LOOKALIKE_VIEWS": "2"}).views == 2 and ServeConfig().views is None
