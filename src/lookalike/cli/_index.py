"""``lookalike index build|update|add|remove|export|import|info``: make and keep a persistent index of a folder.

Where the index lives: ``--index IDX`` everywhere. ``build`` and ``update``
default to ``DIR/.lookalike-index`` (a hidden folder inside the folder indexed,
never mistaken for images); ``add``, ``remove`` and ``info`` need ``--index``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import time
from typing import Any, TextIO

from lookalike.cli._engine import add_engine_options, engine_jobs
from lookalike.cli._options import cli_message, skipped_path
from lookalike.cli._progress import ProgressBar
from lookalike.errors import ParameterError

_LISTED_ERRORS = 10
# index.DESCRIPTORS, kept light
_DESCRIPTOR_NAMES = ("ahash", "dhash", "phash", "whash", "dihedral", "embedding", "rootsift", "words")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "index",
        help="build and keep current a persistent index of a folder of images",
        description=(
            "An index is a folder holding a SQLite catalogue of the files (path, size, time, SHA-256, "
            "size in pixels) with their descriptors (perceptual hash, deep embedding) and vector indexes "
            "for fast search. Builds resume where an interrupted one stopped; updates only read new and "
            "changed files."
        ),
    )
    # the actions write help and usage errors to the streams of this main() call, as every parser does
    kind: Any = type(parser)
    make: Any = functools.partial(kind, stdout=parser.stdout, stderr=parser.stderr)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=make)
    actions.required = True

    build = actions.add_parser("build", help="index a folder (creating the index, or resuming / updating it)",
                               description="Index every image of DIR (sub-folders too, unless --no-recursive).")
    build.add_argument("folder", metavar="DIR", help="folder of images")
    _index_option(build, required=False)
    build.add_argument("--descriptor", "-d", action="append", choices=_DESCRIPTOR_NAMES, default=None,
                       metavar="NAME",
                       help=f"descriptor to compute, repeatable: {', '.join(_DESCRIPTOR_NAMES)} (rootsift: the "
                       "keypoints that verify search results; dihedral: the pHashes of the 8 rotations and "
                       "flips; words: visual words of the keypoints, for duplicates; default for a new index: "
                       "phash, dihedral, embedding, rootsift and words; leave rootsift out for a faster build "
                       "and slower verified searches)")
    build.add_argument("--backend", default="auto", choices=("auto", "flat", "hnsw", "ivf", "numpy"),
                       help="vector index of the embedding (default auto: exact up to 50,000 images, HNSW "
                       "up to 250,000, IVF beyond)")
    build.add_argument("--force", action="store_true",
                       help="replace the index at IDX (a damaged one too) with a new one, reading every file again")
    build.add_argument("--vectors", default=None, metavar="URL",
                       help="keep the embedding's vectors in Milvus instead of the index folder, for a new index: "
                       "milvus-lite:///ABS/PATH.db or milvus-lite:REL/PATH.db (a Milvus Lite file), "
                       "milvus://HOST:PORT/COLLECTION (a server); remembered by the index")
    _common(build)
    build.set_defaults(run=run_build)

    update = actions.add_parser("update", help="add new files, re-index changed ones, drop deleted ones",
                                description="Bring the index in line with DIR and print what changed.")
    update.add_argument("folder", metavar="DIR", help="folder of images")
    _index_option(update, required=False)
    _common(update)
    update.set_defaults(run=run_update)

    add = actions.add_parser(
        "add", help="index files (a folder adds every image under it)",
        description="Add image files to an existing index (a folder stands for every image under it); files "
        "already indexed and unchanged are skipped, changed ones are read again. Unreadable files are listed.")
    add.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    _index_option(add, required=True)
    add.add_argument("--jobs", "-j", type=int, default=None, help="worker processes (default: every CPU)")
    add_engine_options(add)
    add.set_defaults(run=run_add)

    remove = actions.add_parser(
        "remove", help="drop files from the index (nothing on disk is touched)",
        description="Drop files from an index (a folder drops every file indexed under it); the files on disk are "
        "not touched. A path that is not in the index is named; exit code 2 when none of the paths was.")
    remove.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to drop")
    _index_option(remove, required=True)
    remove.set_defaults(run=run_remove)

    export = actions.add_parser("export", help="write the index to a folder of JSON and NPZ files (to move it)",
                                description="Write every catalogue row and descriptor of the index to OUT "
                                "(files.jsonl, one .npz per descriptor, export.json with checksums).")
    export.add_argument("out", metavar="OUT", help="a new folder")
    _index_option(export, required=True)
    export.set_defaults(run=run_export)

    imp = actions.add_parser("import", help="make a new index from a folder written by `index export`",
                             description="Read an export folder into a new index, on any vector store.")
    imp.add_argument("source", metavar="OUT", help="the folder `index export` wrote")
    _index_option(imp, required=True)
    imp.add_argument("--vectors", default=None, metavar="URL",
                     help="vector store of the new index (milvus-lite:///PATH.db, milvus://HOST:PORT/COLLECTION; "
                     "default: the exported index's own kind, the embedded store where it was Milvus)")
    imp.set_defaults(run=run_import)

    info = actions.add_parser(
        "info", help="counts, descriptors, format version, size on disk",
        description="Describe an index: where it is, its format version and who wrote it, how many images it "
        "holds and how many files could not be read, its descriptors and vector stores, its size on disk.")
    _index_option(info, required=True)
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(run=run_info)


def _index_option(parser: argparse.ArgumentParser, *, required: bool) -> None:
    default = " (default: DIR/.lookalike-index)" if not required else ""
    parser.add_argument("--index", "-i", required=required, metavar="IDX", help=f"the index folder{default}")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", "-j", type=int, default=None, help="worker processes (default: every CPU)")
    parser.add_argument("--recursive", action=argparse.BooleanOptionalAction, default=True,
                        help="also index sub-folders (default: yes)")
    add_engine_options(parser)


def _check_jobs(args: argparse.Namespace) -> None:
    if args.jobs is not None and args.jobs < 1:
        raise ParameterError(f"--jobs must be at least 1, got {args.jobs}")


# -- actions ---------------------------------------------------------------------------------------

def run_build(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from lookalike.index import Index, build_index, default_index_path

    _check_jobs(args)
    path = args.index or default_index_path(args.folder)
    existed = os.path.exists(os.path.join(path, "manifest.json"))
    backend, backend_params = _vectors(args)  # a bad --vectors / --backend must not cost the old index
    if args.force and existed:
        if not os.path.isdir(args.folder):
            raise ParameterError(f"expected a folder of images, got {args.folder!r}: it is not a folder")
        Index.discard(path)
        existed = False
    started = time.perf_counter()
    if existed and backend_params is not None:
        _check_same_vectors(path, backend_params)
    if existed and args.backend != "auto":
        _check_same_backend(path, args.backend)
    with engine_jobs(args) as jobs, ProgressBar(err) as progress:
        index, report = build_index(args.folder, path, descriptors=args.descriptor, backend=backend,
                                    backend_params=backend_params, recursive=args.recursive, jobs=jobs,
                                    progress=progress)
    with index:
        verb = "updated" if existed else "built"
        _summary(report, time.perf_counter() - started, out, err, args, verb=verb)
        out.write(f"index: {index.path} ({len(index)} images, {_size(index.info().size_bytes)})\n")
    return _exit_code(report, err)


def run_update(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from lookalike.index import Index, default_index_path

    _check_jobs(args)
    path = args.index or default_index_path(args.folder)
    started = time.perf_counter()
    with Index.open(path) as index:
        with engine_jobs(args) as jobs, ProgressBar(err) as progress:
            report = index.update(args.folder, recursive=args.recursive, jobs=jobs, progress=progress)
        _summary(report, time.perf_counter() - started, out, err, args, verb="updated")
        out.write(f"index: {index.path} ({len(index)} images, {_size(index.info().size_bytes)})\n")
    return _exit_code(report, err)


def run_add(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from lookalike.index import Index

    _check_jobs(args)
    started = time.perf_counter()
    with Index.open(args.index) as index:
        with engine_jobs(args) as jobs, ProgressBar(err) as progress:
            report = index.add(args.paths, jobs=jobs, progress=progress)
        _summary(report, time.perf_counter() - started, out, err, args, verb="updated")
        out.write(f"index: {index.path} ({len(index)} images)\n")
    return _exit_code(report, err)


def run_remove(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from lookalike.index import Index

    with Index.open(args.index) as index:
        held = index.held(args.paths)
        count = index.remove(args.paths)
        out.write(f"removed {count} file{'s' if count != 1 else ''} from the index; {len(index)} images left\n")
    for path, n in zip(args.paths, held, strict=True):
        if n == 0:
            what = "no file under it is in the index" if os.path.isdir(path) else "it is not in the index"
            err.write(f"lookalike: not removed: {path}: {what} {args.index}\n")
    if count == 0:
        err.write("lookalike: error: none of the paths given was in the index\n")
        return 2
    return 0


def run_export(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from lookalike.index import Index, export_index

    with Index.open(args.index) as index:
        summary = export_index(index, args.out)
    out.write(f"exported {summary['files']} images ({summary['errors']} unreadable) to {os.path.abspath(args.out)}\n")
    return 0


def run_import(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from lookalike.index import import_index, vectors_backend

    backend, params = vectors_backend(args.vectors) if args.vectors else (None, None)
    with import_index(args.source, args.index, backend=backend, backend_params=params) as index:
        out.write(f"index: {index.path} ({len(index)} images, {_size(index.info().size_bytes)})\n")
    return 0


def run_info(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from lookalike.index import Index

    with Index.open(args.index) as index:
        info = index.info()
    if args.json:
        out.write(json.dumps(info.to_dict(), allow_nan=False) + "\n")
        return 0
    out.write(f"index:          {info.path}\n")
    out.write(f"format version: {info.format_version} (created by {info.created_by}, {info.created_at})\n")
    out.write(f"images:         {info.files}\n")
    out.write(f"errors:         {info.errors} unreadable file{'s' if info.errors != 1 else ''}\n")
    out.write(f"descriptors:    {', '.join(info.descriptors)}\n")
    for name, store in info.stores.items():
        if store["backend"] == "catalogue":
            state = f"keypoints of {store['count']} file{'s' if store['count'] != 1 else ''}" + (
                f", {_size(store['bytes'])}" if store.get("bytes") is not None else "")
        elif store["backend"] is None:
            state = "no snapshot yet (built on first search)"
        else:
            state = f"{store['backend']}, {store['count']} vectors" + (
                " (older than the catalogue: brought up to date on first search)" if store["stale"] else "")
        out.write(f"  {name + ':':<14}{state}\n")
    out.write(f"size on disk:   {_size(info.size_bytes)}\n")
    return 0


def _vectors(args: argparse.Namespace) -> tuple[str, dict[str, Any] | None]:
    """``--backend`` and ``--vectors URL`` as a backend name and its parameters."""
    if args.vectors is None:
        return args.backend, None
    from lookalike.index import vectors_backend

    if args.backend != "auto":
        raise ParameterError(f"--vectors {args.vectors} chooses the vector store; leave out --backend {args.backend}")
    return vectors_backend(args.vectors)


def _check_same_backend(path: str, backend: str) -> None:
    """``--backend`` chooses a new index's vector index; on an existing one it did nothing, silently."""
    try:
        with open(os.path.join(path, "manifest.json"), encoding="utf-8") as handle:
            held = str(json.load(handle).get("vector_backend", "auto"))
    except (OSError, ValueError):
        return  # opening the index says what is wrong with it
    if held != backend:
        raise ParameterError(
            f"the index at {path} was built with --backend {held}; --backend chooses the vector index of a new "
            f"index: give --force to rebuild it with --backend {backend}, or leave --backend out to update it")


