"""Read a PyTorch state dict saved in the legacy (pre-1.6, non-zip) format, without torch.

The legacy format written by ``torch.save(..., _use_new_zipfile_serialization=False)``
is a file of five consecutive pickles followed by raw tensor data:

1. a magic number (``0x1950a86a20f9469cfc6c``);
2. the protocol version (``1001``);
3. a dict of system information (byte order, C type sizes);
4. the saved object itself (here an ``OrderedDict`` of tensors), in which every
   tensor is ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)``
   and every storage is a *persistent id*
   ``('storage', <storage class>, key, location, numel, view_metadata)``;
5. the list of storage keys, in the order their data follows;

then, for every key of that list, an 8-byte little-endian element count and the
storage's elements as raw little-endian values.

Only what such a state dict needs is ever unpickled: ``find_class`` answers for
``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2`` and the typed
storage classes, and refuses every other global, so a malicious file cannot make
this reader import or call anything else.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from lookalike.errors import CheckpointFormatError  # defined there; still importable from here

__all__ = ["CheckpointFormatError", "load_legacy_state_dict"]

_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
_PROTOCOL_VERSION = 1001

#: torch storage class name -> numpy dtype of its elements (always little-endian here).
_STORAGE_DTYPES: dict[str, np.dtype[Any]] = {
    "DoubleStorage": np.dtype("<f8"),
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


@dataclass(frozen=True)
class _StorageType:
    """Stands in for ``torch.<Name>Storage`` while unpickling."""

    name: str
    dtype: np.dtype[Any]


@dataclass(frozen=True)
class _StorageRef:
    """A storage named by a persistent id; its data follows the pickles."""

    key: str
    dtype: np.dtype[Any]
    numel: int


@dataclass(frozen=True)
class _TensorRef:
    """A tensor as ``_rebuild_tensor_v2`` describes it, before its storage is read."""

    storage: _StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(
    storage: object,
    storage_offset: object,
    size: object,
    stride: object,
    requires_grad: object = False,
    backward_hooks: object = None,
    metadata: object = None,
) -> _TensorRef:
    """Record a tensor's view of its storage (the real data is read later)."""
    if not isinstance(storage, _StorageRef):
        raise CheckpointFormatError(f"a tensor refers to {type(storage).__name__}, expected a storage")
    if not _is_int_tuple(size) or not _is_int_tuple(stride) or len(size) != len(stride):  # type: ignore[arg-type]
        raise CheckpointFormatError(f"a tensor has a malformed size {size!r} or stride {stride!r}")
    if not isinstance(storage_offset, int) or storage_offset < 0:
        raise CheckpointFormatError(f"a tensor has a malformed storage offset {storage_offset!r}")
    return _TensorRef(storage, storage_offset, tuple(size), tuple(stride))  # type: ignore[arg-type]


def _is_int_tuple(value: object) -> bool:
    return isinstance(value, tuple) and all(isinstance(v, int) and v >= 0 for v in value)


class _StateDictUnpickler(pickle.Unpickler):
    """An unpickler that knows only the few globals a legacy state dict uses."""

    def __init__(self, file: io.BytesIO, source: str) -> None:
        super().__init__(file)
        self.source = source
        self.storages: dict[str, _StorageRef] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name, _STORAGE_DTYPES[name])
        raise CheckpointFormatError(
            f"{self.source}: refusing to unpickle {module}.{name}; only a state dict of tensors "
            "(OrderedDict, _rebuild_tensor_v2, typed storages) is read"
        )

    def persistent_load(self, pid: Any) -> _StorageRef:
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise CheckpointFormatError(f"{self.source}: unexpected persistent id {pid!r:.80}")
        _, storage_type, key, _location, numel, view_metadata = pid
        if not isinstance(storage_type, _StorageType) or not isinstance(key, str):
            raise CheckpointFormatError(f"{self.source}: malformed storage record {pid!r:.80}")
        if not isinstance(numel, int) or numel < 0:
            raise CheckpointFormatError(f"{self.source}: storage {key} has a malformed size {numel!r}")
        if view_metadata is not None:
            raise CheckpointFormatError(f"{self.source}: storage views (saved by torch < 0.4) are not supported")
        ref = self.storages.get(key)
        if ref is None:
            ref = self.storages[key] = _StorageRef(key, storage_type.dtype, numel)
        elif ref.dtype != storage_type.dtype or ref.numel != numel:
            raise CheckpointFormatError(f"{self.source}: storage {key} is described twice, differently")
        return ref


