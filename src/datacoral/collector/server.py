"""``datacoral serve``: run the collector under uvicorn until SIGTERM or SIGINT.

The socket is bound here (so port 0 picks a free port), one line
``datacoral serve: listening on http://HOST:PORT`` (``https://`` with a
``certfile``) is printed once requests are served, and a signal drains in-flight
requests, closes the storage and returns 0.
uvicorn's access log stays off: it would print keys from ``/k/{key}/`` paths and
``api_key=`` query strings. With ``workers`` above 1 the bound socket goes to a
:class:`~datacoral.collector.supervisor.Supervisor`, whose workers each call
:func:`run` on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import logging.config
import math
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import uvicorn

from datacoral.collector.app import CollectorApp
from datacoral.collector.connection_limits import ConnectionLimits, open_files_limit
from datacoral.collector.front_door import FrontDoor, protocol_class
from datacoral.config import Settings
from datacoral.logs import formatter
from datacoral.metrics import MULTIPROCESS_VARIABLE

if TYPE_CHECKING:
    from datacoral.collector.metrics import CollectorMetrics
    from datacoral.metrics.listener import MetricsListener

logger = logging.getLogger("datacoral.collector")

_HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: Connections the kernel queues for ``accept`` (uvicorn's default).
BACKLOG = 2048


def log_config(level: str, *, with_pid: bool = False, log_format: str = "text") -> dict[str, Any]:
    """Logging for the server process: lines on stderr (text, or JSON objects: see
    :mod:`datacoral.logs`), no access log from uvicorn.

    ``with_pid`` names the process in every text line (``datacoral.access[4242]: ...``),
    for a supervisor and its workers, whose lines share one stderr.
    """
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": formatter(log_format, with_pid=with_pid)},
        # uvicorn logs a line per malformed request: at most one a second, with a count.
        "filters": {"client_noise": {"()": "datacoral.collector.tally.BurstFilter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "stream": "ext://sys.stderr",
                "filters": ["client_noise"],
            }
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            "datacoral": {"handlers": ["stderr"], "level": level, "propagate": False},
        },
    }


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on host:port (port 0: any free port)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def listening_line(host: str, sock: socket.socket, *, scheme: str = "http") -> str:
    """The line tests and ``datacoral quickstart`` wait for."""
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"datacoral serve: listening on {scheme}://{shown}:{port}"


def metrics_line(url: str) -> str:
    """The line that says where Prometheus scrapes (printed before the listening line)."""
    return f"datacoral serve: metrics on {url}"


def listen_for_metrics(settings: Settings, registry: Any) -> MetricsListener | None:
    """Start the metrics listener and print where it is; None (logged) when it cannot."""
    from datacoral.metrics.listener import listen

    assert settings.metrics_port is not None
    try:
        listener = listen(settings.metrics_host, settings.metrics_port, registry)
    except OSError as exc:
        logger.error(
            "cannot listen for metrics on %s:%s: %s",
            settings.metrics_host,
            settings.metrics_port,
            exc,
        )
        return None
    print(metrics_line(listener.url), flush=True)
    return listener


class _Server(uvicorn.Server):
    """uvicorn's server, announcing readiness and exiting normally on a signal.

    A worker also stops (gracefully, as on SIGTERM) when ``supervisor_fd``, the read
    end of a pipe only its supervisor holds open for writing, reaches end of file:
    the supervisor is gone, even by SIGKILL, so nobody would stop this process.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        on_started: Callable[[], None],
        supervisor_fd: int | None = None,
    ) -> None:
        super().__init__(config)
        self._on_started = on_started
        self._supervisor_fd = supervisor_fd

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and not self.should_exit:
            if self._supervisor_fd is not None:
                fd = self._supervisor_fd
                asyncio.get_running_loop().add_reader(fd, self._supervisor_gone, fd)
            self._on_started()

    def _supervisor_gone(self, fd: int) -> None:
        asyncio.get_running_loop().remove_reader(fd)
        if not self.should_exit:
            logger.warning("the supervisor is gone: stopping")
            self.should_exit = True

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn re-raises a caught signal after draining, which would end the
        # process by that signal; a graceful stop is a normal exit (status 0).
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in _HANDLED_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def serve(settings: Settings) -> int:
    """Serve until a signal; 0 after a graceful stop, non-zero when start failed."""
    logging.config.dictConfig(
        log_config(
            settings.log_level, with_pid=settings.workers > 1, log_format=settings.log_format
        )
    )
    # Multiprocess mode is this server's choice (the supervisor's, for its workers), never
    # a variable left in the environment.
    os.environ.pop(MULTIPROCESS_VARIABLE, None)
    try:
        limits = ConnectionLimits.from_settings(settings, open_files=open_files_limit())
    except ValueError as exc:
        logger.error("%s", exc)
        return 1
    if settings.workers > 1:
        logger.info("%r in each of %d workers", limits, settings.workers)
    else:
        logger.info("%r", limits)
    try:
        sock = bind(settings.host, settings.port)
    except OSError as exc:
        logger.error("cannot listen on %s:%s: %s", settings.host, settings.port, exc)
        return 1
    try:
        if settings.workers > 1:
            from datacoral.collector.supervisor import Supervisor

            sock.listen(BACKLOG)
            return Supervisor(settings, sock).run()

        def announce() -> None:
            print(listening_line(settings.host, sock, scheme=settings.scheme), flush=True)

        metrics: CollectorMetrics | None = None
        listener: MetricsListener | None = None
        if settings.metrics_port is not None:
            from datacoral.collector.metrics import CollectorMetrics

            metrics = CollectorMetrics()
            listener = listen_for_metrics(settings, metrics.registry())
            if listener is None:
                return 1
        try:
            return run(settings, limits, sock, on_started=announce, metrics=metrics)
        finally:
            if listener is not None:
                listener.close()
    finally:
        sock.close()


