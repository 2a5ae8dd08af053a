"""Whether a process still runs: how a reader tells a live server's files from stale ones.

counters.find_boards -> pid_alive(board's supervisor)   (a dead one's board is removed)
ssdk stats           -> pid_alive(board's supervisor)   (it stopped while being watched)
tools/netns.cleanup_stale -> pid_alive(the pid in a namespace's name)

It lives on its own, without the C core, so the namespace helpers can use it without
loading the engine that counters.py needs.
"""

from __future__ import annotations

import os

__all__ = ["pid_alive"]


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (one we may not signal counts too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
