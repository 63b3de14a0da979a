"""CPU seconds of each component process, read from ``/proc/<pid>/stat`` (utime + stime).

A :class:`CpuMeter` is given one *finder* per component (a function returning the
component's process ids now) and samples every process it finds every quarter
second from :meth:`CpuMeter.start` to :meth:`CpuMeter.stop`. A process known at the
start counts from its reading then; one that appears later (a pool's new
PostgreSQL backend, a worker) counts from zero if it started after the meter did.
A process that exits before the end counts up to its last sample (at most a
quarter second short). Threads are included: ``/proc/<pid>/stat`` sums them.

The load generator is not sampled: it is a child of this process, started and
reaped around one run, so :func:`children_cpu` (``RUSAGE_CHILDREN``) before and
after the run gives its CPU exactly. :func:`machine_busy` (``/proc/stat``) gives what
the whole machine did over the same span, so the report can show how much of the box
went to work that is not ours.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
#: Seconds between two samples of every process.
INTERVAL = 0.25

Finder = Callable[[], Iterable[int]]


def read_stat(pid: int) -> tuple[int, int, int] | None:
    """(utime + stime in ticks, start time in ticks since boot, parent pid), or None once
    the process is gone or cannot be read."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    # After "pid (comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt
    # cmajflt utime stime cutime cstime priority nice threads itrealvalue starttime ...
    return int(fields[11]) + int(fields[12]), int(fields[19]), int(fields[1])


def now_ticks() -> int:
    """Clock ticks since boot, the unit of a process's start time."""
    uptime = float(Path("/proc/uptime").read_text(encoding="ascii").split()[0])
    return int(uptime * TICKS)


def descendants(root: int) -> list[int]:
    """``root`` and every process below it (``datacoral serve --workers N``: the
    supervisor and its workers)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = read_stat(int(entry.name))
        if stat is not None:
            parents.setdefault(stat[2], []).append(int(entry.name))
    found, queue = [], [root]
    while queue:
        pid = queue.pop()
        found.append(pid)
        queue.extend(parents.get(pid, ()))
    return found


def is_process_of(pid: int, program: str) -> bool:
    """True when ``pid`` is visible here and its command line starts with ``program``
    (PostgreSQL's processes rename themselves ``postgres: ...``)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return Path(command.split(b"\0")[0].split(b":")[0].decode(errors="replace")).name == program


def wait_idle(pids: list[int], timeout: float = 30.0) -> None:
    """Until these processes use under a tenth of a core for half a second (a loader
    imports and connects after it started; that is not what is measured)."""
    deadline = time.monotonic() + timeout
    quiet = 0
    last = [read_stat(pid) for pid in pids]
    while quiet < 2 and time.monotonic() < deadline:
        time.sleep(0.25)
        now = [read_stat(pid) for pid in pids]
        busy = any(
            a is not None and b is not None and b[0] - a[0] > 0.025 * TICKS
            for a, b in zip(last, now, strict=True)
        )
        quiet = 0 if busy else quiet + 1
        last = now


def machine_busy() -> float:
    """CPU seconds every core of the machine has spent busy since boot (all but idle and
    iowait, from the first line of ``/proc/stat``)."""
    fields = Path("/proc/stat").read_text(encoding="ascii").split("\n", 1)[0].split()[1:]
    # user nice system idle iowait irq softirq steal (guest time is inside user)
    ticks = [int(value) for value in fields[:8]]
    return (sum(ticks) - ticks[3] - ticks[4]) / TICKS


def children_cpu() -> float:
    """CPU seconds of this process's reaped children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """CPU seconds per component between :meth:`start` and :meth:`stop`."""

    def __init__(
        self, finders: dict[str, Finder], before_sample: Callable[[], None] | None = None
    ) -> None:
        self._finders = finders
        self._before_sample = before_sample
        self._base: dict[tuple[int, int], tuple[str, int]] = {}
        self._last: dict[tuple[int, int], int] = {}
        self._start_ticks = 0
        self._machine_start = 0.0
        #: CPU seconds the whole machine was busy between start and stop.
        self.machine_seconds = 0.0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._start_ticks = now_ticks()
        self._machine_start = machine_busy()
        self._sample(initial=True)
        self._thread.start()

    def stop(self) -> dict[str, float]:
        """The CPU seconds each component used since :meth:`start`."""
        self._stop.set()
        self._thread.join()
        self._sample(initial=False)
        self.machine_seconds = machine_busy() - self._machine_start
        used = dict.fromkeys(self._finders, 0.0)
        for key, (role, base) in self._base.items():
            used[role] += (self._last[key] - base) / TICKS
        return used

    def _run(self) -> None:
        while not self._stop.wait(INTERVAL):
            self._sample(initial=False)

    def _sample(self, *, initial: bool) -> None:
        with self._lock:
            if self._before_sample is not None:
                self._before_sample()
            for role, finder in self._finders.items():
                for pid in finder():
                    stat = read_stat(pid)
                    if stat is None:
                        continue
                    ticks, started, _ = stat
                    key = (pid, started)
                    if key not in self._base:
                        new = not initial and started >= self._start_ticks
                        self._base[key] = (role, 0 if new else ticks)
                    self._last[key] = ticks
