"""Process events every emitter must survive: fork and interpreter exit.

Emitters register here. After ``fork()`` each one is told to start afresh in the
child (empty queue, new locks, its own sender), so the parent's events are sent
once, by the parent. At exit one hook closes every open emitter within the
largest of their ``exit_timeout``s, so buffered events are delivered, not lost.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import weakref
from typing import Protocol


class Managed(Protocol):
    exit_timeout: float
    flush_at_exit: bool

    def _after_fork_in_child(self) -> None: ...

    def _close_at_exit(self, deadline: float) -> None: ...


_emitters: weakref.WeakSet[Managed] = weakref.WeakSet()
_lock = threading.Lock()
_hooks_installed = False


def register(emitter: Managed) -> None:
    """Manage ``emitter`` from now on (kept by weak reference)."""
    global _hooks_installed
    with _lock:
        _emitters.add(emitter)
        if not _hooks_installed:
            atexit.register(_close_all_at_exit)
            if hasattr(os, "register_at_fork"):
                os.register_at_fork(after_in_child=_after_fork_in_child)
            _hooks_installed = True


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()
    for emitter in list(_emitters):
        emitter._after_fork_in_child()


def _close_all_at_exit() -> None:
    emitters = [e for e in list(_emitters) if e.flush_at_exit]
    if not emitters:
        return
    deadline = time.monotonic() + max(e.exit_timeout for e in emitters)
    for emitter in emitters:
        try:
            emitter._close_at_exit(deadline)
        except Exception as exc:  # never let one emitter stop the others at exit
            print(f"snowplow_tracker: error while closing an emitter at exit: {exc!r}",
                  file=sys.stderr)  # fmt: skip
