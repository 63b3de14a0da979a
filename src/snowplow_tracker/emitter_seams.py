"""The surface upstream's emitters show and tests patch: ``http_post``, ``http_get``,
``send_events`` and their helpers, as a mixin of every emitter.

Every request goes through ``http_post(data: str) -> int`` or
``http_get(payload: dict) -> int``. While those are the emitter's own methods, a
batch goes straight to the transport with its bytes (same request, no detour
through text); once a test patches them or a subclass overrides them, every
request calls them, with upstream's arguments, and their int is the answer.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from snowplow_tracker.endpoint import parse_endpoint
from snowplow_tracker.json_text import ascii_json
from snowplow_tracker.transport import SendResult, status_of
from snowplow_tracker.typing import FailureCallback, PayloadDict, SuccessCallback

if TYPE_CHECKING:
    from snowplow_tracker.delivery import Delivery, RoundOutcome
    from snowplow_tracker.reports import Counters
    from snowplow_tracker.transport import Requester, Transport


class UpstreamSeams:
    """``http_post`` / ``http_get`` / ``send_events`` and upstream's attributes."""

    transport: Transport
    delivery: Delivery
    counters: Counters
    _results: threading.local

    # -- the request seams ------------------------------------------------------------------

    def http_post(self, data: str) -> int:
        """POST a ready body (JSON text); returns the status, or -1 when no answer came."""
        result = self.transport.post(data)
        self._results.last = result
        return result.status

    def http_get(self, payload: PayloadDict) -> int:
        """GET one event; returns the status, or -1 when no answer came."""
        result = self.transport.get(payload)
        self._results.last = result
        return result.status

    def send_post(self, body: bytes) -> SendResult:
        """One POST of a round: through ``http_post`` when it was replaced."""
        if getattr(self.http_post, "__func__", None) is _HTTP_POST:
            return self.transport.post(body)
        return self._through_seam(self.http_post, ascii_json(body))

    def send_get(self, event: PayloadDict) -> SendResult:
        """One GET of a round: through ``http_get`` when it was replaced."""
        if getattr(self.http_get, "__func__", None) is _HTTP_GET:
            return self.transport.get(event)
        return self._through_seam(self.http_get, event)

    def _through_seam(self, seam: Any, argument: Any) -> SendResult:
        self._results.last = None
        try:
            answer = seam(argument)
        except Exception as exc:  # a replaced seam that raises is a failed attempt
            return SendResult(-1, error=f"{type(exc).__name__}: {exc}"[:300])
        status = status_of(_Answer(answer))
        detail = getattr(self._results, "last", None)
        if isinstance(detail, SendResult) and detail.status == status:
            return detail  # our own transport answered: keep its Retry-After and error
        return SendResult(status, error=None if 200 <= status < 300 else f"HTTP {status}")

    # -- upstream's batch seam ----------------------------------------------------------------

    def send_events(self, evts: list[PayloadDict]) -> None:
        """Send ``evts`` now (only them: other queued events stay queued).

        Each gets ``stm``; the callbacks hear about them once; a retryable failure
        queues them for the retry. Flushes send every batch through here, so a test
        that patches it sees them.
        """
        self._after_send(self.delivery.send_batch(evts))

    def _after_send(self, outcome: RoundOutcome) -> None:
        """What an emitter does after a batch (the sync Emitter arms its retry timer)."""

    # -- upstream's helpers ---------------------------------------------------------------------

    @staticmethod
    def is_good_status_code(status_code: int) -> bool:
        """True for a 2xx status."""
        return 200 <= status_code < 300

    @staticmethod
    def attach_sent_timestamp(events: list[PayloadDict]) -> None:
        """Set ``stm`` (now, in milliseconds, as text) on every event, in place."""
        stm = str(int(time.time() * 1000))
        for event in events:
            event["stm"] = stm

    @staticmethod
    def as_collector_uri(
        endpoint: str, protocol: str = "https", port: int | None = None, method: str = "post"
    ) -> str:
        """The URL events go to for this endpoint and method."""
        from snowplow_tracker.emitter_options import resolve_method

        parsed = parse_endpoint(endpoint, protocol, port)
        return parsed.get_url if resolve_method(method) == "get" else parsed.post_url

    # -- upstream's attributes ------------------------------------------------------------------

    @property
    def on_success(self) -> SuccessCallback | None:
        """Called with the events each round delivered."""
        return self.counters.on_success

    @on_success.setter
    def on_success(self, callback: SuccessCallback | None) -> None:
        self.counters.on_success = callback

    @property
    def on_failure(self) -> FailureCallback | None:
        """Called with the number delivered and the events not delivered, once a round."""
        return self.counters.on_failure

    @on_failure.setter
    def on_failure(self, callback: FailureCallback | None) -> None:
        self.counters.on_failure = callback

    @property
    def retry_delay(self) -> float:
        """Seconds chosen for the wait after the last failure (0 after a success)."""
        return self.delivery.last_delay

    @property
    def request_method(self) -> Requester:
        """The ``post`` / ``get`` functions used whenever a request goes through requests;
        replace either to have every request call yours."""
        return self.transport.requester

    @request_method.setter
    def request_method(self, requester: Requester) -> None:
        self.transport.requester = requester


class _Answer:
    """What a replaced seam returned, read as a status (an int, or something with one)."""

    __slots__ = ("status_code",)

    def __init__(self, answer: Any) -> None:
        self.status_code = answer if isinstance(answer, int) else status_of(answer)


_HTTP_POST = UpstreamSeams.http_post
_HTTP_GET = UpstreamSeams.http_get
