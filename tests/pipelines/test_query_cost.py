"""The cheap query paths give the normal path's answers: reduced JPEG decoding, fewer embedding views,
fewer onnxruntime threads.

- A query is decoded at reduced scale (``draft``: the smallest JPEG scale at or above what the hashes
  and the embedding resize to, as the index decodes its files). Against a full decode of a 1.5 MP
  photo, the embedding and the hashes stay within tolerance: cosine >= 0.98 (measured 0.9876-0.998
  on the 20 queries of benchmarks/bench_serve.py), at most 4 of 64 pHash bits (measured: 0 or 2).
- ``views=N`` takes the first N of the 4 embedding views: its cosine evidence is the maximum over
  fewer views, so it is never above the 4 views' and equals it where the best view is among them.
- The embedder's thread count changes no bit of a vector.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from lookalike.errors import ParameterError
from lookalike.pipelines import EMBEDDING_VIEWS, search, set_embedding_threads
from tests.index.conftest import make_photos

pytest.importorskip("faiss")
pytest.importorskip("onnxruntime")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "images"
INDEXED = ("astronaut", "camera", "chelsea", "coffee", "rocket")


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from lookalike.index import Index

    folder = tmp_path_factory.mktemp("cost-photos")
    make_photos(folder, INDEXED, longest=256)
    opened = Index.create(tmp_path_factory.mktemp("cost-index") / "idx", descriptors=["phash", "embedding"])
    opened.update(folder, jobs=1)
    yield opened
    opened.close()


def _photo_1_5mp(name: str) -> bytes:
    """An example photo resampled to about 1.5 MP, JPEG quality 90 (the upload the service benchmark sends)."""
    path = next(EXAMPLES.glob(f"{name}.*"))
    with Image.open(path) as image:
        rgb = image.convert("RGB")
    scale = (1.5e6 / (rgb.size[0] * rgb.size[1])) ** 0.5
    big = rgb.resize((round(rgb.size[0] * scale), round(rgb.size[1] * scale)), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    big.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee"])
def test_the_draft_decode_describes_a_query_as_the_full_decode_does(name: str) -> None:
    from lookalike.features import Embedder, dihedral_hashes, hamming_distance
    from lookalike.matching import load_for_descriptors
    from lookalike.pipelines._query import query_embedder

    data = _photo_1_5mp(name)
    draft = load_for_descriptors(data, draft=Embedder.draft_size)  # what an index of phash + embedding decodes
    full = load_for_descriptors(data)
    assert full.shape[0] * full.shape[1] > 1.2e6 and min(draft.shape[:2]) >= min(Embedder.draft_size)
    assert draft.shape[0] * draft.shape[1] < full.shape[0] * full.shape[1] / 3  # at 1/2 scale or less a side
    vectors = query_embedder("efficientnet-lite0").embed([draft, full])
    assert float(vectors[0] @ vectors[1]) >= 0.98
    bits = hamming_distance(dihedral_hashes(draft), dihedral_hashes(full))
    assert bits.shape == (8,) and int(bits.max()) <= 4


def test_fewer_views_give_the_same_evidence_from_fewer_network_runs(index: Any) -> None:
    query = _photo_1_5mp("chelsea")
    [default] = search(query, index, top=5, verify=False, views=len(EMBEDDING_VIEWS))
    assert search(query, index, top=5, verify=False) == search(query, index, top=5, verify=False, views=1)
    assert search(query, index, top=5) == search(query, index, top=5, views=4)  # None: 4 views with verification
    assert default.results[0].path.endswith("chelsea.jpg")
    by_id = {e.id: e for e in default.evidence}
    for views in (1, 2, 3):
        [fewer] = search(query, index, top=5, verify=False, views=views)
        assert fewer.results[0].path == default.results[0].path  # an unturned copy: found by its own view
        for e in fewer.evidence:
            if e.id in by_id:
                assert e.hash_distance == by_id[e.id].hash_distance  # the hashes still cover all 8 symmetries
                assert e.cosine is not None and e.cosine <= by_id[e.id].cosine + 1e-6
        first = fewer.evidence[0]
        assert first.cosine == pytest.approx(by_id[first.id].cosine, abs=1e-6)  # its best view is the first
    turned = np.rot90(np.asarray(Image.open(io.BytesIO(query)).convert("RGB")))
    [one] = search(turned, index, top=1, verify=False, views=1)
    assert one.results[0].path.endswith("chelsea.jpg")  # a turned copy: found by the dihedral hashes
    for bad in (0, 5, 2.0, True, "4"):
        with pytest.raises(ParameterError, match="views"):
            search(query, index, views=bad)


def test_the_embedders_threads_change_no_bit() -> None:
    from lookalike.matching import load_for_descriptors
    from lookalike.pipelines._query import query_embedder

    pixels = [load_for_descriptors(_photo_1_5mp(n), draft=(256, 256)) for n in ("camera", "rocket")]
    default = query_embedder("efficientnet-lite0")
    previous = set_embedding_threads(1)
    try:
        single = query_embedder("efficientnet-lite0")
        assert single is not default and single.threads == 1
        np.testing.assert_array_equal(single.embed(pixels), default.embed(pixels))
        np.testing.assert_array_equal(single.embed(pixels[:1])[0], default.embed(pixels)[0])  # batch or not
    finally:
        assert set_embedding_threads(previous) == 1
    assert query_embedder("efficientnet-lite0") is default
    with pytest.raises(ParameterError, match="threads"):
        set_embedding_threads(0)


def _photos() -> list[Any]:
    """The 1.5 MP example photos, and the real photos of ../shared/data/retrieval when present, decoded as queries."""
    from lookalike.features import Embedder
    from lookalike.matching import load_for_descriptors
    from tests.conftest import SHARED_DATA

    sources: list[Any] = [_photo_1_5mp(n) for n in INDEXED]
    sources += sorted((SHARED_DATA / "retrieval").rglob("*.jpg"))[:40]  # none where the data is absent
    return [load_for_descriptors(s, draft=Embedder.draft_size) for s in sources]


@pytest.mark.parametrize("method", ["phash", "ahash"])
def test_the_fast_dihedral_hashes_are_the_exact_ones_within_two_bits(method: str) -> None:
    from lookalike.features import dihedral_hashes, hamming_distance, image_hash

    differing = 0
    photos = _photos()
    for pixels in photos:
        exact = dihedral_hashes(pixels, method=method)
        fast = dihedral_hashes(pixels, method=method, exact=False)
        bits = hamming_distance(exact, fast)
        np.testing.assert_array_equal(fast[0], image_hash(pixels, method=method))  # the identity is exact
        assert int(bits[[0, 2, 4, 5]].max()) == 0  # the flips and the half turn commute with the resize
        assert int(bits.max()) <= 3  # the transposing ones may differ where the resize rounds differently
        differing += int((bits > 0).sum())
    assert differing <= len(photos)  # at most one row in eight differs, on average
    for other in ("dhash", "whash"):  # exact whatever is asked
        grey = np.random.default_rng(1).integers(0, 256, (40, 56), np.uint8)
        np.testing.assert_array_equal(dihedral_hashes(grey, method=other, exact=False),
                                      dihedral_hashes(grey, method=other))
