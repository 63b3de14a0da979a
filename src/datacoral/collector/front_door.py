"""The front door of ``datacoral serve``: bounded request heads, deadlines, a connection cap.

uvicorn's httptools protocol keeps whatever a client sends before its headers end
and waits for it forever. :class:`FrontDoorProtocol` is that protocol with limits:

- a request line longer than ``max_request_line_bytes`` gets 414, a head (request
  line and headers) larger than ``max_header_bytes`` gets 431;
- a head not received within ``header_timeout_seconds`` of its first byte, or a
  body not received within ``body_timeout_seconds`` of the end of its head, gets
  408; a connection that waits ``keep_alive_timeout_seconds`` for a request is
  closed without an answer;
- past ``max_connections`` open connections, a new connection replaces the
  longest-idle one, or, when none is idle, gets 503 with ``Retry-After``.

Refusals are written here, then the connection is half-closed and its input is
read and dropped for a moment before it is closed (so the client reads the
answer instead of a reset). Each kind of refusal is logged at most once a second,
with a count, and, with metrics on, counted as an answered request: route
``front_door``, or, when the routes already had the request (its body was too slow
or did not parse), the routes' own label with the front door's status. Everything
else (parsing, the ASGI cycle) is uvicorn's.
"""

from __future__ import annotations

import asyncio
import enum
import http
import logging
import math
from typing import TYPE_CHECKING, Any, ClassVar, cast

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from datacoral.collector.connection_limits import SPARE_CONNECTIONS, ConnectionLimits
from datacoral.collector.middleware import FRONT_DOOR_STATUS
from datacoral.collector.tally import Tally

if TYPE_CHECKING:
    from datacoral.collector.metrics import CollectorMetrics

logger = logging.getLogger("datacoral.collector")

#: How long a refused connection's input is read and dropped before it is closed (at
#: most one request's worth: ``max_header_bytes + max_body_bytes``).
LINGER_SECONDS = 2.0


def _answer(status: int, reason: str, *headers: bytes) -> bytes:
    """A complete HTTP/1.1 answer that closes the connection, body like ``send_rejection``."""
    body = f"{status} {reason}\n".encode()
    return b"".join(
        [
            f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n".encode(),
            *(header + b"\r\n" for header in headers),
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        ]
    )


class _Phase(enum.Enum):
    IDLE = "waiting for a request"
    HEAD = "reading a request head"
    BODY = "reading a request body"
    WAITING = "request read, answer pending"
    LINGER = "answered; dropping input until closed"
    CLOSED = "closing"


_IDLE, _HEAD, _BODY, _WAITING, _LINGER, _CLOSED = _Phase


