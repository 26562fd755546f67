"""Child processes that must not outlive their parent (Linux: the parent-death signal)."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from typing import Any

__all__ = ["die_with_parent", "stop"]

_PR_SET_PDEATHSIG = 1


def die_with_parent(signum: int = signal.SIGTERM, parent: int | None = None) -> None:
    """Ask the kernel to send ``signum`` to this process when its parent dies; if ``parent`` (the pid the
    parent had) is already gone, exit now. A no-op off Linux."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signum)
    if parent is not None and os.getppid() != parent:  # the parent died before the request was made
        os._exit(1)


def stop(process: subprocess.Popen[Any] | None, first: int = signal.SIGTERM, grace: float = 10.0) -> None:
    """Stop a child we started: ``first`` (SIGTERM, or SIGINT for a Ctrl-C its handler expects), then SIGKILL
    after ``grace`` seconds if it has not gone. Always waits, so no zombie is left."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(first)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
