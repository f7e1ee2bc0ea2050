"""Moving duplicates away, safely, and putting them back.

:func:`move_duplicates` never deletes and never overwrites: each non-keeper of a
:class:`~lookalike.pipelines.DuplicateReport` is moved to a destination folder
under its path relative to the folder searched, a manifest (JSON: from, to,
SHA-256) records every move, and :func:`undo_moves` puts the files back from it.
"""

from __future__ import annotations

import datetime
import errno
import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lookalike.errors import ParameterError
from lookalike.pipelines._duplicates import _under

if TYPE_CHECKING:
    from lookalike.pipelines._duplicates import DuplicateReport

__all__ = ["MoveReport", "check_destination", "move_duplicates", "undo_moves"]

_MANIFEST_FORMAT = "lookalike-moves"


@dataclass(frozen=True)
class MoveReport:
    """What :func:`move_duplicates` or :func:`undo_moves` did."""

    moved: tuple[tuple[str, str], ...] = ()
    manifest: str | None = None
    problems: tuple[str, ...] = field(default=())
    #: Files :func:`undo_moves` found back in their place already (an undo run before), unchanged.
    already_restored: tuple[str, ...] = field(default=())


# -- moving --------------------------------------------------------------------------------------------

def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _move_no_overwrite(src: str, dst: str) -> None:
    """Move ``src`` to ``dst``; fails with FileExistsError rather than replace anything at ``dst``.

    When ``src`` cannot be deleted (a read-only folder), the copy just made at
    ``dst`` is deleted again before the error goes up: a failed move leaves no stray copy.
    """
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    try:
        os.link(src, dst)  # fails if dst exists: no window in which a file could be replaced
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        try:
            with open(src, "rb") as reader, open(dst, "xb") as writer:  # "x": never replaces
                shutil.copyfileobj(reader, writer, 1 << 20)
                writer.flush()
                os.fsync(writer.fileno())
            shutil.copystat(src, dst)
        except BaseException:
            _unlink_quietly(dst)
            raise
    try:
        os.unlink(src)
    except BaseException:
        _unlink_quietly(dst)  # the copy (or second link) is not a move: take it back
        raise


def _make_link(keeper: str, place: str, kind: str, *, moved_to: str) -> None:
    """A link to ``keeper`` at ``place`` (just vacated); on failure the file at ``moved_to`` goes back there."""
    try:
        if kind == "hard":
            os.link(keeper, place)
        else:
            os.symlink(keeper, place)
    except OSError:
        _move_no_overwrite(moved_to, place)
        raise


