"""Descriptors of images: perceptual hashes (and, being built, local features and embeddings)."""

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

__all__ = [
    "HASH_METHODS",
    "dihedral_hashes",
    "hamming_distance",
    "hash_many",
    "hash_similarity",
    "hash_to_hex",
    "hex_to_hash",
    "image_hash",
]
