"""Child processes that must not outlive their parent (Linux: the parent-death signal)."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

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
