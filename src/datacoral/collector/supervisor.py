"""``datacoral serve --workers N``: N worker processes on one port, kept running.

The supervisor binds the port once and listens (so port 0 is chosen once); each
worker is a fresh interpreter (``python -m datacoral.collector.worker``) that
inherits that listening socket and serves it as ``datacoral serve`` alone would,
with the same settings and its own front-door limits. One inherited socket rather
than a socket per worker joined with SO_REUSEPORT, because:

- there is one accept queue: a connection no worker has accepted yet goes to
  whichever worker takes it first, so a worker that dies loses only the
  connections it held (with SO_REUSEPORT the kernel assigns each connection to a
  socket, and those queued at the dead worker's socket are reset with it);
- the supervisor keeps the socket listening while a worker is replaced, even when
  none is left: connections wait in the queue instead of being refused;
- no other process can join the port (SO_REUSEPORT admits any process of the same
  user), and it behaves alike on every POSIX system.

The price is balance: an idle worker that wakes first takes the next connection;
under load, busy workers leave new connections to the others.

Each worker also gets two pipes. It writes ``ready`` to the first once it serves;
that pipe's end of file tells the supervisor the worker has exited. The second is
written by nobody and held open by the supervisor alone: its end of file tells the
workers that the supervisor is gone (even by SIGKILL), and they drain and exit as
on SIGTERM, so no worker is left serving without a supervisor.

Start: the first worker starts alone, so that settings or a database that cannot
work fail once, with that worker's message and exit code; then the others start
together, and the listening line is printed once all serve. A worker that exits
later is logged and replaced at once; one whose predecessor also died within
:data:`STABLE_SECONDS` of serving waits before it starts (:data:`FIRST_BACKOFF`,
doubling up to :data:`MAX_BACKOFF`), so a crash loop costs little. SIGTERM or
SIGINT: the socket is closed here, every worker gets SIGTERM and drains; the exit
code is 0 once all exited 0. A worker still running ``shutdown_timeout_seconds`` +
:data:`STOP_MARGIN` later is killed, and the exit code is 1.

Metrics (``metrics_port``): the supervisor makes a folder for prometheus_client's
multiprocess mode and names it to every worker, which writes its figures there;
the supervisor answers scrapes with their sum, marks a worker that exited as gone
(its open connections stop counting, its counts stay in the totals) and removes
the folder when it stops.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING

from datacoral.collector.server import listen_for_metrics, listening_line
from datacoral.config import Settings

if TYPE_CHECKING:
    from datacoral.metrics.listener import MetricsListener

logger = logging.getLogger("datacoral.supervisor")

#: Seconds a worker has from its start until it serves; then it is killed.
START_TIMEOUT = 60.0
#: A worker that served this long and then exited is a new problem, not a crash loop.
STABLE_SECONDS = 10.0
#: Wait before starting the second worker in a row that failed; it doubles each time.
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 30.0
#: Seconds past ``shutdown_timeout_seconds`` a worker has to close its storage and exit.
STOP_MARGIN = 10.0
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass(eq=False)
class _Worker:
    """One started worker process."""

    slot: int
    process: subprocess.Popen[bytes]
    #: Read end of the pipe the worker writes ``ready`` to; end of file once it exited.
    ready_fd: int
    started_at: float
    serving_since: float | None = None
    killed: bool = False

    @property
    def name(self) -> str:
        return f"worker {self.slot} (pid {self.process.pid})"


@dataclass(eq=False)
class _Slot:
    """The place of one worker: who holds it, and how the ones before fared."""

    number: int
    worker: _Worker | None = None
    #: Workers in a row that exited before serving :data:`STABLE_SECONDS`.
    failures: int = 0
    #: When the next worker starts, after the last one exited.
    start_at: float | None = None
    previous_pid: int | None = None


class Supervisor:
    """Runs ``settings.workers`` workers on ``sock`` until SIGTERM or SIGINT."""

    def __init__(self, settings: Settings, sock: socket.socket) -> None:
        self._settings = settings
        self._sock: socket.socket | None = sock
        self._listening_line = listening_line(settings.host, sock, scheme=settings.scheme)
        self._slots = [_Slot(number) for number in range(1, settings.workers + 1)]
        self._selector = selectors.DefaultSelector()
        self._wakeup_r, self._wakeup_w = os.pipe()
        os.set_blocking(self._wakeup_r, False)
        os.set_blocking(self._wakeup_w, False)
        self._selector.register(self._wakeup_r, selectors.EVENT_READ)
        # Nobody writes here; the workers watch the read end for our end of file.
        self._alive_r, self._alive_w = os.pipe()
        self._signals: list[int] = []
        self._starting = True
        self._stopping = False
        self._start_failure: int | None = None
        self._stop_failed = False
        #: prometheus_client's multiprocess folder, and the listener summing it (metrics on).
        self._metrics_dir: str | None = None
        self._metrics_listener: MetricsListener | None = None

    def run(self) -> int:
        """Start the workers, print the listening line, supervise; the exit code."""
        if self._settings.metrics_port is not None and not self._listen_for_metrics():
            self._close()
            return 1
        previous = {sig: signal.signal(sig, self._on_signal) for sig in _STOP_SIGNALS}
        previous_wakeup = signal.set_wakeup_fd(self._wakeup_w, warn_on_full_buffer=False)
        try:
            code = self._start()
            if code is None:
                print(self._listening_line, flush=True)
                self._starting = False
                while not self._signals:
                    self._pump()
                code = 0
            return self._stop(code)
        finally:
            signal.set_wakeup_fd(previous_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._close()

    def _listen_for_metrics(self) -> bool:
        from datacoral.metrics.listener import multiprocess_registry

        self._metrics_dir = tempfile.mkdtemp(prefix="datacoral-metrics-")
        registry = multiprocess_registry(self._metrics_dir)
        self._metrics_listener = listen_for_metrics(self._settings, registry)
        return self._metrics_listener is not None

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals.append(signum)  # the wakeup pipe interrupts the wait

    # -- starting ---------------------------------------------------------------------

    def _start(self) -> int | None:
        """None once every worker serves; else the exit code (0: stopped by a signal)."""
        first, *others = self._slots
        for group in ([first], others):
            for slot in group:
                self._spawn(slot)
            while not all(_serving(slot) for slot in group):
                if self._signals:
                    return 0
                if self._start_failure is not None:
                    return self._start_failure
                self._pump()
        return None

    def _spawn(self, slot: _Slot) -> None:
        """Start a worker in ``slot``; a failure to start it counts as its exit."""
        assert self._sock is not None
        listen_fd = self._sock.fileno()
        ready_r, ready_w = os.pipe()
        command = [
            sys.executable,
            "-m",
            "datacoral.collector.worker",
            f"--listen-fd={listen_fd}",
            f"--ready-fd={ready_w}",
            f"--supervisor-fd={self._alive_r}",
        ]
        if self._metrics_dir is not None:
            command.append(f"--metrics-dir={self._metrics_dir}")
        try:
            process = subprocess.Popen(
                command, stdin=subprocess.PIPE, pass_fds=(listen_fd, ready_w, self._alive_r)
            )
        except OSError as exc:
            os.close(ready_r)
            logger.error("cannot start worker %d: %s", slot.number, exc)
            self._after_exit(slot, None, 1)
            return
        finally:
            os.close(ready_w)
        worker = _Worker(slot.number, process, ready_r, time.monotonic())
        logger.debug("%s started", worker.name)
        # The settings exactly as this process has them (options, variables, defaults).
        assert process.stdin is not None
        with contextlib.suppress(OSError):  # it died already: its pipe will say so
            process.stdin.write(pickle.dumps(self._settings))
        with contextlib.suppress(OSError):
            process.stdin.close()
        slot.worker = worker
        self._selector.register(ready_r, selectors.EVENT_READ, worker)

    # -- the loop ---------------------------------------------------------------------

    def _pump(self, longest: float = 1.0) -> None:
        """Wait (at most ``longest`` seconds) for a signal, a worker's news or a timer,
        and handle what came."""
        now = time.monotonic()
        timeout = min([longest, *(due - now for due in self._timers())])
        for key, _ in self._selector.select(max(0.0, timeout)):
            if key.data is None:
                _drain(self._wakeup_r)
            else:
                self._on_news(key.data)
        now = time.monotonic()
        for slot in self._slots:
            worker = slot.worker
            if worker is None:
                if slot.start_at is not None and slot.start_at <= now and not self._stopping:
                    slot.start_at = None
                    self._spawn(slot)
            elif (
                worker.serving_since is None
                and not worker.killed
                and now - worker.started_at >= START_TIMEOUT
            ):
                logger.error("%s did not serve within %g s: killing it", worker.name, START_TIMEOUT)
                worker.process.kill()
                worker.killed = True

    def _timers(self) -> Iterable[float]:
        for slot in self._slots:
            if slot.worker is None and slot.start_at is not None and not self._stopping:
                yield slot.start_at
            elif slot.worker is not None and slot.worker.serving_since is None:
                yield slot.worker.started_at + START_TIMEOUT

    def _on_news(self, worker: _Worker) -> None:
        try:
            news = os.read(worker.ready_fd, 64)
        except OSError:
            news = b""
        if news:
            if worker.serving_since is None:
                worker.serving_since = time.monotonic()
                self._on_serving(worker)
            return
        self._selector.unregister(worker.ready_fd)
        os.close(worker.ready_fd)
        try:
            code = worker.process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # it closed the pipe without exiting: end it
            worker.process.kill()
            code = worker.process.wait()
        if self._metrics_dir is not None:
            from datacoral.metrics.listener import process_gone

            process_gone(worker.process.pid, self._metrics_dir)
        slot = self._slots[worker.slot - 1]
        slot.worker = None
        self._after_exit(slot, worker, code)

    def _on_serving(self, worker: _Worker) -> None:
        previous = self._slots[worker.slot - 1].previous_pid
        if previous is None:
            logger.info("%s serving", worker.name)
        else:
            logger.info("%s serving, in place of pid %d", worker.name, previous)

    def _after_exit(self, slot: _Slot, worker: _Worker | None, code: int) -> None:
        name = worker.name if worker is not None else f"worker {slot.number}"
        if worker is not None:
            slot.previous_pid = worker.process.pid
        if self._stopping:
            if code != 0:
                self._stop_failed = True
                logger.error("%s %s while stopping", name, _how(code))
            return
        if self._starting:
            # A worker that exits with a code said why (one line, as `serve` alone does).
            if code <= 0:
                served = worker is not None and worker.serving_since is not None
                when = "while the others started" if served else "before it served"
                logger.error("%s %s %s", name, _how(code), when)
            self._start_failure = code if code > 0 else 1
            return
        now = time.monotonic()
        stable = (
            worker is not None
            and worker.serving_since is not None
            and now - worker.serving_since >= STABLE_SECONDS
        )
        slot.failures = 1 if stable else slot.failures + 1
        if slot.failures == 1:
            slot.start_at = now
            logger.warning("%s %s: starting another", name, _how(code))
            return
        delay = min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (slot.failures - 2))
        slot.start_at = now + delay
        logger.warning(
            "%s %s, %d exits in a row: starting another in %g s",
            name,
            _how(code),
            slot.failures,
            delay,
        )

    # -- stopping ---------------------------------------------------------------------

    def _stop(self, code: int) -> int:
        """SIGTERM to every worker; the exit code once all have exited."""
        self._stopping = True
        if self._sock is not None:
            # Once the workers close theirs, new connections are refused, not queued.
            self._sock.close()
            self._sock = None
        live = self._live()
        if live:
            logger.info("stopping %d worker(s)", len(live))
        for worker in live:
            _send(worker, signal.SIGTERM)
        seen = len(self._signals)
        deadline = time.monotonic() + self._settings.shutdown_timeout_seconds + STOP_MARGIN
        while live := self._live():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                for worker in live:
                    logger.error("%s did not stop in time: killing it", worker.name)
                    worker.process.kill()
                    worker.killed = True
                deadline = time.monotonic() + STOP_MARGIN  # SIGKILL cannot be refused
                self._stop_failed = True
                continue
            self._pump(remaining)
            # A second SIGINT (Ctrl-C again) stops the wait for open connections, as it
            # does for `serve` alone; uvicorn in each worker decides what that means.
            for sig in self._signals[seen:]:
                if sig == signal.SIGINT:
                    for worker in self._live():
                        _send(worker, signal.SIGINT)
            seen = len(self._signals)
        if self._stop_failed:
            return code or 1
        if code == 0:
            logger.info("stopped")
        return code

    def _live(self) -> list[_Worker]:
        return [slot.worker for slot in self._slots if slot.worker is not None]

    def _close(self) -> None:
        """Release our descriptors. Closing the supervisor pipe makes any worker still
        running (after an error of ours) drain and exit by itself."""
        for worker in self._live():
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(worker.ready_fd)
            os.close(worker.ready_fd)
        self._selector.close()
        for fd in (self._wakeup_r, self._wakeup_w, self._alive_r, self._alive_w):
            os.close(fd)
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._metrics_listener is not None:
            self._metrics_listener.close()
            self._metrics_listener = None
        if self._metrics_dir is not None:
            shutil.rmtree(self._metrics_dir, ignore_errors=True)
            self._metrics_dir = None


def _serving(slot: _Slot) -> bool:
    return slot.worker is not None and slot.worker.serving_since is not None


def _send(worker: _Worker, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # exited; its pipe will say so
        worker.process.send_signal(sig)


def _drain(fd: int) -> None:
    with contextlib.suppress(BlockingIOError):
        while os.read(fd, 512):
            pass


def _how(code: int) -> str:
    """How a process ended, from its exit status as ``subprocess`` reports it."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"
