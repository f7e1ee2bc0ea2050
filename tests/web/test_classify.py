"""``POST /api/v1/classify``: the CLI's ``classify --json`` document, from the served index's class folders.

The labelled set is the bundled example photos in two class folders; the served index is the folder's
feature index (``FOLDER/.lookalike-index``, phash + embedding), so ``lookalike classify --train FOLDER``
reads the very same embeddings and the two documents can be compared whole.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from tests.integration.runner import run_cli
from tests.web.conftest import API_KEY, CLASSES, client, small_image_bytes
from tests.web.test_api import API, error_of, wait_for
from tests.web.test_hostile import png_claiming

pytest.importorskip("onnxruntime", reason="classification needs the embedding (pip install 'lookalike[embed]')")


def _query(tmp_path: Path) -> Path:
    query = tmp_path / "query.jpg"
    query.write_bytes(small_image_bytes("chelsea.png", fmt="JPEG", longest=100))  # a re-encoded, smaller copy
    return query


def test_classify_is_the_cli_document(labelled: Path, tmp_path: Path) -> None:
    query = _query(tmp_path)
    code, out, err = run_cli("classify", "--train", str(labelled), str(query), "--k", "3", "--json")
    assert code == 0, err
    cli = json.loads(out)
    index = labelled / ".lookalike-index"
    with client(index=index, show_paths=True) as c:
        api = c.post(f"{API}/classify", files={"image": ("query.jpg", query.read_bytes())}, data={"k": "3"}).json()
    [prediction] = cli["predictions"]
    assert prediction["label"] == "cats and cups" and prediction["neighbours"][0]["name"] == "cats and cups/chelsea.png"
    assert api == {**cli, "predictions": [{**prediction, "path": "query.jpg"}]}  # one schema, the upload's name
    with client(index=index) as c:  # the default: no server path
        response = c.post(f"{API}/classify", files={"image": ("../../q.jpg", query.read_bytes())})
        assert response.status_code == 200, response.text
        assert str(labelled) not in response.text
        body = response.json()
        [got] = body["predictions"]
        assert got["path"] == "q.jpg" and body["k"] == 10 and body["method"] == "knn"
        assert body["classes"] == sorted(CLASSES)
        assert [set(n) for n in got["neighbours"]] == [{"name", "label", "similarity"}] * 5  # k capped by the refs
        similarities = [n["similarity"] for n in got["neighbours"]]
        assert similarities == sorted(similarities, reverse=True)
        unsure = c.post(f"{API}/classify", files={"image": ("q.jpg", query.read_bytes())},
                        data={"unknown_below": "1", "method": "logistic"}).json()
        assert unsure["method"] == "logistic" and unsure["predictions"][0]["label"] == "unknown"
        spec = c.get(f"{API}/openapi.json").json()["paths"][f"{API}/classify"]["post"]
        assert "409" in spec["responses"]


def test_classify_errors(labelled: Path, built_index: Path, photo_folder: Path, tmp_path: Path) -> None:
    from lookalike.index import Index

    png = small_image_bytes("camera.png")
    with client(index=labelled / ".lookalike-index", max_upload_mb=0.05) as c:
        for data in ({"k": "0"}, {"k": "x"}, {"method": "ssim"}, {"unknown_below": "2"}):
            assert error_of(c.post(f"{API}/classify", files={"image": ("q.png", png)}, data=data), 422)[
                "code"] == "invalid_parameter"
        error_of(c.post(f"{API}/classify", data={"k": "3"}), 422)  # no image
        assert error_of(c.post(f"{API}/classify", files={"image": ("q.jpg", b"not an image at all")}), 415)[
            "code"] == "unsupported_media_type"
        truncated = small_image_bytes("coffee.jpg", fmt="JPEG")[:600]
        assert error_of(c.post(f"{API}/classify", files={"image": ("q.jpg", truncated)}), 400)[
            "code"] == "unreadable_image"
        error_of(c.post(f"{API}/classify", files={"image": ("bomb.png", png_claiming(30000, 30000))}), 413)
        error_of(c.post(f"{API}/classify", files={"image": ("big.png", b"\x89PNG" + b"\0" * 60_000)}), 413)
    with client(index=built_index) as c:  # no embedding
        no_embedding = error_of(c.post(f"{API}/classify", files={"image": ("q.png", png)}), 409)
        assert no_embedding["code"] == "no_labels" and "embedding" in no_embedding["message"]
    flat = tmp_path / "flat-index"  # an embedding, but of a folder with a single sub-folder: no labels
    with Index.create(flat, descriptors=["phash", "embedding"]) as index:
        index.update(photo_folder, jobs=1)
    with client(index=flat) as c:
        no_labels = error_of(c.post(f"{API}/classify", files={"image": ("q.png", png)}), 409)
        assert no_labels["code"] == "no_labels" and str(photo_folder) not in no_labels["message"]
    with client() as c:
        error_of(c.post(f"{API}/classify", files={"image": ("q.png", png)}), 503)


def test_a_deleted_reference_is_no_longer_a_neighbour(labelled: Path, tmp_path: Path, key_file: Path) -> None:
    root = Path(shutil.copytree(labelled, tmp_path / "refs"))
    from lookalike.index import Index

    with Index.open(root / ".lookalike-index") as index:  # the copy's files are new paths: index them
        index.update(root, jobs=1)
        index.remove([str(p) for p in (labelled / "cats and cups").iterdir()] +
                     [str(p) for p in (labelled / "people and things").iterdir()])
    query = _query(tmp_path).read_bytes()
    with client(index=root / ".lookalike-index", allow_writes=True, api_key_file=key_file) as c:
        first = c.post(f"{API}/classify", files={"image": ("q.jpg", query)}).json()["predictions"][0]
        assert first["neighbours"][0]["name"] == "cats and cups/chelsea.png"
        chelsea = next(r["id"] for r in c.post(f"{API}/search", files={"image": ("q.jpg", query)}).json()["results"]
                       if r["name"] == "cats and cups/chelsea.png")
        assert c.delete(f"{API}/index/images/{chelsea}", headers={"X-API-Key": API_KEY}).status_code == 200
        after = c.post(f"{API}/classify", files={"image": ("q.jpg", query)}).json()["predictions"][0]
        assert "cats and cups/chelsea.png" not in [n["name"] for n in after["neighbours"]]
        assert len(after["neighbours"]) == 4
        job = c.post(f"{API}/index/images", files={"images": ("n.png", io.BytesIO(small_image_bytes("camera.png")))},
                     headers={"X-API-Key": API_KEY}).json()
        assert wait_for(c, job)["status"] == "done"  # an upload has no class folder: still 4 references
        assert len(c.post(f"{API}/classify", files={"image": ("q.jpg", query)}).json()["predictions"][0][
            "neighbours"]) == 4
