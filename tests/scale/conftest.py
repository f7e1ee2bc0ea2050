"""Scale tests: one local Ray (2 CPUs, loopback only) for the whole session, started and stopped here.

Ray and Milvus Lite come with the ``scale`` extra, which ``make install`` installs; where they cannot
be installed the tests that need them skip and say so.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def ray_engine() -> Iterator[Any]:
    """A :class:`lookalike.engines.RayExecutor` over a local Ray of 2 CPUs, shared by every test of the session."""
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'lookalike[scale]' (make install does)")
    from lookalike.engines import RayExecutor

    # Ray's unix sockets live under its temp folder: keep the path short (a socket path is limited to 107 bytes).
    with tempfile.TemporaryDirectory(prefix="lkray-") as folder:
        engine = _start_ray(RayExecutor, folder)
        try:
            yield engine
        finally:
            engine.shutdown()


def _start_ray(executor: Any, folder: str, attempts: int = 3) -> Any:
    """The executor, started again when Ray's own start-up times out: on a loaded 2-core machine the raylet
    sometimes misses Ray's fixed 30 s registration wait in a full run ("The current node timed out during
    startup"), which is Ray's start-up, not what the tests check; a second start has always come up."""
    import ray

    for attempt in range(attempts):
        try:
            return executor(num_cpus=2, temp_dir=folder)
        except Exception as exc:
            if "timed out during startup" not in str(exc) or attempt == attempts - 1:
                raise
            ray.shutdown()
    raise AssertionError("unreachable")


def listening_sockets(pids: set[int]) -> list[tuple[int, str, int]]:
    """``(pid, address, port)`` of every TCP socket in LISTEN state held by one of ``pids`` (Linux /proc)."""
    inodes: dict[str, int] = {}
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if target.startswith("socket:["):
                    inodes[target[8:-1]] = pid
        except OSError:
            continue
    found = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A: LISTEN
                continue
            address_hex, port_hex = local.split(":")
            found.append((inodes[inode], _address(address_hex, width), int(port_hex, 16)))
    return found


def _address(text: str, width: int) -> str:
    import ipaddress

    raw = bytes.fromhex(text)
    if width == 8:
        return str(ipaddress.IPv4Address(raw[::-1]))
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))  # /proc prints each 32-bit word host-endian
    return str(ipaddress.IPv6Address(words))


def descendants(root: int) -> set[int]:
    """``root`` and every process below it (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo += children.get(pid, [])
    return found
