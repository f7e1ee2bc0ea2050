"""Features of one image: local keypoints (SIFT, RootSIFT, AKAZE, ORB), perceptual hashes, the deep embedding.

Also the one Hamming kernel of lookalike (:func:`hamming_distance`, used by the
index's Hamming stores and the duplicates self-join) and :func:`root_sift`.
Nothing here knows about files or indexes (:mod:`lookalike.io` decodes them).
"""

from lookalike.features._embed import EMBEDDING_MODELS, Embedder, embed_images, weights_path
from lookalike.features._hash import (
    HASH_METHODS,
    dihedral_hashes,
    hamming_distance,
    hash_many,
    hash_similarity,
    hash_to_hex,
    hex_to_hash,
    image_hash,
)
from lookalike.features._local import LOCAL_METHODS, LocalFeatures, extract_local, mirror_features, root_sift

__all__ = [
    "EMBEDDING_MODELS",
    "HASH_METHODS",
    "LOCAL_METHODS",
    "Embedder",
    "LocalFeatures",
    "dihedral_hashes",
    "embed_images",
    "extract_local",
    "hamming_distance",
    "hash_many",
    "hash_similarity",
    "hash_to_hex",
    "hex_to_hash",
    "image_hash",
    "mirror_features",
    "root_sift",
    "weights_path",
]
