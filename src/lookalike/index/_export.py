"""Move an index between stores and machines: :func:`export_index` writes a folder, :func:`import_index` reads it.

The export format (``lookalike-export``, version :data:`EXPORT_VERSION`) is a
folder of plain files any tool reads (numpy, pandas, DuckDB, jq)::

    export.json        format, version, the descriptors with their parameters, the source index's
                       vector backend, counts, and for each file below its SHA-256
    files.jsonl        one JSON object per catalogue row, in id order: id, path, size, mtime_ns,
                       content_hash, width, height, status, error, indexed_at
    <descriptor>.npz   per descriptor: ``ids`` (int64, the files' ids above) and either ``vectors``
                       ((n, width) array, the dtype of the descriptor: float32 embeddings, uint8
                       packed hashes) or, for keypoints, ``blobs`` (uint8, the stored records
                       end to end) with ``offsets`` (int64, n + 1)

Vectors come from the catalogue (the source of truth), never from a vector
store, so an index on Milvus exports the same as one on FAISS. An import
writes a new index (ids renumbered in the same order; every file keeps its path,
size, time, hash and descriptors) on any store, the embedded default or
Milvus, and reads back the checksums first: a damaged or truncated export is
an :class:`~lookalike.errors.IndexFormatError`, not a half-imported index.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from lookalike.errors import IndexFormatError, ParameterError

__all__ = ["EXPORT_VERSION", "export_index", "import_index"]

#: The export format version this lookalike writes and the newest it reads.
EXPORT_VERSION = 1
_FORMAT = "lookalike-export"
_BATCH = 1000


def export_index(index: Any, out: str | os.PathLike[str]) -> dict[str, Any]:
    """Write every catalogue row and descriptor of ``index`` (an open :class:`~lookalike.index.Index`) to ``out``.

    ``out`` must not exist or be an empty folder. Returns the ``export.json`` written.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from PIL import Image
    >>> from lookalike.index import Index
    >>> folder = tempfile.mkdtemp()
    >>> Image.fromarray(np.zeros((32, 32), np.uint8)).save(folder + "/black.png")
    >>> with Index.create(tempfile.mkdtemp() + "/idx", descriptors=["phash"]) as index:
    ...     _ = index.update(folder, jobs=1)
    ...     summary = export_index(index, tempfile.mkdtemp() + "/out")
    >>> summary["files"], sorted(summary["checksums"])
    (1, ['files.jsonl', 'phash.npz'])
    """
    folder = _empty_folder(out)
    catalog = index.catalog
    checksums: dict[str, str] = {}
    with catalog.reading():
        records = catalog.records()
        generation = catalog.generation()
        path = os.path.join(folder, "files.jsonl")
        with open(path, "w", encoding="utf-8") as handle:
            for record in sorted(records, key=lambda r: r.id):
                handle.write(json.dumps({
                    "id": record.id, "path": record.path, "size": record.size, "mtime_ns": record.mtime_ns,
                    "content_hash": record.content_hash, "width": record.width, "height": record.height,
                    "status": record.status, "error": record.error, "indexed_at": record.indexed_at,
                }) + "\n")
        checksums["files.jsonl"] = _sha256(path)
        for spec in index.descriptors:
            ids, blobs = catalog.vectors(spec.name)
            name = f"{spec.name}.npz"
            target = os.path.join(folder, name)
            if spec.is_vector:
                np.savez(target, ids=np.asarray(ids, np.int64), vectors=spec.from_bytes(blobs))
            else:
                offsets = np.zeros(len(blobs) + 1, np.int64)
                offsets[1:] = np.cumsum([len(b) for b in blobs])
                joined = np.frombuffer(b"".join(blobs), np.uint8)
                np.savez(target, ids=np.asarray(ids, np.int64), blobs=joined, offsets=offsets)
            checksums[name] = _sha256(target)
    from lookalike._version import __version__

    summary = {
        "format": _FORMAT, "format_version": EXPORT_VERSION, "exported_by": f"lookalike {__version__}",
        "exported_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "source": index.path, "source_generation": generation,
        "descriptors": [spec.to_json() for spec in index.descriptors],
        "vector_backend": index.backend, "files": sum(r.status == "ok" for r in records),
        "errors": sum(r.status != "ok" for r in records), "checksums": checksums,
    }
    with open(os.path.join(folder, "export.json"), "w", encoding="utf-8") as handle:  # last: marks it complete
        json.dump(summary, handle, indent=2, sort_keys=True)
        handle.write("\n")
    return summary


def import_index(source: str | os.PathLike[str], index: str | os.PathLike[str], *, backend: str | None = None,
                 backend_params: dict[str, Any] | None = None) -> Any:
    """A new index at ``index`` holding what :func:`export_index` wrote to ``source``; returned open.

    Parameters
    ----------
    source : path
        An export folder.
    index : path
        A new (or empty) index folder.
    backend, backend_params : keyword-only
        The vector store of the new index (for Milvus, as :func:`lookalike.index.vectors_backend` gives them).
        Default: the source's backend, or ``"auto"`` where it was Milvus (its address belongs to the source).

    Raises
    ------
    IndexFormatError
        ``source`` is not a complete export, was written by a newer format, or a file fails its checksum.
    """
    from lookalike.index._catalog import FileResult
    from lookalike.index._descriptors import DescriptorSpec
    from lookalike.index._index import Index

    folder = os.fspath(source)
    summary = _read_summary(folder)
    for name, digest in summary["checksums"].items():
        path = os.path.join(folder, name)
        if not os.path.exists(path) or _sha256(path) != digest:
            raise IndexFormatError(f"{path!r} is missing or damaged (its SHA-256 differs from export.json); "
                                   "export the index again")
    specs = [DescriptorSpec.from_json(d) for d in summary["descriptors"]]
    if backend is None:
        source_backend = str(summary.get("vector_backend", "auto"))
        backend = "auto" if source_backend == "milvus" else source_backend
    descriptors: dict[str, dict[int, bytes]] = {spec.name: _read_descriptor(folder, spec) for spec in specs}
    target = os.path.abspath(os.fspath(index))
    existed = os.path.exists(target)
    created = Index.create(index, descriptors=[spec.name for spec in specs], backend=backend,
                           backend_params=backend_params)
    try:
        batch: list[Any] = []
        for row in _rows(os.path.join(folder, "files.jsonl")):
            try:
                result = FileResult(str(row["path"]), size=row["size"], mtime_ns=row["mtime_ns"],
                                    content_hash=row["content_hash"], width=row["width"], height=row["height"])
                ok, file_id = row["status"] == "ok", int(row["id"])
                error = row["error"]
            except (KeyError, TypeError, ValueError) as exc:
                raise IndexFormatError(f"the export at {folder!r} holds a damaged row in files.jsonl ({exc!r}); "
                                       "export the index again") from None
            if ok:
                lacking = [name for name, held in descriptors.items() if file_id not in held]
                if lacking:
                    raise IndexFormatError(f"the export at {folder!r} has no {lacking[0]} descriptor for "
                                           f"{row['path']!r}; export the index again")
                result.vectors = {name: held[file_id] for name, held in descriptors.items()}
            else:
                result.error = str(error or "unreadable")
            batch.append(result)
            if len(batch) >= _BATCH:
                created.catalog.commit(batch)
                batch = []
        if batch:
            created.catalog.commit(batch)
        created.refresh()
    except BaseException:
        created.close()
        # no half-imported index: what this import created goes (a folder it made, else the index files)
        Index.discard(target)
        if not existed:
            import shutil

            shutil.rmtree(target, ignore_errors=True)
        raise
    return created


def _empty_folder(out: str | os.PathLike[str]) -> str:
    folder = os.path.abspath(os.fspath(out))
    if os.path.exists(folder) and (not os.path.isdir(folder) or os.listdir(folder)):
        raise ParameterError(f"cannot export to {folder!r}: it exists and is not an empty folder; give a new folder")
    os.makedirs(folder, exist_ok=True)
    return folder


def _read_summary(folder: str) -> dict[str, Any]:
    path = os.path.join(folder, "export.json")
    try:
        with open(path, encoding="utf-8") as handle:
            summary = json.load(handle)
    except FileNotFoundError:
        raise IndexFormatError(f"{folder!r} is not a complete lookalike export (no export.json); "
                               "make one with `lookalike index export`") from None
    except (OSError, ValueError) as exc:
        raise IndexFormatError(f"the export.json of {folder!r} is damaged ({exc})") from None
    if not isinstance(summary, dict) or summary.get("format") != _FORMAT:
        raise IndexFormatError(f"{path!r} is not a lookalike export")
    version = summary.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise IndexFormatError(f"{path!r} has no valid format_version: {version!r}")
    if version > EXPORT_VERSION:
        raise IndexFormatError(f"the export at {folder!r} has format version {version}; this lookalike reads up to "
                               f"{EXPORT_VERSION}: upgrade lookalike")
    if not isinstance(summary.get("checksums"), dict) or not isinstance(summary.get("descriptors"), list):
        raise IndexFormatError(f"{path!r} lists no checksums or descriptors; export the index again")
    return summary


def _read_descriptor(folder: str, spec: Any) -> dict[int, bytes]:
    with np.load(os.path.join(folder, f"{spec.name}.npz"), allow_pickle=False) as data:
        ids = [int(i) for i in data["ids"]]
        if spec.is_vector:
            vectors = data["vectors"]
            if vectors.shape != (len(ids), spec.width):
                raise IndexFormatError(f"{spec.name}.npz holds vectors of shape {vectors.shape}, expected "
                                       f"({len(ids)}, {spec.width})")
            return {i: spec.to_bytes(v) for i, v in zip(ids, vectors, strict=True)}
        blobs, offsets = data["blobs"].tobytes(), data["offsets"]
        return {i: blobs[int(offsets[j]) : int(offsets[j + 1])] for j, i in enumerate(ids)}


def _rows(path: str) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
