"""A TCP proxy on a loopback port, to take a database away and give it back.

``TCPProxy(upstream_port)`` listens on 127.0.0.1 and relays every connection to
the upstream port. :meth:`cut` closes the listener and every relayed connection:
the database behind it is unreachable (connections refused). :meth:`restore`
listens on the same port again. :meth:`hold` makes the network go silent instead,
closing nothing: what is sent is never answered (a partition, a frozen host).
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class _Hold:
    after: bytes | None


class TCPProxy:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self._upstream = (upstream_host, upstream_port)
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._hold: _Hold | None = None
        #: Set once a client's request goes unanswered because of :meth:`hold`.
        self.stalled = threading.Event()
        self.port = 0
        self.restore()

    def restore(self) -> None:
        """Listen (again, on the same port) and relay new connections."""
        self._hold = None
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stop = threading.Event()
        threading.Thread(target=self._accept, args=(listener, self._stop), daemon=True).start()

    def cut(self) -> None:
        """Stop listening and close every relayed connection."""
        self._stop.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not,
            # and the socket would go on listening until that accept() returned.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    close = cut

    def hold(self, *, after: bytes | None = None) -> None:
        """From now on nothing passes, either way, and nothing is closed: relayed
        connections stay open (a close is not passed on either), new ones are accepted
        and never answered. With ``after``, a client's bytes still pass on each relayed
        connection until a chunk containing ``after`` did: that request reaches the
        server, its answer and everything later are swallowed. :attr:`stalled` is set
        when a request goes unanswered. :meth:`cut` ends it all."""
        self.stalled = threading.Event()
        self._hold = _Hold(after)

    def _accept(self, listener: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self._hold is not None:  # accepted, never answered
                with self._lock:
                    self._sockets.add(client)
                continue
            try:
                upstream = socket.create_connection(self._upstream, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
            threading.Thread(target=self._relay, args=(client, upstream), daemon=True).start()

    def _was_cut(self, sock: socket.socket) -> bool:
        with self._lock:
            return sock not in self._sockets

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        passed_trigger = False  # with hold(after=...): the request that goes unanswered

        def silent() -> bool:
            hold = self._hold
            return hold is not None and (hold.after is None or passed_trigger)

        with selectors.DefaultSelector() as selector:
            selector.register(client, selectors.EVENT_READ, upstream)
            selector.register(upstream, selectors.EVENT_READ, client)
            try:
                while selector.get_map() and not self._was_cut(client):
                    for key, _ in selector.select(timeout=1.0):
                        source: socket.socket = key.fileobj  # type: ignore[assignment]
                        data = source.recv(65536)
                        if not data and not silent():
                            return
                        if not data:  # a close, not passed on
                            selector.unregister(source)
                            continue
                        if silent():
                            if source is client:
                                self.stalled.set()
                            continue
                        key.data.sendall(data)
                        after = self._hold.after if self._hold is not None else None
                        if source is client and after is not None and after in data:
                            passed_trigger = True
                            self.stalled.set()
            except OSError:
                return
            finally:
                for sock in (client, upstream):
                    with contextlib.suppress(OSError):
                        sock.close()
                with self._lock:
                    self._sockets.difference_update((client, upstream))
