"""The ceiling: a bare ASGI app on the endpoint's server stack, ``python _ceiling.py``.

uvicorn + uvloop + httptools in one process, configured as ``datacoral serve``
configures it (no access log, no lifespan work). A POST reads the whole body,
parses it with orjson and answers ``ok``; a GET answers the 43-byte pixel.
Nothing is validated or stored: no endpoint on this stack can be faster, so the
endpoint's figures are reported as fractions of this one's, measured in the
same run. Prints ``ceiling: listening on http://127.0.0.1:PORT`` when serving.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import uvicorn

PIXEL = bytes.fromhex(
    "47494638396101000100f00000ffffff00000021f90405000000002c00000000010001000002024401003b"
)
_OK_HEADERS = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"2")]
_PIXEL_HEADERS = [
    (b"content-type", b"image/gif"),
    (b"content-length", str(len(PIXEL)).encode()),
    (b"cache-control", b"no-cache, no-store, must-revalidate"),
]

Message = dict[str, Any]


async def app(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    if scope["type"] != "http":
        return
    if scope["method"] == "POST":
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        orjson.loads(b"".join(chunks))
        await send({"type": "http.response.start", "status": 200, "headers": _OK_HEADERS})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": _PIXEL_HEADERS})
    await send({"type": "http.response.body", "body": PIXEL})


class _Server(uvicorn.Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and sockets:
            port = sockets[0].getsockname()[1]
            print(f"ceiling: listening on http://127.0.0.1:{port}", flush=True)


def main() -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        ws="none",
        lifespan="off",
        access_log=False,
        log_level="warning",
        proxy_headers=False,
        server_header=False,
    )
    _Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
