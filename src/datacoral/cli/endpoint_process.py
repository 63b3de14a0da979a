"""An Events endpoint run as a child process, as ``quickstart`` needs it.

Starts ``python -m datacoral serve --port 0``, waits (with a deadline) for the
line ``datacoral serve: listening on http://HOST:PORT``, keeps reading the
child's output so its pipe never fills, and stops it with SIGTERM.
"""

from __future__ import annotations

import collections
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from datacoral.cli.errors import QuickstartFailed

READY_LINE = re.compile(
    r"datacoral serve: listening on (?P<url>https?://(?P<host>[^\s/:]+):(?P<port>\d+))"
)


class EndpointProcess:
    """A child ``datacoral serve`` on a free local port."""

    def __init__(self, db: Path, *, start_timeout: float = 30.0) -> None:
        self._db = db
        self._start_timeout = start_timeout
        self._process: subprocess.Popen[str] | None = None
        self._lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._recent: collections.deque[str] = collections.deque(maxlen=20)
        self._listening = False
        self.url = ""
        self.host = ""
        self.port = 0

    def start(self) -> None:
        """Start the child and return once it listens; QuickstartFailed otherwise."""
        command = [sys.executable, "-m", "datacoral", "serve"]
        command += ["--host", "127.0.0.1", "--port", "0", "--db", str(self._db)]
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        threading.Thread(target=self._read_output, name="quickstart-output", daemon=True).start()
        deadline = time.monotonic() + self._start_timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                raise QuickstartFailed(
                    f"the endpoint did not report it was listening within"
                    f" {self._start_timeout:g} s{self._output_tail()}"
                )
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                code = self._process.wait()
                raise QuickstartFailed(
                    f"the endpoint exited with code {code} before listening{self._output_tail()}"
                )
            found = READY_LINE.search(line)
            if found:
                self.url, self.host = found["url"], found["host"]
                self.port = int(found["port"])
                self._listening = True  # from now on only the recent lines are kept
                return

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, wait up to ``timeout`` (then kill); returns the exit code."""
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def output(self) -> str:
        """The last lines the child printed."""
        return "\n".join(self._recent)

    def _read_output(self) -> None:
        process = self._process
        assert process is not None and process.stdout is not None
        for line in process.stdout:
            self._recent.append(line.rstrip("\n"))
            if not self._listening:
                self._lines.put(line)
        self._lines.put(None)

    def _output_tail(self) -> str:
        text = self.output()
        return f"; its last output:\n{text}" if text else ""