def _check_same_vectors(path: str, params: dict[str, Any]) -> None:
    """``--vectors`` on an existing index must name the store it already has (it chooses a new index's store)."""
    try:
        with open(os.path.join(path, "manifest.json"), encoding="utf-8") as handle:
            held = json.load(handle).get("backend_params") or {}
    except (OSError, ValueError):
        return  # a damaged manifest: opening the index says so (this raised a JSONDecodeError traceback)
    if (held.get("uri"), held.get("collection")) != (params["uri"], params["collection"]):
        where = f"{held['uri']} (collection {held.get('collection')})" if held.get("uri") else "the index folder"
        raise ParameterError(
            f"the index at {path} keeps its vectors in {where}; --vectors chooses the store of a new index: to move "
            "this one, `lookalike index export` it and `lookalike index import --vectors URL` the export")


# -- output ------------------------------------------------------------------------------------------

def _size(n: int) -> str:
    value = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"  # pragma: no cover


def _exit_code(report: Any, err: TextIO) -> int:
    """0 when the run indexed (or found current) any file; 2 when every file it read failed."""
    if report.errors and report.added + report.changed + report.unchanged == 0:
        err.write(f"lookalike: error: none of the {len(report.errors)} image files could be indexed\n")
        return 2
    return 0


def _summary(report: Any, elapsed: float, out: TextIO, err: TextIO, args: argparse.Namespace, *, verb: str) -> None:
    errors = len(report.errors)
    out.write(
        f"{verb} in {elapsed:.1f} s: {report.added} added, {report.changed} changed, {report.removed} removed, "
        f"{report.unchanged} unchanged, {errors} error{'s' if errors != 1 else ''}\n"
    )
    if errors:
        err.write(f"lookalike: {errors} file{'s' if errors != 1 else ''} could not be indexed:\n")
        for item in report.errors[:_LISTED_ERRORS]:
            err.write(f"  {skipped_path(item.path)}: {cli_message(item.reason, args)}\n")
        if errors > _LISTED_ERRORS:
            err.write(f"  ... and {errors - _LISTED_ERRORS} more\n")