def _plain_load(file: io.BytesIO, source: str, what: str) -> Any:
    """Unpickle one of the small header pickles, which hold only plain Python values."""

    class _NoGlobals(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            raise CheckpointFormatError(f"{source}: unexpected {module}.{name} in the {what}")

    try:
        return _NoGlobals(file).load()
    except CheckpointFormatError:
        raise
    except Exception as exc:  # pickle raises many kinds on garbage input
        raise CheckpointFormatError(f"{source}: cannot read the {what}: {exc}") from None


def load_legacy_state_dict(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read every tensor of a legacy-format PyTorch state dict into numpy arrays.

    Parameters
    ----------
    path : str or path-like
        A ``.pth`` file written by ``torch.save(model.state_dict())`` with the
        legacy serialisation (torch < 1.6, or ``_use_new_zipfile_serialization=False``).

    Returns
    -------
    dict of str to ndarray
        Tensor name -> C-contiguous array with the tensor's shape and dtype,
        in the order of the file (``float32`` weights, ``int64`` counters).

    Raises
    ------
    CheckpointFormatError
        The file is not such a state dict, refers to anything other than tensors,
        or its data is truncated or inconsistent.
    OSError
        The file cannot be opened.

    Examples
    --------
    >>> from lookalike.features._embed import weights_path
    >>> state = load_legacy_state_dict(weights_path())  # doctest: +SKIP
    >>> state["_conv_stem.weight"].shape  # doctest: +SKIP
    (32, 3, 3, 3)
    """
    source = os.fspath(path)
    with open(source, "rb") as fh:
        data = fh.read()
    if data[:2] == b"PK":
        raise CheckpointFormatError(
            f"{source}: this is a zip-format PyTorch file (torch >= 1.6); only the legacy format is read"
        )
    file = io.BytesIO(data)
    if _plain_load(file, source, "magic number") != _MAGIC_NUMBER:
        raise CheckpointFormatError(f"{source}: not a legacy PyTorch file (wrong magic number)")
    protocol = _plain_load(file, source, "protocol version")
    if protocol != _PROTOCOL_VERSION:
        raise CheckpointFormatError(f"{source}: protocol version {protocol!r}, expected {_PROTOCOL_VERSION}")
    sys_info = _plain_load(file, source, "system information")
    if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
        raise CheckpointFormatError(f"{source}: only files saved on a little-endian machine are read")

    unpickler = _StateDictUnpickler(file, source)
    try:
        state = unpickler.load()
    except CheckpointFormatError:
        raise
    except Exception as exc:
        raise CheckpointFormatError(f"{source}: cannot read the state dict: {exc}") from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, _TensorRef) for k, v in state.items()
    ):
        raise CheckpointFormatError(f"{source}: the saved object is not a dict of tensors")

    keys = _plain_load(file, source, "list of storage keys")
    if not isinstance(keys, list) or sorted(keys) != sorted(unpickler.storages):
        raise CheckpointFormatError(f"{source}: the storage key list does not match the tensors")

    buffers: dict[str, np.ndarray] = {}
    pos = file.tell()
    for key in keys:
        ref = unpickler.storages[key]
        if pos + 8 > len(data):
            raise CheckpointFormatError(f"{source}: truncated before storage {key}")
        (numel,) = struct.unpack_from("<q", data, pos)
        if numel != ref.numel:
            raise CheckpointFormatError(
                f"{source}: storage {key} holds {numel} elements, the state dict says {ref.numel}"
            )
        pos += 8
        nbytes = numel * ref.dtype.itemsize
        if pos + nbytes > len(data):
            raise CheckpointFormatError(f"{source}: truncated inside storage {key}")
        buffers[key] = np.frombuffer(data, dtype=ref.dtype, count=numel, offset=pos)
        pos += nbytes
    if pos != len(data):
        raise CheckpointFormatError(f"{source}: {len(data) - pos} unexpected bytes after the last storage")

    return {name: _materialise(name, t, buffers[t.storage.key], source) for name, t in state.items()}


def _materialise(name: str, tensor: _TensorRef, buffer: np.ndarray, source: str) -> np.ndarray:
    """Copy a tensor's strided view of its storage into its own contiguous array."""
    if any(s == 0 for s in tensor.size):
        return np.zeros(tensor.size, dtype=buffer.dtype)
    last = tensor.offset + sum((n - 1) * s for n, s in zip(tensor.size, tensor.stride, strict=True))
    if last >= buffer.size:
        raise CheckpointFormatError(f"{source}: tensor {name} reaches past the end of its storage")
    itemsize = buffer.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        buffer[tensor.offset :],
        shape=tensor.size,
        strides=tuple(s * itemsize for s in tensor.stride),
        writeable=False,
    )
    return np.array(view, order="C", copy=True)
