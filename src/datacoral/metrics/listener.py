"""The HTTP listener Prometheus scrapes: a port of its own, never the public one.

``datacoral serve --metrics-port PORT`` and ``datacoral load --metrics-port PORT``
answer ``GET /metrics`` (any path, in fact) here with prometheus_client's own
server, on a daemon thread, bound to 127.0.0.1 unless ``--metrics-host`` names
another interface. Kept off the public port because that port faces browsers and
the internet: the figures name environments and volumes, a scrape there would
count against ``max_connections`` and get a 503 exactly when the endpoint is
overloaded, and with ``--workers N`` only the supervisor can answer for all
workers at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, disable_created_metrics, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector


@dataclass
class MetricsListener:
    """A started listener: where it answers, and how to stop it."""

    url: str
    server: WSGIServer
    thread: threading.Thread

    def close(self) -> None:
        """Stop answering and release the port."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def listen(host: str, port: int, registry: Collector) -> MetricsListener:
    """Serve ``registry`` on host:port (port 0: any free port); OSError when it cannot.

    Scrapes show no ``_created`` series: multiprocess mode has none, and one process
    serving should look the same.
    """
    disable_created_metrics()  # type: ignore[no-untyped-call]
    server, thread = start_http_server(port, addr=host, registry=registry)
    shown = f"[{host}]" if ":" in host else host
    return MetricsListener(f"http://{shown}:{server.server_port}/metrics", server, thread)


def multiprocess_registry(directory: str) -> CollectorRegistry:
    """A registry summing the metrics every process writes into ``directory``
    (prometheus_client's multiprocess mode)."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return registry


def process_gone(pid: int, directory: str) -> None:
    """Forget the gauges of a process that exited (its counters keep counting in the sum)."""
    mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
