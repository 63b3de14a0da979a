"""Connecting to JetStream and setting the stream up.

The stream is a work queue on files: a message is removed once a loader has
acknowledged it, and a full stream refuses new messages (``discard: new``), so
collectors answer 503 rather than drop anything old. Collectors create the stream
or bring its subjects, replicas and duplicate window to their settings when they
start; loaders create it only when it is missing. When a server fsyncs
(``sync_interval``) is the servers' own setting, not the stream's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from datacoral.storage.base import StorageUnavailable, StorageUnusable
from datacoral.storage.jetstream_settings import StreamSettings

log = logging.getLogger("datacoral.stream")

#: Errors of the NATS client and of JetStream's API, as raised by nats-py.
NATS_ERRORS: tuple[type[BaseException], ...] = (
    nats.errors.Error,
    nats.js.errors.Error,
    asyncio.TimeoutError,
    OSError,
)


def stream_config(settings: StreamSettings) -> StreamConfig:
    """The stream as JetStream should hold it."""
    return StreamConfig(
        name=settings.name,
        description="Datacoral: accepted requests, one message each, until loaded",
        subjects=[f"{settings.subject}.>"],
        retention=RetentionPolicy.WORK_QUEUE,
        discard=DiscardPolicy.NEW,
        storage=StorageType.FILE,
        num_replicas=settings.replicas,
        duplicate_window=settings.duplicate_window_seconds,
    )


async def connect(settings: StreamSettings, *, name: str, timeout: float = 10.0) -> Client:
    """A connection to the first server that answers within ``timeout`` seconds; it then
    reconnects by itself (to any server of the list or the cluster), forever."""
    client = Client()

    async def on_error(exc: Exception) -> None:
        log.debug("nats: %s", exc)

    async def on_disconnected() -> None:
        if client.is_closed:  # closed on purpose
            return
        log.warning("lost the connection to the stream's server; reconnecting")

    async def on_reconnected() -> None:
        url = client.connected_url
        log.warning("reconnected to the stream at %s", url.netloc if url else "?")

    try:
        await asyncio.wait_for(
            client.connect(
                servers=list(settings.servers),
                name=name,
                connect_timeout=2,
                reconnect_time_wait=0.25,  # type: ignore[arg-type]  # nats-py says int
                max_reconnect_attempts=-1,
                ping_interval=10,
                max_outstanding_pings=3,
                error_cb=on_error,
                disconnected_cb=on_disconnected,
                reconnected_cb=on_reconnected,
            ),
            timeout,
        )
    except NATS_ERRORS as exc:
        await client.close()
        raise StorageUnavailable(
            f"cannot reach the stream at {settings.shown_servers()}: {describe_error(exc)}"
        ) from exc
    return client


async def ensure_stream(
    js: JetStreamContext, settings: StreamSettings, *, update: bool, patience: float = 15.0
) -> dict[str, Any]:
    """Create the stream, or (``update``) bring subjects, replicas and duplicate window to
    the settings; the stream's configuration as JetStream holds it afterwards.

    A cluster answers "not found" or "already in use" for a moment while a stream
    another process just created gets its leader: such answers are retried for up to
    ``patience`` seconds.
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            config = await _ensure_stream(js, settings, update=update)
            break
        except NATS_ERRORS as exc:  # JetStream's API errors included
            if time.monotonic() > deadline or _refused(exc):
                raise _stream_failure(settings, exc) from exc
            await asyncio.sleep(0.25)
    if config.retention != RetentionPolicy.WORK_QUEUE:
        raise StorageUnusable(
            f"the stream {settings.name} exists with retention {config.retention};"
            " datacoral needs a work queue: use another stream_name"
        )
    return config.as_dict()


async def _ensure_stream(
    js: JetStreamContext, settings: StreamSettings, *, update: bool
) -> StreamConfig:
    wanted = stream_config(settings)
    try:
        info = await js.stream_info(settings.name)
    except nats.js.errors.NotFoundError:
        try:
            info = await js.add_stream(wanted)
        except nats.js.errors.BadRequestError:  # created meanwhile by another process
            info = await js.stream_info(settings.name)
    held = info.config
    if update and (
        held.num_replicas != wanted.num_replicas
        or held.duplicate_window != wanted.duplicate_window
        or held.subjects != wanted.subjects
    ):
        changed = dataclasses.replace(
            held,
            num_replicas=wanted.num_replicas,
            duplicate_window=wanted.duplicate_window,
            subjects=wanted.subjects,
        )
        info = await js.update_stream(changed)
        log.info("stream %s updated to %r", settings.name, settings)
    return info.config


def _refused(exc: BaseException) -> bool:
    """An answer that waiting will not change (a setting JetStream refuses)."""
    if not isinstance(exc, nats.js.errors.APIError):
        return False
    code = exc.code or 0
    return code < 500 and not isinstance(
        exc, (nats.js.errors.NotFoundError, nats.js.errors.BadRequestError)
    )


def _stream_failure(settings: StreamSettings, exc: BaseException) -> Exception:
    where = f"the stream {settings.name} at {settings.shown_servers()}"
    if isinstance(exc, nats.js.errors.APIError):
        if (exc.code or 0) >= 500 or not _refused(exc):
            return StorageUnavailable(f"{where} is not available: {exc.description or exc}")
        return StorageUnusable(f"{where} cannot be set up as configured: {exc.description or exc}")
    return StorageUnavailable(f"{where} does not answer: {describe_error(exc)}")


def describe_error(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def ensure_consumer(
    js: JetStreamContext,
    settings: StreamSettings,
    durable: str,
    *,
    ack_wait_seconds: float,
    max_ack_pending: int,
) -> None:
    """Create the loaders' durable pull consumer, or bring its ack wait and ack pending
    limit to these values. Every message of the stream, explicit acknowledgements,
    redelivered without limit: a message leaves the stream only once loaded."""
    wanted = ConsumerConfig(
        durable_name=durable,
        description="datacoral load: writes the stream into PostgreSQL",
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait_seconds,
        max_deliver=-1,
        max_ack_pending=max_ack_pending,
        filter_subject=f"{settings.subject}.>",
    )
    try:
        try:
            info = await js.consumer_info(settings.name, durable)
        except nats.js.errors.NotFoundError:
            await js.add_consumer(settings.name, wanted)
            return
        held = info.config
        if held.ack_wait != wanted.ack_wait or held.max_ack_pending != wanted.max_ack_pending:
            await js.add_consumer(  # an update: same durable name, changed limits
                settings.name,
                dataclasses.replace(
                    held, ack_wait=wanted.ack_wait, max_ack_pending=wanted.max_ack_pending
                ),
            )
    except nats.js.errors.APIError as exc:
        if _refused(exc):
            raise StorageUnusable(
                f"the consumer {durable} of stream {settings.name} cannot be set up as"
                f" configured: {exc.description or exc}"
            ) from exc
        raise StorageUnavailable(
            f"the consumer {durable} of {settings.name} is not available: {exc.description or exc}"
        ) from exc
    except NATS_ERRORS as exc:
        raise StorageUnavailable(
            f"the stream {settings.name} at {settings.shown_servers()} does not answer:"
            f" {describe_error(exc)}"
        ) from exc
