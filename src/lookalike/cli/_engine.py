"""``--engine local|ray`` and ``--ray-address``: which executor a command's parallel work runs on."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import Any

from lookalike.engines import ENGINES


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", choices=ENGINES, default="local",
                        help="where files are read and described: local worker processes (default) or Ray tasks "
                        "(a local Ray on 127.0.0.1 unless --ray-address is given; needs the scale extra)")
    parser.add_argument("--ray-address", default=None, metavar="ADDR",
                        help="a Ray cluster to join with --engine ray (HOST:PORT, ray://HOST:10001 or auto)")


@contextmanager
def engine_jobs(args: argparse.Namespace) -> Iterator[int | Executor | None]:
    """What ``jobs=`` gets for the command's options; an executor made here is shut down on leaving."""
    from lookalike.engines import make_engine

    jobs: Any = make_engine(args.engine, jobs=args.jobs, address=args.ray_address)
    try:
        yield jobs
    finally:
        if isinstance(jobs, Executor):
            jobs.shutdown(wait=False, cancel_futures=True)
