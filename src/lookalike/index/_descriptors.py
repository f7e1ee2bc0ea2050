"""The descriptors an index can hold: what each one is, how it is stored and how it is searched.

The description (names, sizes, parameters, the decode size they need) and
the computation from decoded pixels (:func:`describe_pixels`), shared by the
indexing (:mod:`lookalike.index._ingest`, which finds, reads and
decodes the files) and by queries, so a query is described exactly the way the
indexed files were.

Two kinds of descriptor:

- global vectors, one fixed-size vector per file, searched through a vector
  store: the 64-bit perceptual hashes (kind ``"hash"``) and the deep embedding
  (kind ``"embedding"``);
- the dihedral pHashes, kind ``"dihedral"``: the pHash of the file under each of its 8
  rotations and flips (:func:`lookalike.features.dihedral_hashes`, row 0 the ``phash`` itself),
  64 bytes, from the same decode as the other global descriptors; kept in the catalogue only (no
  vector store): :func:`lookalike.find_duplicates` joins each file's pHash against the others' 8,
  so rotated and mirrored copies become hash pairs without keypoint verification;
- visual words, kind ``"words"`` (:mod:`lookalike.index._words`): each stored keypoint's nearest
  word of a vocabulary tree (2 x 256) fitted on the index's own descriptors, one ``uint16`` a keypoint, computed
  from the stored keypoints after they are committed (never from the file); the candidates of
  :func:`lookalike.find_duplicates` that survive crops, borders and small rotations;
- local features, kind ``"keypoints"``: ``"rootsift"``, the keypoints that
  search verifies a short list with (:func:`verify_features`), a variable
  number per file, kept in the catalogue only (no vector store) and read back
  by :meth:`lookalike.index.Index.local_features`. They are computed from a
  decode of their own (:func:`verify_pixels`, longest side about
  :data:`VERIFY_SIZE`), exactly as a query's keypoints are, so the stored
  features equal the ones search would extract from the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from lookalike.errors import IndexFormatError, ParameterError
from lookalike.index._keypoints import KEYPOINTS_HEADER_SIZE, describe_keypoints, pack_features, unpack_features
from lookalike.matching import (
    DESCRIPTOR_ALPHA,
    VERIFY_KEYPOINTS,
    VERIFY_SIZE,
    load_for_descriptors,
    verify_features,
    verify_pixels,
)

if TYPE_CHECKING:
    from lookalike.features import LocalFeatures

__all__ = [
    "DEFAULT_DESCRIPTORS",
    "DESCRIPTORS",
    "DESCRIPTOR_ALPHA",
    "VERIFY_KEYPOINTS",
    "VERIFY_SIZE",
    "DescriptorSpec",
    "describe_keypoints",
    "describe_pixels",
    "descriptor_spec",
    "load_for_descriptors",
    "parse_specs",
    "verify_features",
    "verify_pixels",
]

#: Descriptor names an index can hold: the four perceptual hashes of
#: :func:`lookalike.features.image_hash` (64 bits each), the deep embedding,
#: and the RootSIFT keypoints that search verifies candidates with.
DESCRIPTORS: tuple[str, ...] = ("ahash", "dhash", "phash", "whash", "dihedral", "embedding", "rootsift", "words")

#: What :meth:`lookalike.index.Index.create` stores when not told otherwise: what the
#: default search (``kind="copy"``, verified) uses, and what lets :func:`lookalike.find_duplicates`
#: pair rotated and mirrored copies by hash (the dihedral pHashes) and find crops (the visual words).
DEFAULT_DESCRIPTORS: tuple[str, ...] = ("phash", "dihedral", "embedding", "rootsift", "words")

#: Descriptors that this lookalike adds to an index holding the key but not them, when
#: :func:`lookalike.index.update_index` runs (it computes them for the rows already there).
UPGRADES: dict[str, tuple[str, ...]] = {"phash": ("dihedral",), "rootsift": ("words",)}

#: The smallest decode the embedding needs: its 224 crop of 256 x 256.
DECODE_SIZE = (256, 256)
#: The smallest decode a 64-bit hash needs (it is computed from a 32 x 32 or smaller
#: resize). JPEGs are decoded with DCT scaling (1/2, 1/4 or 1/8) down to no less
#: than this; on 1-3 MP photos the pHash then differs from the full-resolution one
#: by 0-4 bits (most often 0-2), the spread of a re-encoding, and decoding and
#: resizing cost several times less.
HASH_DECODE_SIZE = (64, 64)


@dataclass(frozen=True)
class DescriptorSpec:
    """One descriptor of an index, as recorded in its manifest.

    Attributes
    ----------
    name : str
        ``"phash"``, ``"embedding"``, ...
    kind : {"hash", "dihedral", "embedding", "keypoints", "words"}
    dim : int
        Bits for a hash, dimensions for an embedding, descriptor length for keypoints.
    metric : {"hamming", "ip", "l2"}
        How vectors compare: Hamming distance between packed hashes, inner
        product (cosine) between unit vectors, Euclidean distance between
        RootSIFT descriptors (keypoints; matched with Lowe's ratio test).
    params : dict
        Parameters of the computation (hash method and size; model name;
        keypoint method, working size and count).
    draft : (int, int)
        The reduced decode size the descriptor was computed from.
    """

    name: str
    kind: str
    dim: int
    metric: str
    params: dict[str, Any] = field(default_factory=dict)
    draft: tuple[int, int] = DECODE_SIZE

    @property
    def is_vector(self) -> bool:
        """One fixed-size vector per file, searched through a vector store (hashes and embeddings)."""
        return self.kind in ("hash", "embedding")

    @property
    def is_global(self) -> bool:
        """Computed from the file's one common decode (hashes, dihedral hashes, embeddings)."""
        return self.kind in ("hash", "dihedral", "embedding")

    @property
    def is_derived(self) -> bool:
        """Computed from other stored descriptors once they are committed (the visual words)."""
        return self.kind == "words"

    @property
    def dtype(self) -> np.dtype[Any]:
        """``uint8`` (packed bits) for a hash, ``float32`` for an embedding, ``uint8`` for SIFT descriptors."""
        return np.dtype(np.float32) if self.kind == "embedding" else np.dtype(np.uint8)

    @property
    def width(self) -> int:
        """Elements per stored vector: bytes of a hash (8 x 8 for the dihedral hashes), floats of an embedding."""
        return self.dim // 8 if self.kind in ("hash", "dihedral") else self.dim

    @property
    def nbytes(self) -> int:
        """Bytes of one stored vector."""
        return self.width * self.dtype.itemsize

    def to_bytes(self, vector: np.ndarray) -> bytes:
        """The BLOB stored in the catalogue (little-endian)."""
        array = np.ascontiguousarray(vector, dtype=self.dtype.newbyteorder("<"))
        if array.shape != (self.width,):
            raise ParameterError(f"a {self.name} vector has shape ({self.width},), got {array.shape}")
        return array.tobytes()

    def from_bytes(self, blobs: Sequence[bytes]) -> np.ndarray:
        """Stack catalogue BLOBs into an (n, width) array."""
        if not blobs:
            return np.zeros((0, self.width), self.dtype)
        joined = b"".join(blobs)
        if len(joined) != len(blobs) * self.nbytes:
            raise IndexFormatError(f"the catalogue holds {self.name} vectors of the wrong size; rebuild the index")
        return np.frombuffer(joined, dtype=self.dtype.newbyteorder("<")).astype(self.dtype).reshape(-1, self.width)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "dim": self.dim, "metric": self.metric,
                "params": dict(self.params), "draft": list(self.draft)}

    @classmethod
    def from_json(cls, data: Any) -> DescriptorSpec:
        try:
            spec = cls(str(data["name"]), str(data["kind"]), int(data["dim"]), str(data["metric"]),
                       dict(data["params"]), tuple(int(v) for v in data["draft"]))  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexFormatError(f"a descriptor entry of the manifest is damaged ({exc!r}): {data!r}") from None
        kinds = ("hash", "dihedral", "embedding", "keypoints", "words")
        if spec.kind not in kinds or spec.metric not in ("hamming", "ip", "l2"):
            raise IndexFormatError(f"the manifest names an unknown descriptor kind: {data!r}")
        return spec

    # -- keypoints ---------------------------------------------------------------------------------

    def features_to_bytes(self, features: LocalFeatures) -> bytes:
        """The catalogue BLOB of a file's keypoints (kind ``"keypoints"``; :mod:`lookalike.index._keypoints`)."""
        return pack_features(features)

    def keypoint_count(self, nbytes: int) -> int:
        """How many keypoints a stored keypoint BLOB of ``nbytes`` bytes holds (without reading it)."""
        return max(0, (int(nbytes) - KEYPOINTS_HEADER_SIZE) // 144)

    def features_from_bytes(self, blob: bytes) -> LocalFeatures:
        """The :class:`~lookalike.features.LocalFeatures` (RootSIFT) stored in a catalogue BLOB."""
        return unpack_features(blob, self.name)


def descriptor_spec(name: str) -> DescriptorSpec:
    """The spec of a descriptor by name.

    Examples
    --------
    >>> descriptor_spec("phash").dim, descriptor_spec("embedding").metric
    (64, 'ip')
    """
    if name == "embedding":
        return DescriptorSpec("embedding", "embedding", 1280, "ip", {"model": "efficientnet-lite0"})
    if name in ("ahash", "dhash", "phash", "whash"):
        return DescriptorSpec(name, "hash", 64, "hamming", {"method": name, "hash_size": 8}, HASH_DECODE_SIZE)
    if name == "dihedral":
        return DescriptorSpec("dihedral", "dihedral", 512, "hamming", {"method": "phash", "hash_size": 8},
                              HASH_DECODE_SIZE)
    if name == "words":
        from lookalike.index._words import VOCABULARY_WORDS

        return DescriptorSpec("words", "words", VOCABULARY_WORDS, "ip",
                              {"of": "rootsift", "vocabulary": "fitted on the index", "tf": "sqrt", "weights": "idf"},
                              (VERIFY_SIZE, VERIFY_SIZE))
    if name == "rootsift":
        return DescriptorSpec("rootsift", "keypoints", 128, "l2",
                              {"method": "rootsift", "working_size": VERIFY_SIZE, "max_keypoints": VERIFY_KEYPOINTS},
                              (VERIFY_SIZE, VERIFY_SIZE))
    raise ParameterError(f"unknown descriptor {name!r}; choose from {', '.join(DESCRIPTORS)}")


def parse_specs(names: Iterable[str]) -> list[DescriptorSpec]:
    """Specs for ``names`` (order kept, duplicates refused, at least one).

    Every file is decoded once for its global descriptors, at the largest size
    any of them needs, so each records that common size as its ``draft``: a
    query is described from the same decode size as the indexed files.
    Keypoints (``"rootsift"``) have a decode of their own (:data:`VERIFY_SIZE`)
    and need a global descriptor beside them to find candidates.

    Examples
    --------
    >>> [s.draft for s in parse_specs(["phash"])], [s.draft for s in parse_specs(["phash", "embedding"])]
    ([(64, 64)], [(256, 256), (256, 256)])
    >>> [s.draft for s in parse_specs(["phash", "rootsift"])]
    [(64, 64), (512, 512)]
    """
    if isinstance(names, str):
        names = [names]
    names = list(names)
    if not names:
        raise ParameterError(f"an index needs at least one descriptor; choose from {', '.join(DESCRIPTORS)}")
    if len(set(names)) != len(names):
        raise ParameterError(f"descriptor listed twice: {names}")
    specs = [descriptor_spec(str(n)) for n in names]
    vectors = [s for s in specs if s.is_global]
    if "words" in names and "rootsift" not in names:
        raise ParameterError("the visual words are computed from the stored keypoints: add rootsift beside words")
    if not any(s.is_vector for s in specs):
        raise ParameterError(
            f"keypoints ({', '.join(names)}) only verify candidates that a global descriptor found; "
            "add phash or embedding (the default is phash, dihedral, embedding, rootsift, words)"
        )
    common = (max(s.draft[0] for s in vectors), max(s.draft[1] for s in vectors))
    return [replace(spec, draft=common) if spec.is_global else spec for spec in specs]


def describe_pixels(
    images: Sequence[np.ndarray], specs: Sequence[DescriptorSpec], *, embedder: Any = None
) -> list[dict[str, np.ndarray] | str]:
    """Compute every descriptor of ``specs`` for decoded images.

    Returns, for each image, either ``{name: vector}`` or the reason (a string)
    it could not be described. ``embedder`` is an :class:`lookalike.features.Embedder`
    (needed when an embedding is asked for).
    """
    from lookalike.errors import LookalikeError
    from lookalike.features import image_hash

    out: list[dict[str, np.ndarray] | str] = [{} for _ in images]
    for spec in specs:
        if not spec.is_global:
            continue  # keypoints come from a decode of their own: describe_keypoints
        if spec.kind in ("hash", "dihedral"):
            compute = image_hash if spec.kind == "hash" else _flat_dihedral
            for i, pixels in enumerate(images):
                entry = out[i]
                if isinstance(entry, str):
                    continue
                try:
                    entry[spec.name] = compute(pixels, method=spec.params["method"],
                                               hash_size=int(spec.params["hash_size"]))
                except (LookalikeError, ValueError, OSError) as exc:
                    out[i] = f"{spec.name}: {exc}"
            continue
        live = [i for i, entry in enumerate(out) if not isinstance(entry, str)]
        if not live:
            continue
        if embedder is None:
            raise ParameterError("an embedder is needed to compute the 'embedding' descriptor")
        try:
            vectors = embedder.embed([images[i] for i in live])
        except (LookalikeError, ValueError):  # isolate the image at fault
            vectors = None
        for j, i in enumerate(live):
            entry = out[i]
            if isinstance(entry, str):
                continue
            if vectors is not None:
                entry[spec.name] = vectors[j]
                continue
            try:
                entry[spec.name] = embedder.embed([images[i]])[0]
            except (LookalikeError, ValueError) as exc:
                out[i] = f"{spec.name}: {exc}"
    return out


def _flat_dihedral(pixels: np.ndarray, *, method: str, hash_size: int) -> np.ndarray:
    """The 8 hashes of :func:`lookalike.features.dihedral_hashes`, one after the other (the stored vector)."""
    from lookalike.features import dihedral_hashes

    return dihedral_hashes(pixels, method=method, hash_size=hash_size).ravel()