def run(
    settings: Settings,
    limits: ConnectionLimits,
    sock: socket.socket,
    *,
    on_started: Callable[[], None],
    supervisor_fd: int | None = None,
    metrics: CollectorMetrics | None = None,
) -> int:
    """Serve on ``sock`` until a signal (or, for a worker, until ``supervisor_fd``
    ends); ``on_started`` once requests are served. 0 after a graceful stop. With
    ``metrics``, requests, commits and open connections are counted there."""
    config = uvicorn.Config(
        CollectorApp(settings, metrics=metrics),
        loop="uvloop" if _available("uvloop") else "auto",
        # uvicorn's httptools protocol with bounded heads, deadlines and a connection cap.
        http=protocol_class(FrontDoor(limits, metrics=metrics)),
        # uvicorn also closes a connection idle after an answer; the front door does so
        # on time, uvicorn's own timer (whole seconds) only ever agrees with it.
        timeout_keep_alive=math.ceil(limits.keep_alive_timeout),
        ws="none",
        lifespan="on",
        access_log=False,
        log_config=None,
        proxy_headers=False,  # X-Forwarded-For is judged by the collector (trusted_proxies)
        server_header=False,
        backlog=BACKLOG,
        timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
        # TLS, when configured: uvicorn loads the certificate into its own SSL context.
        ssl_certfile=settings.certfile,
        ssl_keyfile=settings.keyfile,
    )
    server = _Server(config, on_started, supervisor_fd)
    if metrics is not None:
        connections = server.server_state.connections
        metrics.watch_connections(lambda: len(connections))
    try:
        server.run(sockets=[sock])
    except SystemExit as exc:  # uvicorn exits this way when the lifespan fails
        return exc.code if isinstance(exc.code, int) else 1
    if not server.started:
        return 1
    logger.info("stopped")
    return 0


if __name__ == "__main__":  # pragma: no cover - a development convenience
    sys.exit(serve(Settings.from_env()))
