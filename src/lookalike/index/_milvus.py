"""A Milvus vector store: a Milvus server, or a Milvus Lite file, behind the one store interface.

Registered as the backend ``"milvus"``. An index names it with a vectors URL
(``lookalike index build --vectors URL``, or :func:`vectors_backend`), kept
in its manifest so ``search``, ``duplicates`` and ``update`` need only the
index folder:

- ``milvus-lite:///ABS/PATH/FILE.db`` or ``milvus-lite:REL/PATH.db`` (relative
  to the current folder, recorded absolute): a Milvus Lite file, for tests and
  small set-ups (one process owns a file: with Ray, the driver does);
- ``milvus://HOST:PORT/COLLECTION``: a Milvus server (``COLLECTION`` defaults
  to ``lookalike_embedding``).

The SQLite catalogue stays the source of truth. The index records, beside
the store (``vectors/embedding.json`` and a small pointer file), the catalogue
generation the collection reflects; when it opens a collection older than the
catalogue (a crash between a catalogue commit and the store write, a run
stopped halfway) it replays the catalogue's change log into it, and rebuilds
the collection from the catalogue when the log does not reach back far
enough. Writes are upserts, so replaying a change twice is harmless.

Search is exact with the default ``index_type="FLAT"`` (the top-k equals
numpy's brute force up to ties); ``"HNSW"`` and the other Milvus index types
are approximate (``exact`` is False): measure their recall against ``FLAT``.
Milvus Lite 3.x needs a ``flush`` after inserts (done by :meth:`MilvusStore.add`)
and builds HNSW in the background, searching by brute force until it is ready.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from lookalike.errors import IndexFormatError, MissingDependencyError, ParameterError, ServiceError
from lookalike.index._vectors import (
    _as_float,
    _as_ids,
    _check_k,
    _check_metric,
    _pad,
    _write_atomic,
    register_backend,
)

__all__ = ["DEFAULT_COLLECTION", "MilvusStore", "vectors_backend"]

DEFAULT_COLLECTION = "lookalike_embedding"
_INSTALL_HINT = "install the scale extra: pip install 'lookalike[scale]' (pymilvus and milvus-lite)"
_BATCH = 2_000  # rows per upsert: 2,000 x 1280 float32 = 10 MB, well under gRPC's 64 MB message limit
_QUERY_IDS = 10_000  # ids per "id in [...]" filter
_OWNER = "lookalike.owner"


def vectors_backend(url: str) -> tuple[str, dict[str, Any]]:
    """The backend name and parameters a vectors URL stands for.

    Examples
    --------
    >>> backend, params = vectors_backend("milvus://db.example.org:19530/photos")
    >>> backend, params["uri"], params["collection"], len(params["owner"])
    ('milvus', 'http://db.example.org:19530', 'photos', 16)
    >>> vectors_backend("milvus-lite:///data/photos.db")[1]["uri"]
    '/data/photos.db'

    ``owner`` is a new random token: the index that records these parameters owns the collection,
    and a store never drops a collection another index (or another program) owns.

    Raises
    ------
    ParameterError
        The URL is not one of the forms above.
    """
    if not isinstance(url, str) or not url:
        raise ParameterError(f"a vectors URL is a string such as milvus-lite:///PATH.db, got {url!r}")
    scheme, _, rest = url.partition(":")
    if scheme == "milvus-lite":
        path = rest[2:] if rest.startswith("//") else rest
        if not path or not path.endswith(".db"):
            raise ParameterError(f"a Milvus Lite URL names a .db file: milvus-lite:///ABS/PATH.db or "
                                 f"milvus-lite:REL/PATH.db; got {url!r}")
        return "milvus", {"uri": os.path.abspath(path), "collection": DEFAULT_COLLECTION, "owner": _token()}
    if scheme == "milvus":
        parts = urlsplit(url)
        if not parts.hostname:
            raise ParameterError(f"a Milvus server URL is milvus://HOST:PORT/COLLECTION; got {url!r}")
        collection = parts.path.strip("/") or DEFAULT_COLLECTION
        if not collection.replace("_", "a").isalnum():
            raise ParameterError(f"a Milvus collection name holds letters, digits and '_' only; got {collection!r}")
        return "milvus", {"uri": f"http://{parts.hostname}:{parts.port or 19530}", "collection": collection,
                          "owner": _token()}
    raise ParameterError(f"unknown vectors URL {url!r}: give milvus-lite:///ABS/PATH.db, milvus-lite:REL/PATH.db "
                         "or milvus://HOST:PORT/COLLECTION")


def _token() -> str:
    import secrets

    return secrets.token_hex(8)


def _client(uri: str) -> Any:
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise MissingDependencyError(f"the milvus vector store needs pymilvus; {_INSTALL_HINT}") from None
    if not uri.startswith(("http://", "https://")):
        folder = os.path.dirname(uri)
        if folder and not os.path.isdir(folder):
            raise ParameterError(f"cannot create the Milvus Lite file {uri!r}: the folder {folder!r} does not exist")
    try:
        return MilvusClient(uri=uri)
    except Exception as exc:  # pymilvus raises MilvusException (or a gRPC error) for every connection failure
        raise ServiceError(f"cannot reach Milvus at {uri!r}: {exc}; check that the server runs and the address "
                           "(milvus://HOST:PORT/COLLECTION) is right") from None


class MilvusStore:
    """Float vectors in a Milvus collection (primary key ``id`` int64, field ``vector``), FAISS conventions.

    ``MilvusStore(dim, metric=..., uri=..., collection=...)`` makes the
    collection anew (an existing one of that name is dropped: the index
    rebuilds it from its catalogue); :meth:`load` attaches to one a previous
    :meth:`save` described.

    Parameters
    ----------
    dim : int
    metric : {"ip", "l2"}, keyword-only
    uri : str, keyword-only
        A Milvus Lite file (absolute path ending in ``.db``) or a server (``http://HOST:PORT``).
    collection : str, keyword-only
    index_type : str, keyword-only
        ``"FLAT"`` (exact, default), ``"HNSW"``, ``"IVF_FLAT"``...: any Milvus index type.
    owner : str, keyword-only
        Recorded in the collection's properties (``lookalike.owner``); an existing collection is
        dropped and made anew only when it carries the same owner.

    Raises
    ------
    ParameterError
        The collection exists and belongs to another owner.
    ServiceError
        Milvus cannot be reached.
    """

    backend = "milvus"

    def __init__(self, dim: int, *, metric: str = "ip", uri: str = "", collection: str = DEFAULT_COLLECTION,
                 index_type: str = "FLAT", owner: str = "", _create: bool = True) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ParameterError(f"dim must be a positive integer, got {dim!r}")
        if not uri:
            raise ParameterError("a milvus store needs uri=: a Milvus Lite .db file or http://HOST:PORT "
                                 "(lookalike index build --vectors milvus-lite:///PATH.db)")
        self.dim = dim
        self.metric = _check_metric(metric)
        self.uri = uri
        self.collection = collection
        self.index_type = str(index_type).upper()
        self.exact = self.index_type == "FLAT"
        self.owner = str(owner)
        self._client = _client(uri)
        if _create:
            self._create()
        else:
            if not self._client.has_collection(collection):
                raise IndexFormatError(f"the Milvus collection {collection!r} at {uri!r} is gone; it is rebuilt "
                                       "from the catalogue")
            self._client.load_collection(collection)

    def _create(self) -> None:
        from pymilvus import DataType

        client = self._client
        if client.has_collection(self.collection):
            properties = client.describe_collection(self.collection).get("properties") or {}
            theirs = properties.get(_OWNER)
            if theirs is None or theirs != self.owner:
                whose = f"another index's (owner {theirs})" if theirs else "another program's"
                raise ParameterError(
                    f"the Milvus collection {self.collection!r} at {self.uri!r} holds {whose} vectors; lookalike "
                    "never drops it: give another collection (milvus://HOST:PORT/OTHER, or another .db file) "
                    "or drop it yourself")
            client.drop_collection(self.collection)
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        params = client.prepare_index_params()
        params.add_index("vector", index_type=self.index_type, metric_type=self.metric.upper())
        client.create_collection(self.collection, schema=schema, index_params=params,
                                 properties={_OWNER: self.owner})

    def __repr__(self) -> str:
        return f"MilvusStore(uri={self.uri!r}, collection={self.collection!r}, dim={self.dim}, metric={self.metric!r})"

    def __len__(self) -> int:
        rows = self._client.query(self.collection, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def ids(self) -> np.ndarray:
        iterator = self._client.query_iterator(self.collection, batch_size=_QUERY_IDS, filter="", output_fields=["id"])
        found: list[int] = []
        try:
            while batch := iterator.next():
                found += [int(row["id"]) for row in batch]
        finally:
            iterator.close()
        return np.array(found, np.int64)

    def add(self, ids: Any, vectors: Any) -> None:
        """Write ``vectors`` under ``ids`` (an upsert: writing an id again replaces it, so a replayed change is
        harmless), then flush so that searches see them at once."""
        array = _as_float(vectors, self.dim)
        keys = _as_ids(ids, len(array))
        if not len(keys):
            return
        if len(np.unique(keys)) != len(keys):
            raise ParameterError("ids must be unique within one add()")
        for start in range(0, len(keys), _BATCH):
            rows = [{"id": int(i), "vector": v} for i, v in zip(keys[start : start + _BATCH],
                                                               array[start : start + _BATCH], strict=True)]
            self._client.upsert(self.collection, rows)
        self._client.flush(self.collection)

    def _present(self, keys: np.ndarray) -> list[int]:
        found: list[int] = []
        for start in range(0, len(keys), _QUERY_IDS):
            chunk = ", ".join(str(int(i)) for i in keys[start : start + _QUERY_IDS])
            found += [int(r["id"]) for r in self._client.query(self.collection, filter=f"id in [{chunk}]",
                                                                output_fields=["id"])]
        return found

    def remove(self, ids: Any) -> int:
        keys = np.unique(_as_ids(ids))
        present = self._present(keys) if len(keys) else []
        if present:
            self._client.delete(self.collection, ids=present)
            self._client.flush(self.collection)
        return len(present)

    def search(self, queries: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = _check_k(k)
        array = _as_float(queries, self.dim, "queries")
        n = len(array)
        if n == 0:
            return _pad(np.zeros((0, 0), np.float32), np.zeros((0, 0), np.int64), k, self.metric)
        hits = self._client.search(self.collection, data=[row for row in array], limit=k, output_fields=["id"],
                                   search_params={"metric_type": self.metric.upper()})
        width = max((len(h) for h in hits), default=0)
        distances = np.full((n, width), -np.inf if self.metric == "ip" else np.inf, np.float32)
        found = np.full((n, width), -1, np.int64)
        for row, hit in enumerate(hits):
            for col, entry in enumerate(hit):
                found[row, col] = int(entry["id"])
                distances[row, col] = float(entry["distance"])
        return _pad(distances, found, k, self.metric)

    def state(self) -> dict[str, Any]:
        return {"uri": self.uri, "collection": self.collection, "index_type": self.index_type, "owner": self.owner}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Flush the collection and write a pointer to it (uri, collection, dim, metric) at ``path``."""
        self._client.flush(self.collection)
        text = json.dumps({"format": "lookalike-milvus", "uri": self.uri, "collection": self.collection,
                           "dim": self.dim, "metric": self.metric, "index_type": self.index_type,
                           "owner": self.owner}) + "\n"

        def write(tmp: str) -> None:
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write(text)

        _write_atomic(os.fspath(path), write)

    @classmethod
    def load(cls, path: str | os.PathLike[str], **params: Any) -> MilvusStore:
        """Attach to the collection a :meth:`save` pointed at (loaded for search)."""
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
            return cls(int(data["dim"]), metric=str(data["metric"]), uri=str(data["uri"]),
                       collection=str(data["collection"]), index_type=str(data.get("index_type", "FLAT")),
                       owner=str(data.get("owner", "")), _create=False)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexFormatError(f"the Milvus pointer {os.fspath(path)!r} is damaged ({exc})") from None


register_backend("milvus", MilvusStore, suffix=".milvus")
