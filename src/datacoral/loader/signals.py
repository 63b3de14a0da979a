"""SIGTERM and SIGINT for a loader: stop cleanly, else by force, else exit.

A signal asks the loader to stop: the batch in hand finishes, then :meth:`Loader.run`
returns (exit 0). If it has not ``stop_timeout`` seconds later (a commit that does
not return), its task is cancelled; the messages in hand return to the stream after
the ack wait. Both steps run on the event loop. Should the process still run
``exit_timeout`` seconds after the signal, its loop is blocked and neither step can
happen: it then prints every thread's stack to stderr and exits with status 1, for
a supervisor to restart it.

That last step must work without the loop, so the handler is a Python signal handler
(not ``loop.add_signal_handler``, whose handler is a callback of the loop): it runs in
the main thread even while the loop is blocked in a call that a signal interrupts (a
lock, a sleep, a socket), and arms :func:`faulthandler.dump_traceback_later`, whose
own thread needs neither the loop nor the GIL to print the stacks and exit.
"""

from __future__ import annotations

import asyncio
import faulthandler
import logging
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

log = logging.getLogger("datacoral.loader")

#: The signals that stop a loader.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopOnSignal:
    """Installed while a loader runs in the main thread; see the module's text."""

    def __init__(self, *, stop_timeout: float, exit_timeout: float) -> None:
        if exit_timeout <= stop_timeout:
            raise ValueError("exit_timeout must be longer than stop_timeout")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: Callable[[], None] = lambda: None
        self._task: asyncio.Task[Any] | None = None
        self.stop_timeout = stop_timeout
        self.exit_timeout = exit_timeout
        self._previous: dict[int, Any] = {}
        self._signal: str | None = None
        # Set by the signal handler, which must not start a thread itself (it may
        # interrupt the main thread while that holds threading's own locks).
        self._signalled = threading.Event()
        self._disarmed = threading.Event()
        self._warning = threading.Thread(target=self._warn, name="datacoral-exit", daemon=True)

    def install(self, stop: Callable[[], None], task: asyncio.Task[Any]) -> None:
        """From ``task``, running in the main thread: a signal calls ``stop`` on its loop,
        and cancels ``task`` if it has not returned ``stop_timeout`` seconds later."""
        self._loop, self._stop, self._task = asyncio.get_running_loop(), stop, task
        self._warning.start()
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._received)

    def uninstall(self) -> None:
        """Restore the previous handlers; an exit already armed stays armed (the
        process may still hang on its way out): :func:`disarm` ends it."""
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()

    def _received(self, signum: int, frame: FrameType | None) -> None:
        if self._signal is not None:
            return  # already stopping
        self._signal = signal.Signals(signum).name
        faulthandler.dump_traceback_later(self.exit_timeout, exit=True, file=sys.stderr)
        self._signalled.set()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop_on_loop)

    def _stop_on_loop(self) -> None:
        self._stop()
        # Should the batch in hand not finish (a client stuck on a dead connection),
        # stop anyway: its messages return to the stream after the ack wait.
        if self._loop is not None and self._task is not None:
            self._loop.call_later(self.stop_timeout, self._task.cancel)

    def _warn(self) -> None:
        """Log the reason just before faulthandler's exit (from a thread of its own:
        the loop is blocked by then)."""
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # for the main thread
        self._signalled.wait()
        if self._disarmed.wait(max(0.0, self.exit_timeout - 0.5)):
            return
        log.critical(
            "still running %g s after %s: the event loop is blocked; exiting with status 1"
            " (every thread's stack follows)",
            self.exit_timeout,
            self._signal,
        )

    def disarm(self) -> None:
        """The process is about to end by itself: no forced exit."""
        faulthandler.cancel_dump_traceback_later()
        self._disarmed.set()
        self._signalled.set()
