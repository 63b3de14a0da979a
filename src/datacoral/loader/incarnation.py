"""Which life of the stream the loader is loading.

A stream deleted and created again (by an operator, say) numbers its messages from 1
again. What loaders keep in PostgreSQL about a stream's sequences, its pruned floor
(:mod:`datacoral.storage.postgres_loads`), is therefore kept per life, named by the
stream's creation time: JetStream keeps it across restarts and configuration updates,
and a stream made again has a new one. Only equality is used, never the order, so
the clocks of the NATS servers do not matter.
"""

from __future__ import annotations

from nats.js import JetStreamContext

from datacoral.storage.jetstream_setup import NATS_ERRORS


async def stream_incarnation(js: JetStreamContext, stream: str) -> str | None:
    """The life of ``stream`` now, or None when JetStream does not say (it does not
    answer, or, before nats-server 2.2, does not report creation times): then nothing
    may be written, since a floor of another life could refuse new messages."""
    try:
        info = await js.stream_info(stream)
    except NATS_ERRORS:
        return None
    return None if info.created is None else info.created.isoformat()
