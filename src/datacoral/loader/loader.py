"""The loader: fetch a batch, write it in one PostgreSQL transaction, then acknowledge.

Any number of loaders share one durable pull consumer; JetStream gives each
message to one of them. A message is acknowledged only after the transaction that
wrote it committed; a loader killed before that leaves its messages to be
delivered again after ``load_ack_wait_seconds``, and a message delivered again
after its commit is recognised in PostgreSQL and skipped, however late it comes
(:mod:`datacoral.storage.postgres_loads`): nothing is lost and nothing doubles.

While PostgreSQL is unavailable the batch in hand is retried with backoff, and the
stream is told the loader is still working on it. SIGTERM or SIGINT lets the
batch in hand finish (written and acknowledged), hands back what arrived
after it, and returns 0; if PostgreSQL does not answer by then, the batch goes
back to the stream for another loader (:mod:`.signals`).

PostgreSQL is only ever called from :class:`~datacoral.loader.blocking.BlockingThread`,
never on the event loop: a database that does not answer holds up the batch in hand
(and the loader with it: its messages go to other loaders after the ack wait), but
the loop stays free to hear SIGTERM and to stop. PostgreSQL, for its part, ends a
load transaction left idle longer than the ack wait, so that a loader cut off in the
middle of one does not keep the loader that gets its messages next waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from functools import partial

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from datacoral.loader.blocking import BlockingThread
from datacoral.loader.incarnation import stream_incarnation
from datacoral.loader.progress import Lag, Progress
from datacoral.loader.pull import BatchPuller
from datacoral.loader.settings import LoaderSettings
from datacoral.storage.base import StorageError, StorageUnavailable
from datacoral.storage.jetstream_messages import MessageFormatError, decode
from datacoral.storage.jetstream_setup import (
    NATS_ERRORS,
    connect,
    ensure_consumer,
    ensure_stream,
)
from datacoral.storage.postgres import PostgresStorage
from datacoral.storage.postgres_loads import StreamRecords

log = logging.getLogger("datacoral.loader")

#: Seconds an undecodable message waits before it is offered again (to a newer loader).
_UNDECODABLE_DELAY = 60.0
_MAX_BACKOFF = 5.0
#: Seconds pruning stream_loads, closing the stream's connection, and closing
#: PostgreSQL's, may each take when stopping.
_CLOSE_TIMEOUT = 4.0
#: Seconds after ``load_stop_timeout_seconds`` at which a loader still running prints its
#: threads' stacks and exits with status 1: after the cancellation only the two closes
#: remain, each bounded, so a loader still there has its event loop blocked.
EXIT_MARGIN = 2 * _CLOSE_TIMEOUT + 2.0
#: Seconds the acknowledgements of a batch may take to be sent.
_ACK_TIMEOUT = 10.0
#: Failures are logged at most this often.
_LOG_INTERVAL = 5.0


class Loader:
    """One ``datacoral load`` process."""

    def __init__(self, settings: LoaderSettings, storage: PostgresStorage | None = None) -> None:
        self.settings = settings
        self.stream = settings.stream_settings()
        self.storage = storage or PostgresStorage(
            settings.database, busy_timeout=settings.storage_busy_timeout_seconds
        )
        self.progress = Progress()
        #: The consumer's backlog when :meth:`lag` last got an answer.
        self.last_lag: Lag | None = None
        #: Where every PostgreSQL call runs (never on the event loop).
        self._database = BlockingThread("datacoral-loader-db")
        self._stopping = asyncio.Event()
        self._puller: BatchPuller | None = None
        self._logged_at = 0.0
        self._js: JetStreamContext | None = None
        #: Seconds a loaded message's record in PostgreSQL is kept after its
        #: acknowledgement, before pruning deletes it (and raises the pruned floor over
        #: it). A copy that comes later still is refused by the floor; the record only
        #: names the message more exactly. Tests make it short.
        self.retention = max(600.0, 20 * settings.load_ack_wait_seconds)

    def stop(self) -> None:
        """Finish the batch in hand, then return from :meth:`run`."""
        self._stopping.set()
        if self._puller is not None:
            self._puller.wake()

    async def run(self, *, once: bool = False) -> Lag | None:
        """Load until :meth:`stop` (or, ``once``, until nothing is left to load); the lag
        at the end."""
        client = await connect(self.stream, name="datacoral-loader")
        try:
            js = self._js = client.jetstream(timeout=5)
            if not await self._set_up_patiently(js):
                return None
            puller = self._puller = BatchPuller(
                client, self.stream.name, self.settings.load_consumer
            )
            await puller.start()
            log.info(
                "loading stream %s (consumer %s) into %s, %d messages a batch at most",
                self.stream.name,
                self.settings.load_consumer,
                self.settings.database,
                self.settings.load_batch_size,
            )
            lag = await self._loop(client, js, puller, once=once)
            left = await puller.stop()
            for msg in left:  # delivered after the last batch: another loader takes them
                with contextlib.suppress(*NATS_ERRORS):
                    await msg.nak()
            with contextlib.suppress(*NATS_ERRORS):
                await client.flush(timeout=5)
            incarnation, lag = await self._position(js)
            await self._forget_acknowledged(lag, incarnation, timeout=_CLOSE_TIMEOUT)
            return lag
        finally:
            with contextlib.suppress(*NATS_ERRORS):
                await asyncio.wait_for(client.close(), _CLOSE_TIMEOUT)
            await self._close_storage()

    async def _close_storage(self) -> None:
        """Close PostgreSQL's connection, giving up after a while (the call behind it
        may never return: the process exits all the same, its thread is a daemon)."""
        try:
            await self._database.call(self.storage.close, timeout=_CLOSE_TIMEOUT)
        except asyncio.TimeoutError:
            log.warning(
                "PostgreSQL's connection did not close within %g s; stopping without it",
                _CLOSE_TIMEOUT,
            )
        finally:
            self._database.stop()

    async def set_up(self, js: JetStreamContext) -> None:
        """Create the stream if missing, and the consumer (or bring it to the settings)."""
        await ensure_stream(js, self.stream, update=False)
        await ensure_consumer(
            js,
            self.stream,
            self.settings.load_consumer,
            ack_wait_seconds=self.settings.load_ack_wait_seconds,
            max_ack_pending=self.settings.load_max_ack_pending,
        )

    async def _set_up_patiently(self, js: JetStreamContext) -> bool:
        """Set up, waiting while the stream is unavailable (a cluster electing a
        leader); False when stopped meanwhile."""
        while True:
            try:
                await self.set_up(js)
                return True
            except StorageUnavailable as exc:
                self._log_failure("waiting for the stream: %s", exc)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), 1.0)
            if self._stopping.is_set():
                return False

    async def _loop(
        self, client: Client, js: JetStreamContext, puller: BatchPuller, *, once: bool
    ) -> Lag | None:
        lag: Lag | None = None
        reported = time.monotonic()
        while not self._stopping.is_set():
            batch = await puller.batch(
                self.settings.load_batch_size, self.settings.load_batch_wait_seconds
            )
            if batch:
                self.progress.fetched(len(batch))
                await self._load(batch)
                with contextlib.suppress(*NATS_ERRORS):
                    await client.flush(timeout=5)  # the acknowledgements are out
            elif puller.unanswered:
                await self._recover(js)
            if once and not batch:
                lag = await self.lag(js)
                if lag is not None and lag.waiting == 0 and lag.in_flight == 0:
                    break
            if time.monotonic() - reported >= self.settings.load_report_interval_seconds:
                reported = time.monotonic()
                incarnation, lag = await self._position(js)
                log.info("%s", self.progress.line(lag))
                await self._forget_acknowledged(lag, incarnation)
        return lag

    async def _recover(self, js: JetStreamContext) -> None:
        """JetStream did not answer a pull: the consumer may be gone (recreate it) or the
        stream may be electing a leader (wait a little)."""
        try:
            await self.set_up(js)
        except StorageError as exc:
            self._log_failure("the stream is not available: %s", exc)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), 0.5)

    async def _load(self, batch: list[Msg]) -> None:
        records: list[StreamRecords] = []
        taken: list[Msg] = []
        for msg in batch:
            try:
                good, bad = decode(msg.data)
            except MessageFormatError as exc:
                self.progress.undecodable += 1
                log.error(
                    "message %d of stream %s is not one this loader reads (%s); left in the"
                    " stream for a newer datacoral",
                    msg.metadata.sequence.stream,
                    self.stream.name,
                    exc,
                )
                with contextlib.suppress(*NATS_ERRORS):
                    await msg.nak(delay=_UNDECODABLE_DELAY)
                continue
            headers = msg.headers or {}
            sequence = msg.metadata.sequence.stream
            message_id = headers.get("Nats-Msg-Id") or f"sequence-{sequence}"
            records.append(StreamRecords(sequence, message_id, good, bad))
            taken.append(msg)
        if records:
            await self._write(records, taken)

    async def _write(self, records: list[StreamRecords], taken: list[Msg]) -> None:
        """Commit, then acknowledge. An error that is not PostgreSQL's (a bug) is
        retried one message at a time, so only its message waits in the stream."""
        try:
            committed = await self._commit(records, taken)
        except Exception:
            if len(records) > 1:
                for record, msg in zip(records, taken, strict=True):
                    await self._write([record], [msg])
                return
            log.exception(
                "internal error while loading message %d of stream %s; it stays in the stream",
                records[0].sequence,
                self.stream.name,
            )
            with contextlib.suppress(*NATS_ERRORS):
                await taken[0].nak(delay=_UNDECODABLE_DELAY)
            return
        if not committed:
            # Stopping while PostgreSQL does not answer, or the stream does not: give
            # them back.
            for msg in taken:
                with contextlib.suppress(*NATS_ERRORS):
                    await msg.nak()
            return
        # A lost acknowledgement is harmless: the message comes again and is skipped.
        with contextlib.suppress(*NATS_ERRORS):
            await asyncio.wait_for(
                asyncio.gather(*(msg.ack() for msg in taken), return_exceptions=True),
                _ACK_TIMEOUT,
            )

    async def _commit(self, records: list[StreamRecords], taken: list[Msg]) -> bool:
        """Write the records, retrying while PostgreSQL is unavailable; False when they
        were not written: stopped before that succeeded, or the stream did not say what
        is left to load (they go back to it)."""
        backoff = 0.25
        while True:
            checked = await self._not_acknowledged(records)
            if checked is None:
                self._log_failure(
                    "the batch in hand goes back to the stream: %s",
                    "JetStream did not say which of its messages are still to be loaded",
                )
                return False
            records, incarnation = checked
            try:
                result = await self._database.call(
                    partial(
                        self.storage.load_stream,
                        self.stream.name,
                        records,
                        incarnation=incarnation,
                        # A transaction idle that long has lost its messages to another
                        # loader, whose claims would wait for its locks.
                        idle_timeout=self.settings.load_ack_wait_seconds,
                    ),
                    waiting=_commit_waiting,
                    every=self.settings.load_report_interval_seconds,
                )
            except StorageUnavailable as exc:
                self.progress.failed_commits += 1
                self._log_failure("cannot write to PostgreSQL, retrying: %s", exc)
                if self._stopping.is_set():
                    return False
                for msg in taken:  # still ours: not to be delivered elsewhere meanwhile
                    with contextlib.suppress(*NATS_ERRORS):
                        await msg.in_progress()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF, self.settings.load_ack_wait_seconds / 2)
                continue
            self.progress.loaded(result)
            return True

    async def _not_acknowledged(
        self, records: list[StreamRecords]
    ) -> tuple[list[StreamRecords], str] | None:
        """The records whose messages no loader has acknowledged yet, and the life of
        the stream they belong to; None when JetStream does not say.

        A loader slower than the ack wait may hold a copy of a message that another
        loader has since loaded and acknowledged: anything at or below the consumer's
        acknowledged floor is dropped here. A copy whose transaction is held up after
        this (on the network, in a paused process) is recognised in PostgreSQL by its
        record or, once that is pruned, by the pruned floor of this life of the stream.
        """
        js = self._js
        if js is None:
            return None
        incarnation, lag = await self._position(js)
        if incarnation is None or lag is None:
            return None
        kept = [record for record in records if record.sequence > lag.ack_floor]
        self.progress.skipped += len(records) - len(kept)
        return kept, incarnation

    async def _position(self, js: JetStreamContext) -> tuple[str | None, Lag | None]:
        """The life of the stream, then the consumer's lag (None for what JetStream did
        not answer). In that order: should the stream be made again in between, pruning
        raises the old life's floor to the new consumer's acknowledged floor (no message
        of the new life is judged by it), never the new life's to the old consumer's,
        which would refuse new messages."""
        incarnation = await stream_incarnation(js, self.stream.name)
        return incarnation, await self.lag(js)

    async def lag(self, js: JetStreamContext) -> Lag | None:
        """The consumer's backlog now, or None when JetStream does not answer."""
        try:
            info = await js.consumer_info(self.stream.name, self.settings.load_consumer)
        except NATS_ERRORS:
            return None
        floor = info.ack_floor.stream_seq if info.ack_floor is not None else 0
        self.last_lag = Lag(
            waiting=info.num_pending or 0, in_flight=info.num_ack_pending or 0, ack_floor=floor
        )
        return self.last_lag

    async def _forget_acknowledged(
        self, lag: Lag | None, incarnation: str | None, *, timeout: float | None = None
    ) -> None:
        """Prune stream_loads up to the acknowledged floor of ``lag``, raising the pruned
        floor of the life ``incarnation`` (both from :meth:`_position`). An upkeep: a
        failure, or no answer within ``timeout``, only postpones it."""
        if lag is None or incarnation is None or lag.ack_floor <= 0:
            return
        try:
            await self._database.call(
                partial(
                    self.storage.forget_loaded,
                    self.stream.name,
                    lag.ack_floor,
                    self.retention,
                    incarnation=incarnation,
                ),
                timeout=timeout,
            )
        except StorageError as exc:
            self._log_failure("cannot prune stream_loads: %s", exc)
        except asyncio.TimeoutError:
            log.warning("PostgreSQL did not answer within %g s; stream_loads not pruned", timeout)

    def _log_failure(self, message: str, reason: object) -> None:
        now = time.monotonic()
        if now - self._logged_at >= _LOG_INTERVAL:
            self._logged_at = now
            log.warning(message, reason)


def _commit_waiting(seconds: float) -> None:
    log.warning(
        "PostgreSQL has not answered a commit for %.0f s; the batch in hand waits (the"
        " stream gives its messages to another loader after the ack wait)",
        seconds,
    )
