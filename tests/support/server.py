"""A real ``datacoral serve`` subprocess for tests.

``running_server(db, **settings)`` starts the endpoint (over a SQLite file or a
PostgreSQL URL) on 127.0.0.1 with
``--port 0``, waits (with a deadline) for its ``listening on`` line, and yields a
:class:`RunningServer`. Settings are passed as ``DATACORAL_<NAME>`` environment
variables, e.g. ``running_server(db, max_body_bytes=4096)``. On exit the server
gets SIGTERM and must stop with exit code 0 (unless the test killed it), and its
log must show no swallowed internal error (STYLE.md habit 9: the server hides
its own bugs from clients, the tests must not).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from datacoral.storage.target import Target, parse_target, target_argument

LISTENING = re.compile(r"^datacoral serve: listening on (https?://(\S+):(\d+))$")
#: Marker the collector logs when it swallowed an error of its own.
INTERNAL_ERROR = "internal error"


def serve_command(db_path: Target | str) -> list[str]:
    """The command line that starts the endpoint on a free port (a file or a database URL)."""
    db = target_argument(parse_target(db_path))
    return [sys.executable, "-m", "datacoral", "serve", "--port", "0", "--db", db]


def _setting_value(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (tuple, list)):
        return ",".join(str(item) for item in value)
    return str(value)


class RunningServer:
    """A started endpoint process: its URL, and everything it printed so far."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.url = ""
        self.port = 0
        self.killed = False
        self._lines: list[str] = []
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(stream,), daemon=True)
            for stream in (process.stdout, process.stderr)
            if stream is not None
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                self._lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def log(self) -> str:
        """Everything the server printed (stdout and stderr), one line each."""
        with self._changed:
            return "\n".join(self._lines)

    def wait_listening(self, timeout: float) -> None:
        """Block until the listening line appears; fail with the log when it does not."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self._lines:
                    found = LISTENING.match(line)
                    if found:
                        self.url, self.port = found.group(1), int(found.group(3))
                        return
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.process.poll() is not None:
                    break
                self._changed.wait(min(remaining, 0.1))
        self.process.kill()
        self.process.wait(10)
        self._join_readers()
        raise AssertionError(
            f"datacoral serve did not start (exit code {self.process.poll()}):\n{self.log()}"
        )

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM, then wait for the exit code (a graceful stop)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self._join_readers()
        return code

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up (a crash)."""
        self.killed = True
        self.process.kill()
        self.process.wait(10)
        self._join_readers()

    def _join_readers(self) -> None:
        for reader in self._readers:
            reader.join(5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@contextmanager
def running_server(
    db_path: Target | str,
    *,
    startup_timeout: float = 30,
    allow_internal_errors: bool = False,
    **settings: Any,
) -> Iterator[RunningServer]:
    """Run ``datacoral serve`` over ``db_path`` for the duration of the block."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATACORAL_")}
    env["PYTHONUNBUFFERED"] = "1"
    for name, value in settings.items():
        env[f"DATACORAL_{name.upper()}"] = _setting_value(value)
    process = subprocess.Popen(
        serve_command(db_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    server = RunningServer(process)
    try:
        server.wait_listening(startup_timeout)
        yield server
    finally:
        if server.process.poll() is None:
            code = server.terminate()
            assert code == 0, f"datacoral serve exited with {code} after SIGTERM:\n{server.log()}"
        elif not server.killed:
            server._join_readers()
    if not allow_internal_errors:
        assert INTERNAL_ERROR not in server.log(), f"the server hid an error:\n{server.log()}"
