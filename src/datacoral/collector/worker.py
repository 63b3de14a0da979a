"""One worker of ``datacoral serve --workers N``, started by the supervisor.

Run as ``python -m datacoral.collector.worker`` by
:class:`~datacoral.collector.supervisor.Supervisor`, never by people: the settings
arrive pickled on stdin, the descriptors it needs are named on the command line.
It serves the inherited listening socket as ``datacoral serve`` alone would, writes
``ready`` to its ready pipe once it serves, and drains and exits on SIGTERM or when
the supervisor pipe ends.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import logging.config
import os
import pickle
import socket
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from datacoral.collector.connection_limits import ConnectionLimits, open_files_limit
from datacoral.collector.server import log_config, run
from datacoral.config import Settings
from datacoral.metrics import MULTIPROCESS_VARIABLE

if TYPE_CHECKING:
    from datacoral.collector.metrics import CollectorMetrics

logger = logging.getLogger("datacoral.collector")


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until stopped; the exit code (as ``datacoral serve`` would return it)."""
    parser = argparse.ArgumentParser(prog="python -m datacoral.collector.worker")
    parser.add_argument("--listen-fd", type=int, required=True, help="the listening socket")
    parser.add_argument("--ready-fd", type=int, required=True, help="write `ready` here")
    parser.add_argument("--supervisor-fd", type=int, required=True, help="ends with it")
    parser.add_argument("--metrics-dir", help="count metrics, in multiprocess files here")
    args = parser.parse_args(argv)
    # Written by the supervisor that started this process, from its own Settings.
    settings = pickle.load(sys.stdin.buffer)
    if not isinstance(settings, Settings):
        print("datacoral worker: expected Settings on stdin", file=sys.stderr)
        return 2
    logging.config.dictConfig(
        log_config(settings.log_level, with_pid=True, log_format=settings.log_format)
    )
    try:
        limits = ConnectionLimits.from_settings(settings, open_files=open_files_limit())
    except ValueError as exc:  # the supervisor checked the same; only a changed ulimit fails
        logger.error("%s", exc)
        return 1
    sock = socket.socket(fileno=args.listen_fd)

    def announce() -> None:
        with contextlib.suppress(OSError):  # the supervisor is gone: its pipe stops us
            os.write(args.ready_fd, b"ready\n")

    metrics: CollectorMetrics | None = None
    if args.metrics_dir:
        # Before prometheus_client is first imported: it chooses its mode then.
        os.environ[MULTIPROCESS_VARIABLE] = args.metrics_dir
        from datacoral.collector.metrics import CollectorMetrics

        metrics = CollectorMetrics()
        metrics.start_flushing()
    try:
        return run(
            settings,
            limits,
            sock,
            on_started=announce,
            supervisor_fd=args.supervisor_fd,
            metrics=metrics,
        )
    finally:
        if metrics is not None:
            metrics.stop_flushing()
        sock.close()


if __name__ == "__main__":
    sys.exit(main())
