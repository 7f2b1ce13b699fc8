"""Child processes that end when their parent dies, even by SIGKILL (Linux's PR_SET_PDEATHSIG).

A child started in a session of its own (so that Ctrl-C in a terminal reaches only its parent) would
otherwise outlive a parent killed without a chance to stop it, holding its ports and data.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def die_with_parent(signum: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A Popen preexec_fn that has the child sent `signum` when this process dies; None where it cannot.

    Only from the main thread: the kernel sends the signal when the *thread* that forked the child ends,
    and a worker thread that ends would take its children with it.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork, not in the child
    parent = os.getpid()

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os.kill(os.getpid(), signum)

    return arm
