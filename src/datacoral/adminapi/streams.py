"""Answers sent as they are read: an export's rows as NDJSON, a page of the store at a time.

A handler returns a :class:`Stream` over one of storage's page iterators
(``iter_events``, ``iter_bad_rows``), which read from one snapshot of the store. The
first page is read before the answer starts, so that a refusal or a storage failure
is still an ordinary error answer; then each page is read on a worker thread, turned
into lines there and sent, and the next is read only once the connection took it:
memory stays that of about two pages, however large the export and however slow the
client.

An answer cannot change its status once it started. When storage fails mid-stream
the answer is cut short: the connection closes without the final chunk, which the
client sees as an incomplete answer (and ``events export`` as a failure, leaving no
output file). A client that goes away stops the reading, and the iterator is closed
(releasing its connection and snapshot) however the answer ends.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import threading
from collections.abc import Callable, Generator
from operator import attrgetter
from typing import Any, Generic, TypeVar

import orjson

from datacoral.collector.asgi import Receive, Send
from datacoral.export.records import bad_row_json
from datacoral.storage.base import GoodEvent, StorageError, StoredBadRow, StoredEvent

logger = logging.getLogger("datacoral.collector")

Row = TypeVar("Row")

_NDJSON = (b"content-type", b"application/x-ndjson")
_FIELDS = tuple(field.name for field in dataclasses.fields(GoodEvent))
_values: Callable[[GoodEvent], tuple[Any, ...]] = attrgetter(*_FIELDS)


def event_row(stored: StoredEvent) -> dict[str, Any]:
    """A good event as an export stream sends it: ``position``, then every field as
    stored (the JSON texts as text, unlike ``event_json``), the fingerprint in hex."""
    row = {"position": stored.position, **dict(zip(_FIELDS, _values(stored.event), strict=True))}
    row["fingerprint"] = stored.event.fingerprint.hex()
    return row


def event_line(stored: StoredEvent) -> bytes:
    """One good event as one NDJSON line."""
    return ndjson_line(event_row(stored))


def bad_row_line(stored: StoredBadRow) -> bytes:
    """One bad row as one NDJSON line (the object ``listBadRows`` answers with)."""
    return ndjson_line(bad_row_json(stored))


def ndjson_line(value: dict[str, Any]) -> bytes:
    """``value`` as compact JSON and ``\\n``. A lone surrogate, which stored text may
    hold and orjson refuses, is written as its ``\\uXXXX`` escape, which reads back
    the same."""
    try:
        return orjson.dumps(value, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode() + b"\n"


class Stream(Generic[Row]):
    """The pages of a storage iterator as NDJSON, read by one thread at a time.

    :meth:`begin` reads the first page (on the handler's worker thread);
    :func:`send_stream` sends it and reads the rest; :meth:`close` ends the iterator,
    waiting for a read in progress (the iterator cannot be closed while it runs).
    """

    def __init__(
        self, pages: Generator[list[Row], None, None], line: Callable[[Row], bytes]
    ) -> None:
        self._pages = pages
        self._line = line
        self._lock = threading.Lock()
        self.first: bytes | None = None
        self.rows = 0

    def begin(self) -> None:
        """Read the first page, so that its failure is still an error answer."""
        self.first = self.read()

    def read(self) -> bytes | None:
        """The next page's lines, or None after the last; blocks on storage."""
        with self._lock:
            page = next(self._pages, None)
            if page is None:
                return None
            self.rows += len(page)
            return b"".join([self._line(row) for row in page])

    def close(self) -> None:
        with self._lock:
            self._pages.close()


async def send_stream(stream: Stream[Any], receive: Receive, send: Send, what: str) -> None:
    """Send ``stream`` (begun) as a 200 NDJSON answer; ``what`` names it in the log line
    of an answer that ends early (storage failed, the client went away). The stream is
    closed however this ends."""
    gone = asyncio.Event()
    watcher = asyncio.create_task(_watch_disconnect(receive, gone))
    try:
        await send({"type": "http.response.start", "status": 200, "headers": [_NDJSON]})
        chunk, stream.first = stream.first, None
        while chunk is not None:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if gone.is_set():
                logger.info("%s: the client went away after %d rows", what, stream.rows)
                return
            try:
                chunk = await asyncio.to_thread(stream.read)
            except StorageError as exc:
                # Returning without the final chunk makes the server close the connection:
                # the client cannot take what it got for a whole answer.
                logger.warning("%s cut short after %d rows: %s", what, stream.rows, exc)
                return
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        watcher.cancel()
        await asyncio.to_thread(stream.close)


async def _watch_disconnect(receive: Receive, gone: asyncio.Event) -> None:
    """Set ``gone`` when the client goes away (the server's sends then do nothing)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone.set()
            return
