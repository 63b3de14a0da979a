"""Reading a request body without ever holding more than the size limit."""

from __future__ import annotations

from datacoral.collector.asgi import Receive
from datacoral.collector.errors import ClientDisconnected, PayloadTooLarge

#: How much of an oversized body its size-violation bad row keeps.
HEAD_BYTES = 1024


async def _next_chunk(receive: Receive) -> tuple[bytes, bool]:
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientDisconnected("client disconnected while sending the body")
    return message.get("body", b""), bool(message.get("more_body", False))


async def read_body(receive: Receive, *, limit: int, declared: int | None) -> bytes:
    """The whole body, or :class:`PayloadTooLarge` as soon as it is known to exceed ``limit``.

    A declared ``Content-Length`` over the limit is refused after reading only the
    first KiB; an undeclared (chunked) body is read until it passes the limit. The
    rest is never read into memory (the server discards it after the answer).
    """
    if declared is not None and declared > limit:
        head = b""
        more = True
        while more and len(head) < HEAD_BYTES:
            chunk, more = await _next_chunk(receive)
            head += chunk
        raise PayloadTooLarge(
            f"body: {declared} bytes exceed the limit of {limit} bytes",
            size=declared,
            head=head[:HEAD_BYTES],
        )
    body, more = await _next_chunk(receive)
    if not more and len(body) <= limit:
        return body  # the usual case: one message holds the whole body
    chunks = [body]
    size = len(body)
    while size <= limit and more:
        chunk, more = await _next_chunk(receive)
        size += len(chunk)
        chunks.append(chunk)
    if size > limit:
        raise PayloadTooLarge(
            f"body: more than {limit} bytes (read {size} before stopping)",
            size=size,
            head=b"".join(chunks)[:HEAD_BYTES],
        )
    return b"".join(chunks)
