"""A TCP relay to a local server that holds a connection silent, then lets it all through late.

``LateRelay(port)`` listens on 127.0.0.1 and relays each connection to ``port``. After
:meth:`hold` (``at=b"BEGIN"``), a chunk a client sends that contains ``at`` makes
its connection silent both ways: that chunk and everything after it, from
either side, is kept back (nothing is dropped, nothing is closed) until
:meth:`release`, when it passes in order. So a request reaches the server late
instead of never, as over a network that retransmits for minutes, and the client
does not hear what the server did meanwhile (a session it ended, say). :attr:`held`
is set once a connection went silent; :meth:`close` ends every connection.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class LateRelay:
    def __init__(self, upstream_port: int) -> None:
        self._upstream = ("127.0.0.1", upstream_port)
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._trigger: bytes | None = None
        self._released = threading.Event()
        self._released.set()
        #: Set once a connection went silent because of :meth:`hold`.
        self.held = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def hold(self, *, at: bytes) -> None:
        """Until :meth:`release`, silence each connection whose client sends ``at``."""
        self.held = threading.Event()
        self._released.clear()
        self._trigger = at

    def release(self) -> None:
        """Let everything kept back pass, and everything after it."""
        self._trigger = None
        self._released.set()

    def close(self) -> None:
        with self._lock:
            sockets, self._sockets = [self._listener, *self._sockets], set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked on it
            sock.close()
        self._released.set()

    def __enter__(self) -> LateRelay:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._upstream, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            silent = threading.Event()
            with self._lock:
                self._sockets.update((client, upstream))
            directions = ((client, upstream, True), (upstream, client, False))
            for source, target, from_client in directions:
                threading.Thread(
                    target=self._pump, args=(source, target, silent, from_client), daemon=True
                ).start()

    def _pump(
        self,
        source: socket.socket,
        target: socket.socket,
        silent: threading.Event,
        from_client: bool,
    ) -> None:
        try:
            while True:
                data = source.recv(65536)
                trigger = self._trigger
                if from_client and trigger is not None and trigger in data:
                    silent.set()
                    self.held.set()
                if silent.is_set():
                    self._released.wait()
                if not data:
                    target.shutdown(socket.SHUT_WR)
                    return
                target.sendall(data)
        except OSError:
            return
