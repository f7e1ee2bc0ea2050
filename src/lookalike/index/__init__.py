"""A persistent index of image files: a SQLite catalogue, vector snapshots, FAISS-style search.

An index is a folder: ``manifest.json`` (format version, descriptors),
``catalog.sqlite`` (every file: path, size, time, SHA-256, size in pixels,
status, and its descriptors; the source of truth) and ``vectors/`` (a vector
index per global descriptor, a cache patched or rebuilt from the catalogue).
Build and keep it current with :meth:`Index.update`; search it with
:meth:`Index.search` (calibrated, verified) or in bulk with
:meth:`Index.search_vectors`; read the stored keypoints with
:meth:`Index.local_features`.

Every descriptor is computed from :func:`load_for_descriptors` (transparent pixels composited on
white, :data:`DESCRIPTOR_ALPHA`).

The vector stores (:class:`VectorStore`: exact, HNSW, IVF, binary Hamming, and
numpy brute force) are usable on their own.
"""

from lookalike.index._catalog import FileRecord
from lookalike.index._descriptors import (
    DEFAULT_DESCRIPTORS,
    DESCRIPTOR_ALPHA,
    DESCRIPTORS,
    VERIFY_KEYPOINTS,
    VERIFY_SIZE,
    DescriptorSpec,
    descriptor_spec,
    load_for_descriptors,
)
from lookalike.index._index import FORMAT_VERSION, FileError, Index, IndexInfo, IndexReport
from lookalike.index._vectors import (
    BACKENDS,
    EXACT_MAX,
    HNSW_MAX,
    INDEX_IVF_STORAGE,
    BinaryFlatStore,
    FlatStore,
    HNSWStore,
    IVFStore,
    NumpyBinaryStore,
    NumpyFlatStore,
    VectorStore,
    choose_backend,
    index_params,
    load_store,
    make_store,
)

__all__ = [
    "BACKENDS",
    "DEFAULT_DESCRIPTORS",
    "DESCRIPTORS",
    "DESCRIPTOR_ALPHA",
    "EXACT_MAX",
    "FORMAT_VERSION",
    "HNSW_MAX",
    "INDEX_IVF_STORAGE",
    "VERIFY_KEYPOINTS",
    "VERIFY_SIZE",
    "BinaryFlatStore",
    "DescriptorSpec",
    "FileError",
    "FileRecord",
    "FlatStore",
    "HNSWStore",
    "IVFStore",
    "Index",
    "IndexInfo",
    "IndexReport",
    "NumpyBinaryStore",
    "NumpyFlatStore",
    "VectorStore",
    "choose_backend",
    "descriptor_spec",
    "index_params",
    "load_for_descriptors",
    "load_store",
    "make_store",
]
