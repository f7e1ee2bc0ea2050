"""``lookalike duplicates DIR [DIR_B]``: groups of exact and near-duplicate images; optional safe moves."""

from __future__ import annotations

import argparse
import csv
import json
from typing import Any, TextIO

from lookalike.cli._engine import add_engine_options, engine_jobs
from lookalike.cli._options import cli_message, shown_path, similarity, skipped_path
from lookalike.errors import ParameterError


def register(subparsers: Any) -> None:
    from lookalike.cli._search import _positive_int

    parser = subparsers.add_parser(
        "duplicates",
        help="find groups of exact and near-duplicate images in a folder (or across two)",
        description=(
            "Group the images of DIR that are exact copies (same bytes) or near-duplicates (copy similarity "
            "at or above --min-similarity: the same picture edited, cropped, rotated, mirrored, re-encoded, "
            "resized), each group with a suggested keeper (--keep; default: most pixels, then largest file) and "
            "every other member's similarity to it. With DIR_B: only the images of DIR_B that duplicate an image "
            "of DIR (the reference, never moved). Nothing on disk changes unless --move-to is given; then the "
            "non-keepers are moved there (never deleted, never overwriting anything) with a manifest that "
            "--undo reverses. Exit code 0, also with unreadable files skipped (each is listed); 2 on an error "
            "or when no file could be read."
        ),
    )
    parser.add_argument("folders", nargs="*", metavar="DIR", help="the folder to search; a second one: DIR_B")
    parser.add_argument("--index", "-i", metavar="IDX", default=None,
                        help="build or update this index for the folder(s) and keep it (default: a temporary one)")
    parser.add_argument("--min-similarity", "-s", type=similarity, default=None, metavar="S",
                        help="duplicates from this copy similarity: a fraction from 0 to 1 (0.85) or a percentage "
                        "from 0%% to 100%% (85%%) (default: 85%%)")
    parser.add_argument("--no-verify", dest="verify", action="store_false",
                        help="decide from the hash and the embedding only: faster, misses most crops")
    parser.add_argument("--max-verify", type=_budget, default=None, metavar="N",
                        help="verify at most N plausible pairs with keypoints, the most plausible first, or 'all' "
                        "(default: 2000, about 20 s on 2 cores); a note says how many were left")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print one JSON object")
    output.add_argument("--csv", action="store_true",
                        help="print CSV: group, role (keeper or duplicate), path, similarity, exact, width, "
                        "height, size")
    output.add_argument("--html", metavar="OUT", default=None,
                        help="write an HTML page with the thumbnails of each group side by side to OUT")
    parser.add_argument("--move-to", metavar="DEST", default=None,
                        help="move every non-keeper into DEST, keeping its path relative to DIR, and write a manifest")
    parser.add_argument("--keep", type=_keep_rule, default="pixels", metavar="RULE",
                        help="which file of a group to keep: pixels (default: most pixels, then largest file), "
                        "largest, oldest, newest, shortest-path, or pattern:GLOB (a file whose path or name matches)")
    parser.add_argument("--include", action="append", default=[], metavar="GLOB",
                        help="only files whose path or name matches GLOB (repeatable), e.g. '*.jpg'")
    parser.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                        help="leave out files whose path or name matches GLOB (repeatable), e.g. '*/thumbs/*'")
    parser.add_argument("--min-size", type=_size, default=0, metavar="SIZE",
                        help="leave out files smaller than SIZE bytes (a number, or with K, M or G: 20K)")
    parser.add_argument("--link", choices=("hard", "symbolic"), default=None,
                        help="with --move-to: leave in each moved file's place a hard or symbolic link to its "
                        "group's keeper (undone by --undo like the move)")
    parser.add_argument("--undo", metavar="MANIFEST", default=None,
                        help="put back the files moved by an earlier --move-to (from its manifest)")
    parser.add_argument("--jobs", "-j", type=_positive_int, default=None,
                        help="worker processes for indexing and keypoint verification (default: every CPU)")
    parser.add_argument("--recursive", action=argparse.BooleanOptionalAction, default=True,
                        help="also the sub-folders (default: yes)")
    add_engine_options(parser)
    parser.set_defaults(run=run)


def _budget(text: str) -> int:
    """--max-verify: a count, or -1 for 'all'."""
    if text.strip().lower() == "all":
        return -1
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative whole number or 'all', got {text!r}")
    return value


def _keep_rule(text: str) -> str:
    from lookalike.pipelines import KEEP_RULES

    if text not in KEEP_RULES[:-1] and not (text.startswith("pattern:") and len(text) > len("pattern:")):
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(KEEP_RULES)}; got {text!r}")
    return text


