"""The answers the collector gives: ``ok``, the tracking pixel, short plain-text reasons."""

from __future__ import annotations

from collections.abc import Iterable

from datacoral.collector.asgi import Send

#: The 43-byte transparent 1x1 GIF trackers expect from GET /i (reference §2.1).
PIXEL = bytes.fromhex(
    "47494638396101000100f00000ffffff00000021f90405000000002c00000000010001000002024401003b"
)

Headers = list[tuple[bytes, bytes]]

_TEXT = (b"content-type", b"text/plain; charset=utf-8")
_OK_HEADERS: Headers = [_TEXT, (b"content-length", b"2")]
_PIXEL_HEADERS: Headers = [
    (b"content-type", b"image/gif"),
    (b"content-length", str(len(PIXEL)).encode()),
    (b"cache-control", b"no-cache, no-store, must-revalidate"),
]


async def send_ok(send: Send, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """200 ``ok``: every event of the request is committed (``headers``: e.g. a cookie)."""
    sent = [*_OK_HEADERS, *headers] if headers else _OK_HEADERS
    await send({"type": "http.response.start", "status": 200, "headers": sent})
    await send({"type": "http.response.body", "body": b"ok"})


async def send_pixel(send: Send, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """200 with the transparent GIF, never cached (``headers``: e.g. a cookie)."""
    sent = [*_PIXEL_HEADERS, *headers] if headers else _PIXEL_HEADERS
    await send({"type": "http.response.start", "status": 200, "headers": sent})
    await send({"type": "http.response.body", "body": PIXEL})


async def send_text(
    send: Send, status: int, text: str, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    """``status`` with a short plain-text body, e.g. ``401 missing API key: send X-Api-Key``."""
    body = text.encode("utf-8", "replace") + b"\n"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [_TEXT, (b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_empty(send: Send, status: int, headers: Headers | None = None) -> None:
    """``status`` (204 for preflights) without a body."""
    await send({"type": "http.response.start", "status": status, "headers": headers or []})
    await send({"type": "http.response.body", "body": b""})


async def send_rejection(
    send: Send, status: int, reason: str, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    """An error answer whose body starts with its status: ``403 environment mismatch: ...``."""
    await send_text(send, status, f"{status} {reason}", headers)
