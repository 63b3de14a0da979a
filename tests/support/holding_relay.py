"""A TCP relay to a local server that can hold back the server's answer mid-stream.

``HoldingRelay(port, budget=N)`` listens on 127.0.0.1 and relays each connection to
``port``. Everything a client sends passes; of the server's bytes, the first ``N`` on
each connection pass, then the relay stops reading from the server (whose writes back
up into its buffers, as behind a client that stopped reading) and sets :attr:`held`.
:meth:`release` lets the rest pass; :meth:`cut` closes every connection at once, so
that the client sees the answer end where it was held.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

#: The receive buffer of the relay's side of a server connection: small, so that the
#: server's writes back up soon after the relay stops reading.
_UPSTREAM_BUFFER = 64 * 1024


class HoldingRelay:
    def __init__(self, upstream_port: int, *, budget: int) -> None:
        self._upstream = ("127.0.0.1", upstream_port)
        self._budget = budget
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        #: Set once a connection passed its budget of the server's bytes and is held.
        self.held = threading.Event()
        self._released = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def release(self) -> None:
        """Let everything pass from now on."""
        self._released.set()

    def cut(self) -> None:
        """Stop listening and close every relayed connection: nothing held passes."""
        with self._lock:
            sockets, self._sockets = [self._listener, *self._sockets], set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked on it
            sock.close()
        self._released.set()  # only now: the held threads find their sockets closed

    def __enter__(self) -> HoldingRelay:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cut()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.socket()
            upstream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _UPSTREAM_BUFFER)
            try:
                upstream.connect(self._upstream)
            except OSError:
                client.close()
                upstream.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            for source, target, budget in (
                (client, upstream, None),
                (upstream, client, self._budget),
            ):
                threading.Thread(
                    target=self._pump, args=(source, target, budget), daemon=True
                ).start()

    def _pump(self, source: socket.socket, target: socket.socket, budget: int | None) -> None:
        passed = 0
        try:
            while True:
                if budget is not None and passed >= budget:
                    self.held.set()
                    self._released.wait()
                    budget = None
                wanted = 65536 if budget is None else min(65536, budget - passed)
                data = source.recv(wanted)
                if not data:
                    target.shutdown(socket.SHUT_WR)
                    return
                target.sendall(data)
                passed += len(data)
        except OSError:
            return
