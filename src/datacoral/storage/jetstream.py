"""The collector's storage when JetStream stands between collectors and PostgreSQL.

:meth:`JetStreamSink.commit` publishes a request's good events and bad rows as one
message (:mod:`.jetstream_messages`) to the environment's subject and returns once
the stream acknowledged it; ``datacoral load`` later writes it into PostgreSQL.
Keys, environments and origins still come from PostgreSQL (a
:class:`~datacoral.storage.postgres.PostgresStorage`, which also writes the keys'
last-used times).

What the acknowledgement (and so a 200) means is the stream's business: stored by
a quorum of its replicas (R3: two of three servers) or by its one server (R1), on
disk or in the page cache as the servers' ``sync_interval`` says (``always``,
nats-server 2.10 and newer: fsynced before the acknowledgement). No
acknowledgement within ``publish_timeout_seconds`` (a leader election, a server
down, a full stream) raises :class:`StorageUnavailable`: the collector answers 503
with ``Retry-After``, and the tracker's retry carries the same message id, so a
message stored despite the missing acknowledgement is not stored twice within the
stream's duplicate window.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict

from nats.aio.client import Client
from nats.js import JetStreamContext

from datacoral.storage.base import (
    BadRow,
    CommitResult,
    EnvironmentRecord,
    GoodEvent,
    KeyRecord,
    StorageError,
    StorageUnavailable,
)
from datacoral.storage.jetstream_messages import Message, messages
from datacoral.storage.jetstream_settings import StreamSettings
from datacoral.storage.jetstream_setup import NATS_ERRORS, connect, describe_error, ensure_stream
from datacoral.storage.loop_thread import LoopThread
from datacoral.storage.postgres import PostgresStorage

log = logging.getLogger("datacoral.stream")

#: Seconds ``open`` waits for a server of the stream to answer.
CONNECT_TIMEOUT = 10.0


class JetStreamSink:
    """The :class:`~datacoral.storage.base.Storage` of a collector publishing to JetStream."""

    def __init__(self, metadata: PostgresStorage, stream: StreamSettings) -> None:
        self._metadata = metadata
        self.stream = stream
        self._thread: LoopThread | None = None
        self._client: Client | None = None
        self._js: JetStreamContext | None = None
        self._published = 0

    def __repr__(self) -> str:
        return f"JetStreamSink({self._metadata!r}, {self.stream!r})"

    # --- lifecycle -----------------------------------------------------------

    def open(self) -> None:
        """Open PostgreSQL, connect to the stream and create or update it."""
        if self._thread is not None:
            return
        self._metadata.open()
        thread = LoopThread("datacoral-stream")
        thread.start()
        try:
            self._client, self._js = thread.run(self._connect())
        except BaseException:
            thread.stop()
            self._metadata.close()
            raise
        self._thread = thread
        log.info(
            "publishing to stream %s (R%d, subjects %s.<environment>, duplicate window %g s)"
            " at %s: a 200 means the stream acknowledged the request%s",
            self.stream.name,
            self.stream.replicas,
            self.stream.subject,
            self.stream.duplicate_window_seconds,
            self.stream.shown_servers(),
            " on a quorum of its servers" if self.stream.replicas > 1 else " on its one server",
        )

    async def _connect(self) -> tuple[Client, JetStreamContext]:
        client = await connect(self.stream, name="datacoral-collector", timeout=CONNECT_TIMEOUT)
        try:
            js = client.jetstream(timeout=self.stream.publish_timeout_seconds)
            await ensure_stream(js, self.stream, update=True)
        except BaseException:
            await client.close()
            raise
        return client, js

    def close(self) -> None:
        """Wait for publishes in flight (their requests are being answered), disconnect,
        then close PostgreSQL."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        client = self._client
        try:
            if client is not None:
                thread.run(client.close(), timeout=CONNECT_TIMEOUT)
        except Exception as exc:  # closing anyway; nothing is pending after a drain
            log.warning("closing the stream connection: %s", describe_error(exc))
        finally:
            thread.stop()
            self._metadata.close()

    def __enter__(self) -> JetStreamSink:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- the collector's path ------------------------------------------------

    def lookup_key(self, key_hash: bytes) -> KeyRecord | None:
        return self._metadata.lookup_key(key_hash)

    def environments(self) -> list[EnvironmentRecord]:
        return self._metadata.environments()

    def is_ready(self) -> bool:
        """Connected to a server of the stream, and PostgreSQL is ready."""
        client = self._client
        return client is not None and client.is_connected and self._metadata.is_ready()

    async def commit(self, good: list[GoodEvent], bad: list[BadRow]) -> CommitResult:
        """Publish the records as one message per environment (parts, if too large)
        and return once every one is acknowledged."""
        thread, client, js = self._thread, self._client, self._js
        if thread is None or client is None or js is None:
            raise StorageError("storage is not open")
        by_environment: defaultdict[str | None, tuple[list[GoodEvent], list[BadRow]]]
        by_environment = defaultdict(lambda: ([], []))
        for event in good:
            by_environment[event.environment][0].append(event)
        for row in bad:
            by_environment[row.environment][1].append(row)
        limit = client.max_payload
        outgoing = [
            (self.stream.subject_of(environment), message)
            for environment, (env_good, env_bad) in by_environment.items()
            for message in messages(env_good, env_bad, limit)
        ]
        await thread.call(self._publish(js, outgoing))
        return CommitResult(stored=len(good), duplicates=0, conflicts=0, bad_rows=len(bad))

    async def _publish(self, js: JetStreamContext, outgoing: list[tuple[str, Message]]) -> None:
        started = time.monotonic()
        try:
            await asyncio.gather(
                *(
                    js.publish(
                        subject,
                        message.data,
                        timeout=self.stream.publish_timeout_seconds,
                        stream=self.stream.name,
                        headers={"Nats-Msg-Id": message.message_id},
                    )
                    for subject, message in outgoing
                )
            )
        except NATS_ERRORS as exc:
            waited = time.monotonic() - started
            raise StorageUnavailable(
                f"stream unavailable: no acknowledgement from {self.stream.name} after"
                f" {waited:.1f} s ({describe_error(exc)})"
            ) from exc
        self._published += len(outgoing)