def _size(text: str) -> int:
    units = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}
    body = text.strip().upper().removesuffix("B")
    unit = body[-1:] if body[-1:] in ("K", "M", "G") else ""
    try:
        value = float(body[: len(body) - len(unit)])
    except ValueError:
        value = -1.0
    if not value >= 0 or value != value:
        raise argparse.ArgumentTypeError(f"expected a size in bytes (20000, 20K, 1.5M), got {text!r}")
    return int(value * units[unit])


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from lookalike.pipelines import DEFAULT_DUPLICATE_SIMILARITY, find_duplicates, move_duplicates, undo_moves

    if args.undo is not None:
        if args.folders or args.move_to:
            raise ParameterError("--undo MANIFEST takes no folder and no --move-to")
        undone = undo_moves(args.undo)
        already = len(undone.already_restored)
        out.write(f"put back {len(undone.moved)} file{'s' if len(undone.moved) != 1 else ''}"
                  + (f"; {already} already restored (in place, unchanged)" if already else "") + "\n")
        failed = bool(undone.problems) and not undone.moved
        for problem in undone.problems:  # errors when nothing came back: --quiet keeps them, exit code 2
            err.write(f"lookalike: {'error: ' if failed else ''}not put back: {shown_path(problem)}\n")
        return 2 if failed else 0
    if not 1 <= len(args.folders) <= 2:
        raise ParameterError(f"give one folder (DIR) or two (DIR DIR_B), got {len(args.folders)}")
    if args.link is not None and args.move_to is None:
        raise ParameterError("--link replaces moved files with links: give --move-to DEST too (the files are "
                             "moved there, never deleted)")
    if args.move_to is not None:
        from lookalike.pipelines import check_destination

        check_destination(args.move_to, args.folders)  # before the search, not after it
    if args.html is not None:
        from pathlib import Path

        from lookalike.cli._pictures import check_output_file

        check_output_file(Path(args.html), option="--html", example="report.html")
    from lookalike.cli._progress import ProgressBar

    threshold = DEFAULT_DUPLICATE_SIMILARITY if args.min_similarity is None else args.min_similarity
    if threshold <= 0:
        raise ParameterError("--min-similarity must be above 0")
    from lookalike.pipelines import VERIFY_MAX_PAIRS

    budget = {None: VERIFY_MAX_PAIRS, -1: None}.get(args.max_verify, args.max_verify)
    with engine_jobs(args) as jobs, ProgressBar(err) as progress:
        report = find_duplicates(args.folders[0], args.folders[1] if len(args.folders) == 2 else None,
                                 min_similarity=threshold, verify=args.verify, index=args.index, jobs=jobs,
                                 progress=progress, max_verify=budget, recursive=args.recursive, keep=args.keep,
                                 include=args.include, exclude=args.exclude, min_size=args.min_size)
    for item in report.errors:
        err.write(f"lookalike: skipped {skipped_path(item.path)}: {cli_message(item.reason, args)}\n")
    if report.files == 0 and report.errors:
        err.write(f"lookalike: error: none of the {len(report.errors)} image files could be read; nothing to "
                  "compare\n")
        return 2
    if report.unverified:
        err.write(f"lookalike: note: {report.unverified} plausible pair{'s' if report.unverified != 1 else ''} "
                  f"left unverified (budget {budget} verifications); crops and rotated copies among them may be "
                  "missed: raise --max-verify or give --max-verify all\n")
    if args.json:
        out.write(json.dumps(report.to_dict(), allow_nan=False) + "\n")
    elif args.csv:
        _write_csv(report, out)
    elif args.html is not None:
        from lookalike.viz import write_duplicates_html

        try:
            write_duplicates_html(report, args.html)
        except OSError as exc:
            raise ParameterError(f"cannot write {args.html!r}: {exc.strerror or exc}") from None
        out.write(f"{_summary(report)}\nwrote {args.html}\n")
    else:
        _write_text(report, out)
    if args.move_to is not None:
        moved = move_duplicates(report, args.move_to, link=args.link)
        for problem in moved.problems:
            err.write(f"lookalike: not moved: {shown_path(problem)}\n")
        stream = err if (args.json or args.csv) else out
        stream.write(f"moved {len(moved.moved)} file{'s' if len(moved.moved) != 1 else ''} to {args.move_to}; "
                     f"manifest {moved.manifest}\nto undo: lookalike duplicates --undo {moved.manifest}\n")
    return 0


def _summary(report: Any) -> str:
    exact = sum(1 for g in report.groups for m in g.members if m.exact)
    groups = len(report.groups)
    return (f"{groups} group{'s' if groups != 1 else ''}, {report.duplicates} duplicate"
            f"{'s' if report.duplicates != 1 else ''} ({exact} exact) among {report.files} images, "
            f"at a similarity of {report.min_similarity:.0%} or more")


def _describe(member: Any) -> str:
    dims = f"{member.width}x{member.height}" if member.width and member.height else "?x?"
    size = f"{member.size / 1024:.0f} KB" if member.size is not None else "? KB"
    return f"{dims}, {size}"


def _write_text(report: Any, out: TextIO) -> None:
    from lookalike.cli._search import _percent

    out.write(_summary(report) + "\n")
    for number, group in enumerate(report.groups, 1):
        kind = " (exact copies)" if group.exact else ""
        out.write(f"\ngroup {number}{kind}\n  keeper  {shown_path(group.keeper.path)}  ({_describe(group.keeper)})\n")
        for member in group.members:
            note = ("hard link of the keeper (the same file: moving it frees nothing), " if member.hard_link
                    else "exact copy, " if member.exact else "")
            if member.via is not None:  # below the threshold to the keeper: what put it in the group
                note += f"in the group as a copy of {shown_path(member.via)}, "
            out.write(f"  {_percent(member.similarity):>6}  {shown_path(member.path)}  ({note}{_describe(member)})\n")


def _write_csv(report: Any, out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["group", "role", "path", "similarity", "exact", "hard_link", "width", "height", "size", "via"])
    for number, group in enumerate(report.groups, 1):
        for role, member in [("keeper", group.keeper)] + [("duplicate", m) for m in group.members]:
            writer.writerow([number, role, member.path, f"{member.similarity:.6f}", int(member.exact),
                             int(member.hard_link),
                             member.width if member.width is not None else "",
                             member.height if member.height is not None else "",
                             member.size if member.size is not None else "",
                             member.via if member.via is not None else ""])