def _is_link_to(place: str, keeper: str, kind: str) -> bool:
    try:
        if kind == "symbolic":
            return os.path.islink(place) and os.readlink(place) == keeper
        return not os.path.islink(place) and os.path.samefile(place, keeper)
    except OSError:
        return False


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _cannot_change(folder: str) -> str | None:
    """Why files cannot be created in or deleted from ``folder`` (None when they can, as far as we can tell)."""
    probe = folder
    while not os.path.isdir(probe):  # a destination not made yet: its first existing parent decides
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if os.access(probe, os.W_OK | os.X_OK):
        return None
    try:
        read_only = bool(os.statvfs(probe).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    return "it is on a read-only medium" if read_only else "you have no write permission there"


def _write_manifest(path: str, moves: list[dict[str, str]], roots: Sequence[str]) -> None:
    data = {"format": _MANIFEST_FORMAT, "version": 1,
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "roots": list(roots), "moves": moves,
            "undo": f"lookalike duplicates --undo {path}"}
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")
    os.replace(tmp, path)


def check_destination(destination: str | os.PathLike[str], roots: Sequence[str | os.PathLike[str]]) -> None:
    """Refuse a destination inside a searched folder: a later search would find the moved files again.

    Raises
    ------
    ParameterError
        ``destination`` is one of ``roots`` or lies inside one (symbolic links resolved).
    """
    from lookalike.io import resolve_path

    dest = resolve_path(destination)
    for root in roots:
        resolved = resolve_path(root)
        if _under(dest, resolved):
            raise ParameterError(
                f"the destination {os.fspath(destination)!r} is inside the searched folder {os.fspath(root)!r}: the "
                "moved files would be found again by the next search; choose a folder outside it"
            )


def move_duplicates(
    report: DuplicateReport, destination: str | os.PathLike[str], *, manifest: str | os.PathLike[str] | None = None,
    link: str | None = None,
) -> MoveReport:
    """Move every non-keeper of ``report`` into ``destination``, keeping its path relative to its folder.

    With ``link="hard"`` or ``"symbolic"``, each moved file's old place then gets a
    link to its group's keeper (a hard link needs the same file system), so whatever
    opened it there still finds the picture; :func:`undo_moves` removes the link
    (only when it still is that link) and puts the file back.

    Nothing is deleted and nothing is overwritten: if any target already
    exists, a file to move or a keeper is gone, or its size is no longer the
    one in the report (it changed since it was indexed), no file is moved and
    :class:`~lookalike.errors.ParameterError` names it. The manifest (default
    ``destination/lookalike-moves-<time>.json``) lists ``from``, ``to`` and
    ``sha256`` of every move, and is written even if a move fails part-way;
    :func:`undo_moves` reverses it.

    In a two-folder report only files of the second folder are moved. Hard links of
    a keeper (``DuplicateMember.hard_link``) are not moved: they take no space of their own.
    Nor is a file outside the searched folders (one a symbolic link inside them points to:
    the report knows it by its real path): it is listed in ``problems`` and stays where it is.

    Returns
    -------
    MoveReport
    """
    if link not in (None, "hard", "symbolic"):
        raise ParameterError(f"link must be None, 'hard' or 'symbolic'; got {link!r}")
    dest = os.path.abspath(os.fspath(destination))
    check_destination(dest, report.roots)
    plan: list[tuple[str, str]] = []
    keeper_of: dict[str, str] = {}
    outside: list[str] = []
    sizes: dict[str, int | None] = {}
    for group in report.groups:
        for member in group.members:
            root = report.roots[member.root] if member.root < len(report.roots) else ""
            if (len(report.roots) == 2 and member.root != 1) or member.hard_link:
                continue  # a hard link of the keeper is the keeper's own bytes: moving it frees nothing
            if not (root and _under(member.path, root)):
                # reached through a symbolic link: moving the file it points to would move a file of another
                # folder and leave the link (and any other link to it) pointing at nothing
                outside.append(f"{member.path}: outside the searched folder (a symbolic link there points to it); "
                               "not moved")
                continue
            plan.append((member.path, os.path.join(dest, os.path.relpath(member.path, root))))
            keeper_of[member.path] = group.keeper.path
            sizes[member.path] = member.size
            sizes[group.keeper.path] = group.keeper.size
    for src, _dst in plan:
        if _under(dest, src):
            raise ParameterError(f"cannot move {src!r} into a folder inside itself")
    targets = [dst for _src, dst in plan]
    if len(set(targets)) != len(targets):
        raise ParameterError("two files would be moved to the same place; move the groups of each folder separately")
    clashes = [dst for dst in targets if os.path.lexists(dst)]
    if clashes:
        raise ParameterError(
            f"refusing to move: {clashes[0]!r} already exists"
            + (f" (and {len(clashes) - 1} more targets)" if len(clashes) > 1 else "")
            + "; nothing was moved. Choose an empty --move-to folder, or move those files away first"
        )
    missing = [src for src, _dst in plan if not os.path.isfile(src)]
    if missing:
        raise ParameterError(f"refusing to move: {missing[0]!r} no longer exists (update the index); nothing was moved")
    gone = sorted({keeper for keeper in keeper_of.values() if not os.path.isfile(keeper)})
    if gone:
        raise ParameterError(f"refusing to move: the keeper {gone[0]!r} no longer exists, so its duplicates may be the "
                             "last copies (update the index and search again); nothing was moved")
    for path, size in sizes.items():
        try:
            now = os.stat(path).st_size
        except OSError as exc:
            raise ParameterError(f"refusing to move: cannot read {path!r} ({exc.strerror or exc}); nothing was "
                                 "moved") from None
        if size is not None and now != size:
            raise ParameterError(f"refusing to move: {path!r} changed since it was indexed ({size} bytes then, {now} "
                                 "now; update the index and search again); nothing was moved")
    if link == "hard":
        for src, _dst in plan:
            if os.stat(src).st_dev != os.stat(keeper_of[src]).st_dev:
                raise ParameterError(f"refusing to move: --link hard cannot link {src!r} to its keeper "
                                     f"{keeper_of[src]!r} on another file system; use --link symbolic; nothing was "
                                     "moved")
    for folder in [*sorted({os.path.dirname(src) for src, _dst in plan}), dest]:
        why = _cannot_change(folder)
        if why is not None:
            raise ParameterError(
                f"refusing to move: files cannot be {'moved out of' if folder != dest else 'put in'} {folder!r} "
                f"({why}); nothing was moved"
            )
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    manifest_path = os.path.abspath(os.fspath(manifest)) if manifest is not None else os.path.join(
        dest, f"lookalike-moves-{stamp}.json")
    if os.path.lexists(manifest_path):
        raise ParameterError(f"refusing to overwrite the existing manifest {manifest_path!r}; nothing was moved")
    os.makedirs(os.path.dirname(manifest_path), exist_ok=True)
    moves: list[dict[str, str]] = []
    done: list[tuple[str, str]] = []
    for src, dst in plan:
        digest = _sha256(src)
        entry = {"from": src, "to": dst, "sha256": digest}
        if link is not None:
            entry.update(link=link, keeper=keeper_of[src])
        # the manifest names each move before it happens: a process killed mid-move leaves a manifest
        # that --undo understands (an entry whose file is still in its place is "already restored")
        _write_manifest(manifest_path, [*moves, entry], report.roots)
        try:
            _move_no_overwrite(src, dst)
            if link is not None:
                _make_link(keeper_of[src], src, link, moved_to=dst)
        except OSError as exc:
            before = len(moves)
            stranded = os.path.lexists(dst) and not os.path.lexists(src)
            if stranded:
                moves.append(entry)  # moved, but neither linked nor put back: the manifest must still name it
            if moves:
                _write_manifest(manifest_path, moves, report.roots)
            else:
                _unlink_quietly(manifest_path)  # nothing moved: nothing to undo
            where = (f"{before} file{'s' if before != 1 else ''} moved before it"
                     + (" and this one left at the destination" if stranded else "")
                     + f", listed in {manifest_path!r} (undo: lookalike duplicates --undo {manifest_path})" if moves
                     else "nothing was moved")
            raise ParameterError(f"cannot move {src!r} to {dst!r}: {exc.strerror or exc}; {where}") from None
        moves.append(entry)
        done.append((src, dst))
    _write_manifest(manifest_path, moves, report.roots)
    return MoveReport(tuple(done), manifest_path, tuple(outside))


def undo_moves(manifest: str | os.PathLike[str]) -> MoveReport:
    """Move the files listed in a manifest of :func:`move_duplicates` back where they came from.

    A file is put back only when its original place is free and its SHA-256
    still matches; anything else is left where it is and listed in
    ``problems``. Nothing is deleted or overwritten. The manifest is kept.
    """
    path = os.fspath(manifest)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise ParameterError(f"no such manifest: {path!r}") from None
    except (OSError, ValueError) as exc:
        raise ParameterError(f"cannot read the manifest {path!r}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != _MANIFEST_FORMAT or not isinstance(data.get("moves"), list):
        raise ParameterError(f"{path!r} is not a manifest written by lookalike duplicates --move-to")
    restored: list[tuple[str, str]] = []
    already: list[str] = []
    problems: list[str] = []
    for entry in reversed(data["moves"]):
        try:
            src, dst, digest = str(entry["from"]), str(entry["to"]), str(entry["sha256"])
        except (KeyError, TypeError):
            problems.append(f"a damaged entry in the manifest: {entry!r}")
            continue
        kind, keeper = entry.get("link"), entry.get("keeper")
        if kind in ("hard", "symbolic") and isinstance(keeper, str) and os.path.isfile(dst) and _is_link_to(
                src, keeper, str(kind)) and _sha256(dst) == digest:
            os.unlink(src)  # the link --link left in the file's place: the file itself comes back
        if os.path.lexists(src) and not os.path.lexists(dst) and os.path.isfile(src) and _sha256(src) == digest:
            already.append(src)  # put back by an earlier undo (or never moved: a run stopped before its move)
        elif os.path.lexists(src):
            problems.append(f"{src}: something is already there; {dst} left where it is")
        elif not os.path.isfile(dst):
            problems.append(f"{dst}: no longer there; cannot put back {src}")
        elif _sha256(dst) != digest:
            problems.append(f"{dst}: changed since it was moved (SHA-256 differs); left where it is")
        else:
            try:
                _move_no_overwrite(dst, src)
            except OSError as exc:
                problems.append(f"{dst}: cannot move back to {src}: {exc.strerror or exc}")
                continue
            restored.append((dst, src))
    return MoveReport(tuple(restored), path, tuple(problems), tuple(already))
