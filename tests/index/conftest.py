"""Index tests: FAISS on one thread (the test machines are small and shared; OpenMP threads that wait
for a busy core make small builds many times slower, and results do not depend on the thread count)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _faiss_single_thread() -> Iterator[None]:
    try:
        import faiss
    except ImportError:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


@pytest.fixture
def embedder() -> Any:
    """The default :class:`lookalike.features.Embedder`; the test is skipped without onnxruntime or its weights."""
    pytest.importorskip("onnxruntime")
    from lookalike.errors import MissingDependencyError
    from lookalike.features import Embedder

    try:
        return Embedder()
    except MissingDependencyError as exc:
        pytest.skip(str(exc))


#: scikit-image's bundled photographs (CC0 / public domain) used as test images.
PHOTOS = ("astronaut", "camera", "chelsea", "coffee", "rocket", "coins", "moon", "hubble_deep_field")


def photo(name: str, *, longest: int = 256) -> Any:
    """One of scikit-image's bundled photos, scaled so its longest side is ``longest`` pixels."""
    import numpy as np
    from PIL import Image
    from skimage import data

    pixels = getattr(data, name)()
    image = Image.fromarray(np.ascontiguousarray(pixels))
    scale = longest / max(image.size)
    return np.asarray(image.resize((max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale))),
                                   Image.Resampling.LANCZOS))


def make_photos(folder: Path, names: Sequence[str] = PHOTOS, *, longest: int = 256) -> list[Path]:
    """Write the photos into ``folder``: JPEG (quality 90) for colour ones, PNG for grey ones."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        pixels = photo(name, longest=longest)
        path = folder / (f"{name}.jpg" if pixels.ndim == 3 else f"{name}.png")
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(path)
    return paths


def make_crops(folder: Path, variants: int, *, longest: int, step: int) -> list[Path]:
    """``variants`` overlapping crops of each photo (shifted by ``step`` pixels), JPEG quality 90:
    ``len(PHOTOS) * variants`` distinct images."""
    import numpy as np
    from PIL import Image

    paths = []
    for name in PHOTOS:
        pixels = photo(name, longest=longest)
        for k in range(variants):
            crop = pixels[step * k : pixels.shape[0] - step * (variants - k), step * k :]
            path = folder / f"{name}-{k}.jpg"
            Image.fromarray(np.ascontiguousarray(crop)).save(path, quality=90)
            paths.append(path)
    return paths


@pytest.fixture(scope="session")
def _photo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photo-template")
    make_photos(folder)
    return folder


@pytest.fixture
def photos(tmp_path: Path, _photo_template: Path) -> Path:
    """A folder of 8 small real photos (a fresh copy per test)."""
    import shutil

    return Path(shutil.copytree(_photo_template, tmp_path / "photos"))


def as_previous_version(index_path: Path) -> None:
    """Make an index's manifest what lookalike wrote before issue 12: format version 1 and no ``"upgrades"`` entry
    (the descriptors an index was created without on purpose), so ``update`` adds the dihedral hashes and the
    words to it."""
    import json

    manifest_path = Path(index_path) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["upgrades"]
    manifest["format_version"] = 1
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
