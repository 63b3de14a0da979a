"""Reading a request body without ever holding more than the size limit.

The limit bounds the body as sent and, when it is compressed (``Content-Encoding:
gzip`` or ``deflate``), as decoded: a small compressed body that decodes to more
(a zip bomb) is refused like an oversized one, and decoding stops at the limit.
"""

from __future__ import annotations

import zlib

from datacoral.collector.asgi import Receive
from datacoral.collector.errors import (
    ClientDisconnected,
    MalformedRequest,
    PayloadTooLarge,
    UnsupportedEncoding,
    shown,
)

#: How much of an oversized body its size-violation bad row keeps.
HEAD_BYTES = 1024
#: The content codings we decode, with their zlib window bits.
_GZIP_WBITS = 16 + zlib.MAX_WBITS
CODINGS: dict[str, int] = {"gzip": _GZIP_WBITS, "x-gzip": _GZIP_WBITS, "deflate": zlib.MAX_WBITS}


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


def content_codings(header: str | None) -> tuple[str, ...]:
    """The codings of ``Content-Encoding`` in the order they were applied (``identity``
    left out); :class:`UnsupportedEncoding` (415) for any other than gzip and deflate."""
    if header is None:
        return ()
    codings = []
    for token in header.split(","):
        coding = token.strip().lower()
        if coding in ("", "identity"):
            continue
        if coding not in CODINGS:
            raise UnsupportedEncoding(
                f"content-encoding: {shown(coding, 40)} not supported; send gzip, deflate"
                " or an uncompressed body"
            )
        codings.append(coding)
    return tuple(codings)


def decode_body(body: bytes, codings: tuple[str, ...], *, limit: int) -> bytes:
    """``body`` with its content codings undone, last applied first, never holding more
    than ``limit`` decoded bytes: :class:`PayloadTooLarge` beyond, :class:`MalformedRequest`
    when the data is not what its coding says."""
    for coding in reversed(codings):
        body = _inflate(body, coding, limit)
    return body


def _inflate(data: bytes, coding: str, limit: int) -> bytes:
    wbits = CODINGS[coding]
    pieces: list[bytes] = []
    size = 0
    rest = data
    while True:  # a gzip body may hold several members, one after the other
        inflater = zlib.decompressobj(wbits)
        try:
            piece = inflater.decompress(rest, limit + 1 - size)
            while True:
                pieces.append(piece)
                size += len(piece)
                if size > limit:
                    raise PayloadTooLarge(
                        f"body: {len(data)} bytes of {coding} decode to more than {limit} bytes",
                        size=size,
                        head=b"".join(pieces)[:HEAD_BYTES],
                    )
                if not inflater.unconsumed_tail:
                    break
                piece = inflater.decompress(inflater.unconsumed_tail, limit + 1 - size)
        except zlib.error as exc:
            if wbits == zlib.MAX_WBITS and not size:
                wbits = -zlib.MAX_WBITS  # "deflate" sent without its zlib wrapper, as some do
                continue
            raise MalformedRequest(f"body: not valid {coding} data: {exc}") from None
        if not inflater.eof:
            raise MalformedRequest(f"body: {coding} data ends early (truncated)")
        rest = inflater.unused_data
        if not rest:
            return b"".join(pieces)
        if wbits != _GZIP_WBITS:
            raise MalformedRequest(f"body: {len(rest)} bytes after the end of the {coding} data")
