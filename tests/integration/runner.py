"""Run the command-line tool in-process, as a user would see it: exit code, standard output, standard error."""

from __future__ import annotations

import io
import os
import shlex
import subprocess

from lookalike.cli import main


class Terminal(io.StringIO):
    """An error stream that says it is a terminal, so commands draw their progress bars on it."""

    def isatty(self) -> bool:
        return True


def run_cli(*argv: str, err: io.StringIO | None = None) -> tuple[int, str, str]:
    """``lookalike ARGV...`` through :func:`lookalike.cli.main`; ``err`` replaces the captured error stream."""
    out = io.StringIO()
    err = err if err is not None else io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def in_read_only_mount(folder: str, line: str, *, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the shell ``line`` in a user namespace where ``folder`` is a read-only bind mount (``unshare -rm``).

    Root ignores permission bits, so this is how tests running as root meet a read-only medium; the
    test is skipped where the kernel or the container forbids user namespaces.
    """
    import pytest

    quoted = shlex.quote(folder)
    mount = f"mount --bind -o ro {quoted} {quoted}"
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", f"{mount} && ! touch {quoted}/.probe 2>/dev/null"],
                           capture_output=True, text=True, check=False, timeout=60)
    if probe.returncode != 0:
        pytest.skip(f"no read-only bind mount here (unshare -rm: {probe.stderr.strip() or probe.returncode})")
    return subprocess.run(["unshare", "-rm", "sh", "-c", f"{mount} && {line}"], capture_output=True, text=True,
                          check=False, timeout=timeout, env={**os.environ, "PYTHONPATH": os.getcwd()})
