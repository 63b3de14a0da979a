"""Pulling a durable consumer's messages in batches that fill.

nats-py's ``fetch`` returns as soon as anything is there, so under a steady trickle
each fetch brings one to four messages and each becomes its own transaction. A
:class:`BatchPuller` instead asks JetStream for up to ``size`` messages with an
expiry of ``wait`` seconds (one pull request), and returns when ``size`` arrived
or the request expired: a backlog comes in full batches, a trickle in what
arrived within ``wait``. Every request answers on its own inbox subject, so a
status for an earlier request (its expiry, a leadership change) is told apart.
"""

from __future__ import annotations

import asyncio
import json
import time

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

#: Seconds past a request's expiry before it is given up on (the server is gone).
_GRACE = 1.0
_HEARTBEAT = "100"
_NO_RESPONDERS = "503"


def status_of(msg: Msg) -> str | None:
    """The status code of a status message (no data), or None for a real message."""
    headers = msg.headers
    if not headers or msg.data:
        return None
    return headers.get("Status")


class BatchPuller:
    """Pull requests for one consumer, answered on this puller's own inbox."""

    def __init__(self, client: Client, stream: str, consumer: str) -> None:
        self._client = client
        self._next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._inbox = client.new_inbox()
        self._queue: asyncio.Queue[Msg | None] = asyncio.Queue()
        self._subscription: Subscription | None = None
        self._requests = 0
        #: True after JetStream did not answer a request (no consumer, no leader).
        self.unanswered = False

    async def start(self) -> None:
        self._subscription = await self._client.subscribe(f"{self._inbox}.*", cb=self._arrived)

    async def _arrived(self, msg: Msg) -> None:
        self._queue.put_nowait(msg)

    async def batch(self, size: int, wait: float) -> list[Msg]:
        """Up to ``size`` messages: as many as arrive within ``wait`` seconds."""
        self._requests += 1
        reply = f"{self._inbox}.{self._requests}"
        request = {"batch": size, "expires": int(wait * 1e9)}
        await self._client.publish(self._next_subject, json.dumps(request).encode(), reply=reply)
        got: list[Msg] = []
        deadline = time.monotonic() + wait + _GRACE
        self.unanswered = False
        while len(got) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.unanswered = True
                break
            try:
                msg = await asyncio.wait_for(self._queue.get(), remaining)
            except asyncio.TimeoutError:
                continue
            if msg is None:  # woken to stop
                break
            status = status_of(msg)
            if status is None:
                got.append(msg)  # a delivery, to this request or an earlier one
            elif status != _HEARTBEAT and msg.subject == reply:
                self.unanswered = status == _NO_RESPONDERS
                break  # this request ended: expired, or the consumer cannot serve it
        return got

    def wake(self) -> None:
        """End a :meth:`batch` in progress now (to stop)."""
        self._queue.put_nowait(None)

    async def stop(self) -> list[Msg]:
        """Stop receiving; the messages that arrived but were not taken (to give back)."""
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None
        left: list[Msg] = []
        while not self._queue.empty():
            msg = self._queue.get_nowait()
            if msg is not None and status_of(msg) is None:
                left.append(msg)
        return left
