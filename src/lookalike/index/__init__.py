"""A persistent index of image files: a SQLite catalogue, vector snapshots, FAISS-style search.

An index is a folder: ``manifest.json`` (format version, descriptors),
``catalog.sqlite`` (every file: path, size, time, SHA-256, size in pixels,
status, and its descriptors; the source of truth) and ``vectors/`` (a vector
index per global descriptor, a cache patched or rebuilt from the catalogue).
Build it with :func:`build_index` and keep it current with :meth:`Index.update`
(ingestion: listing, hashing, describing and committing files lives here, in
the index layer); search it with :func:`lookalike.search` (calibrated,
verified; the pipeline above this layer) or in bulk with
:meth:`Index.search_vectors`; read the stored keypoints with
:meth:`Index.local_features`.

Every descriptor is computed from :func:`load_for_descriptors` (transparent pixels composited on
white, :data:`DESCRIPTOR_ALPHA`).

The vector stores (:class:`VectorStore`: exact, HNSW, IVF, binary Hamming, and
numpy brute force) are usable on their own, and pluggable: :func:`register_backend`
adds a store class under a name (persistence, ``save``/``load``, is optional); a Milvus
server or Milvus Lite file is the backend ``"milvus"`` (:class:`MilvusStore`, named by a vectors URL:
:func:`vectors_backend`). :func:`export_index` and :func:`import_index` move an index between stores
and machines (a folder of JSON and NPZ files). The self-joins that duplicates
needs (every close pair among the stored rows: :func:`hash_pairs`, :func:`dihedral_pairs`,
:func:`embedding_neighbours`) live here too.
"""

from lookalike.index._catalog import FileRecord, FileResult
from lookalike.index._descriptors import (
    DEFAULT_DESCRIPTORS,
    DESCRIPTOR_ALPHA,
    DESCRIPTORS,
    UPGRADES,
    VERIFY_KEYPOINTS,
    VERIFY_SIZE,
    DescriptorSpec,
    describe_keypoints,
    descriptor_spec,
    load_for_descriptors,
)
from lookalike.index._export import EXPORT_VERSION, export_index, import_index
from lookalike.index._index import FORMAT_VERSION, FileError, Index, IndexInfo, IndexReport
from lookalike.index._ingest import DEFAULT_INDEX_NAME, build_index, default_index_path, derive_words
from lookalike.index._milvus import MilvusStore, vectors_backend
from lookalike.index._selfjoin import (
    EXACT_NEIGHBOURS,
    cosine_rows,
    dihedral_pairs,
    dihedral_rows,
    embedding_neighbours,
    hamming_rows,
    hash_pairs,
)
from lookalike.index._vectors import (
    BACKENDS,
    EXACT_MAX,
    HNSW_MAX,
    INDEX_IVF_STORAGE,
    Backend,
    BinaryFlatStore,
    FlatStore,
    HNSWStore,
    IVFStore,
    NumpyBinaryStore,
    NumpyFlatStore,
    PersistentStore,
    VectorStore,
    backend_info,
    backend_names,
    choose_backend,
    index_params,
    load_store,
    make_store,
    register_backend,
    unregister_backend,
)
from lookalike.index._words import (
    VOCABULARY_WORDS,
    Vocabulary,
    WordQueries,
    fit_vocabulary,
    fit_vocabulary_tree,
    quantise,
    query_scores,
    word_candidates,
    word_histograms,
    word_neighbours,
    word_queries,
    word_scores,
)

__all__ = [
    "BACKENDS",
    "DEFAULT_DESCRIPTORS",
    "DEFAULT_INDEX_NAME",
    "DESCRIPTORS",
    "DESCRIPTOR_ALPHA",
    "EXACT_MAX",
    "EXACT_NEIGHBOURS",
    "EXPORT_VERSION",
    "FORMAT_VERSION",
    "HNSW_MAX",
    "INDEX_IVF_STORAGE",
    "UPGRADES",
    "VERIFY_KEYPOINTS",
    "VERIFY_SIZE",
    "VOCABULARY_WORDS",
    "Backend",
    "BinaryFlatStore",
    "DescriptorSpec",
    "FileError",
    "FileRecord",
    "FileResult",
    "FlatStore",
    "HNSWStore",
    "IVFStore",
    "Index",
    "IndexInfo",
    "IndexReport",
    "MilvusStore",
    "NumpyBinaryStore",
    "NumpyFlatStore",
    "PersistentStore",
    "VectorStore",
    "Vocabulary",
    "WordQueries",
    "backend_info",
    "backend_names",
    "build_index",
    "choose_backend",
    "cosine_rows",
    "default_index_path",
    "derive_words",
    "describe_keypoints",
    "descriptor_spec",
    "dihedral_pairs",
    "dihedral_rows",
    "embedding_neighbours",
    "export_index",
    "fit_vocabulary",
    "fit_vocabulary_tree",
    "hamming_rows",
    "hash_pairs",
    "import_index",
    "index_params",
    "load_for_descriptors",
    "load_store",
    "make_store",
    "quantise",
    "query_scores",
    "register_backend",
    "unregister_backend",
    "vectors_backend",
    "word_candidates",
    "word_histograms",
    "word_neighbours",
    "word_queries",
    "word_scores",
]