class FrontDoor:
    """The state all connections of one server share: limits, who is idle, the sweeper.

    With ``metrics``, every answer the front door writes itself is counted there.
    """

    def __init__(
        self, limits: ConnectionLimits, *, metrics: CollectorMetrics | None = None
    ) -> None:
        self.limits = limits
        self.metrics = metrics
        retry_after = b"retry-after: %d" % limits.retry_after_seconds
        self.too_busy = _answer(503, "too many connections; retry later", retry_after)
        self.url_too_long = _answer(414, "request line too long")
        self.head_too_large = _answer(431, "request head too large")
        self.head_too_slow = _answer(408, "request head not received in time")
        self.body_too_slow = _answer(408, "request body not received in time")
        #: Every connection with a deadline; the sweeper looks at them.
        self.watched: set[FrontDoorProtocol] = set()
        #: Connections waiting for a request, the longest-waiting first.
        self.idle: dict[FrontDoorProtocol, None] = {}
        #: Connections past the bound that are open: turned away, or replaced and closing.
        self.spares_used = 0
        self._sweeper: asyncio.TimerHandle | None = None
        shortest = min(limits.header_timeout, limits.body_timeout, limits.keep_alive_timeout)
        self._tick = min(0.5, max(0.05, shortest / 4))
        self.turned_away = Tally(
            logging.WARNING,
            "answered 503 to %d new connection(s): %d connections are open, max_connections is %d",
        )
        self.dropped = Tally(
            logging.WARNING,
            "closed %d new connection(s) without an answer: max_connections (%d) is reached"
            " and the %d spare connections are all in use turning others away",
        )
        self.replaced = Tally(
            logging.INFO,
            "closed %d idle connection(s) to make room for new ones: max_connections (%d)"
            " is reached",
        )
        self.line_refused = Tally(
            logging.INFO,
            "answered 414 to %d request(s) longer than max_request_line_bytes (%d)",
        )
        self.head_refused = Tally(
            logging.INFO, "answered 431 to %d request(s) larger than max_header_bytes (%d)"
        )
        self.head_timed_out = Tally(
            logging.INFO,
            "answered 408 to %d request(s) whose head took longer than header_timeout_seconds (%s)",
        )
        self.body_timed_out = Tally(
            logging.INFO,
            "answered 408 to %d request(s) whose body took longer than body_timeout_seconds (%s)",
        )

    def answered(self, status: int) -> None:
        """Count an answer written here to a request the routes never saw."""
        if self.metrics is not None:
            self.metrics.front_door_answered(status)

    def watch(self, connection: FrontDoorProtocol, loop: asyncio.AbstractEventLoop) -> None:
        self.watched.add(connection)
        if self._sweeper is None:
            self._sweeper = loop.call_later(self._tick, self._sweep, loop)

    def make_room(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Close the longest-idle connection for a new one, when one is idle."""
        if not self.idle or self.spares_used >= SPARE_CONNECTIONS:
            return False
        oldest = next(iter(self.idle))
        oldest.replace()
        self.replaced.add(loop, self.limits.max_connections)
        return True

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sweeper = loop.call_later(self._tick, self._sweep, loop)
        now = loop.time()
        for connection in [c for c in self.watched if c.deadline <= now]:
            try:
                connection.expire()
            except Exception:  # a bug of ours: close that connection, keep the sweeper
                logger.exception("internal error at a connection's deadline")
                connection.transport.abort()


def _answered_instead(scope: object, status: int) -> None:
    """Leave ``status`` in the scope of a request the routes have: their metrics count
    the request, when it ends, with what the client got from the front door."""
    cast(dict[str, Any], scope)[FRONT_DOOR_STATUS] = status


#: Called by name on the hot path: cheaper than ``super()``.
_Base = HttpToolsProtocol


class FrontDoorProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of :class:`FrontDoor`.

    A request that arrives in one read costs a few attribute writes here: deadlines
    are set only for a head or body still unfinished when a read ends, and a head
    is measured only when it spanned reads or came with more than the limit.
    """

    door: ClassVar[FrontDoor]

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        #: When the current phase ends (loop time); the sweeper acts on it.
        self.deadline = math.inf
        self._phase = _IDLE
        self._spare = False  # counted in door.spares_used until it is closed
        self._begun = 0  # requests begun on this connection
        self._read = 0  # bytes in the read being parsed
        self._head_bytes = 0  # bytes of earlier reads that held only the current head
        self._measure_head = False  # the head began within a read after another request
        self._dropped = 0  # bytes read and dropped after a refusal

    def _idle(self) -> None:
        self._phase = _IDLE
        self.deadline = self.loop.time() + self.door.limits.keep_alive_timeout
        self.door.idle[self] = None

    def _stop(self, phase: _Phase, seconds: float = math.inf) -> None:
        """Leave the request cycle: lingering after an answer, or closing."""
        if self._phase is _IDLE:
            self.door.idle.pop(self, None)
        self._phase = phase
        self.deadline = self.loop.time() + seconds

    # Connections: admitted, replaced, turned away

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        door = self.door
        if len(self.connections) >= door.limits.max_connections and not door.make_room(self.loop):
            self._turn_away(transport)
            return
        super().connection_made(transport)
        door.watch(self, self.loop)
        self._idle()

    def _turn_away(self, transport: asyncio.Transport) -> None:
        door = self.door
        self.transport = transport
        self._phase = _CLOSED
        if door.spares_used >= SPARE_CONNECTIONS:
            transport.abort()
            door.dropped.add(self.loop, door.limits.max_connections, SPARE_CONNECTIONS)
            return
        self._spare = True
        door.spares_used += 1
        door.watch(self, self.loop)
        self._linger(door.too_busy)
        door.answered(503)
        door.turned_away.add(self.loop, len(self.connections), door.limits.max_connections)

    def replace(self) -> None:
        """Close this idle connection to make room for a new one."""
        self._stop(_CLOSED)
        self._spare = True
        self.door.spares_used += 1
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        door = self.door
        door.watched.discard(self)
        door.idle.pop(self, None)
        if self._spare:
            self._spare = False
            door.spares_used -= 1
        self._phase = _CLOSED
        super().connection_lost(exc)

    def shutdown(self) -> None:
        """A graceful shutdown: an idle connection is closed at once, a busy one after its
        answer (uvicorn's rule). Over TLS an idle connection is aborted instead: a close
        sends close_notify and waits up to 30 s for the client's, which a client idle in
        its pool does not send, so SIGTERM would wait that long for every such client."""
        idle = self.cycle is None or self.cycle.response_complete
        if idle and self.transport.get_extra_info("ssl_object") is not None:
            self.transport.abort()
            return
        super().shutdown()

    # Deadlines and refusals

    def expire(self) -> None:
        """The deadline of the current phase has passed."""
        door, phase, limits = self.door, self._phase, self.door.limits
        if phase is _HEAD or phase is _BODY:
            timeout = limits.header_timeout if phase is _HEAD else limits.body_timeout
            if self.flow.read_paused:
                # uvicorn stopped reading (a pipelined request waits, or the application
                # has not taken the body yet): that time is the server's, not the client's.
                self.deadline = self.loop.time() + timeout
            elif phase is _HEAD:
                door.head_timed_out.add(self.loop, timeout)
                self._refuse(door.head_too_slow, 408)
            else:
                door.body_timed_out.add(self.loop, timeout)
                self._refuse(door.body_too_slow, 408)
        else:  # idle, or done lingering
            self._stop(_CLOSED)
            self.transport.close()

    def _refuse(self, answer: bytes, status: int) -> None:
        """Answer ``status`` in uvicorn's stead, then linger and close."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if self._phase is not _BODY:
                # An earlier (pipelined) request is being answered: that answer ends
                # the connection, and this request gets none.
                cycle.keep_alive = False
                self._stop(_CLOSED)
                return
            # This request's own cycle: the application gets http.disconnect, and its
            # answer, if it began one, cannot be followed by ours.
            cycle.disconnected = True
            cycle.waiting_for_100_continue = False  # no "100 Continue" after our answer
            cycle.message_event.set()
            if cycle.response_started:
                self._stop(_CLOSED)
                self.transport.close()
                return
            _answered_instead(cycle.scope, status)
        else:
            self.door.answered(status)
        self.flow.resume_reading()
        self._linger(answer)

    def _linger(self, answer: bytes) -> None:
        self._stop(_LINGER, LINGER_SECONDS)
        self.transport.write(answer)
        if self.transport.can_write_eof():
            self.transport.write_eof()

    def _line_too_long(self) -> bool:
        limit, target = self.door.limits.max_request_line_bytes, len(self.url)
        # method SP target SP "HTTP/1.1" CRLF; no method is longer than 32 bytes, so it
        # is looked up only near the limit.
        return target + 44 > limit and len(self.parser.get_method()) + target + 12 > limit

    def _refuse_head(self) -> None:
        """414 when the request line is too long, else 431."""
        door = self.door
        if self._line_too_long():
            door.line_refused.add(self.loop, door.limits.max_request_line_bytes)
            self._refuse(door.url_too_long, 414)
        else:
            door.head_refused.add(self.loop, door.limits.max_header_bytes)
            self._refuse(door.head_too_large, 431)

    def send_400_response(self, msg: str) -> None:
        if self._phase is _LINGER:  # a refusal was answered already
            return
        cycle = self.cycle
        if self._phase is _BODY and cycle is not None and not cycle.response_complete:
            _answered_instead(cycle.scope, 400)  # its body does not parse
        else:
            self.door.answered(400)
        super().send_400_response(msg)

    # Input: heads measured and deadlines set when a read ends mid-request

    def data_received(self, data: bytes) -> None:
        phase = self._phase
        if phase is _LINGER:
            self._dropped += len(data)
            limits = self.door.limits
            if self._dropped > limits.max_header_bytes + limits.max_body_bytes:
                self._stop(_CLOSED)
                self.transport.close()
            return
        if phase is _CLOSED:
            return
        begun = self._begun
        self._read = len(data)
        _Base.data_received(self, data)
        if self._phase is _HEAD:
            limits = self.door.limits
            if self.deadline == math.inf:
                self.deadline = self.loop.time() + limits.header_timeout
            if self._begun == begun or (
                self._begun == begun + 1 and (phase is _IDLE or phase is _WAITING)
            ):
                # All of this read belongs to the unfinished head, which httptools keeps
                # in memory until its current header ends.
                self._head_bytes += len(data)
            else:  # the head began after another request in this read
                self._measure_head = True
            too_large = self._head_bytes > limits.max_header_bytes or self._line_too_long()
            if too_large and not self.transport.is_closing():  # not answered 400 already
                self._refuse_head()
        elif self._phase is _BODY and self.deadline == math.inf:
            self.deadline = self.loop.time() + self.door.limits.body_timeout

    # Parser callbacks: phases, and the size of a head; ignored once refused

    def on_message_begin(self) -> None:
        phase = self._phase
        if phase is _LINGER or phase is _CLOSED:
            return
        if phase is _IDLE:
            self.door.idle.pop(self, None)
        self._phase = _HEAD
        self.deadline = math.inf  # set by data_received if the head is not done
        self._begun += 1
        self._head_bytes = 0
        self._measure_head = False
        _Base.on_message_begin(self)

    def on_headers_complete(self) -> None:
        if self._phase is not _HEAD:
            return
        limits = self.door.limits
        if (
            self._measure_head
            or self._head_bytes + self._read > limits.max_header_bytes
            or len(self.url) + 44 > limits.max_request_line_bytes
        ):
            fields = sum(len(name) + len(value) + 4 for name, value in self.headers)
            if self._line_too_long() or len(self.url) + fields > limits.max_header_bytes:
                self._refuse_head()
                return
        self._phase = _BODY
        self.deadline = math.inf  # set by data_received if the body is not done
        _Base.on_headers_complete(self)

    def on_body(self, body: bytes) -> None:
        if self._phase is _BODY:
            _Base.on_body(self, body)

    def on_message_complete(self) -> None:
        if self._phase is not _BODY:
            return
        _Base.on_message_complete(self)
        if self.cycle.response_complete:  # answered before the body ended, e.g. 413
            self._idle()
        else:
            self._phase = _WAITING
            self.deadline = math.inf

    def on_response_complete(self) -> None:
        _Base.on_response_complete(self)
        if (
            self._phase is _WAITING
            and self.cycle.response_complete  # not a pipelined request started just now
            and not self.transport.is_closing()
        ):
            self._idle()


def protocol_class(door: FrontDoor) -> type[FrontDoorProtocol]:
    """The protocol class to give uvicorn (``Config(http=...)``) for one server."""

    class ServerFrontDoorProtocol(FrontDoorProtocol):
        pass

    ServerFrontDoorProtocol.door = door
    return ServerFrontDoorProtocol
