"""An export streamed by the admin API (NDJSON), read back as pages of records.

The answer is read as it arrives and split into lines at ``\\n`` (JSON strings escape
every other line break the store may hold), each line rebuilt into the record storage
gives, and the records handed on ``page_size`` at a time: memory stays that of one
page and one network read, however long the export. An answer cut short (the server
failed mid-stream, or the connection broke) raises :class:`StorageUnavailable`, so
that ``events export`` fails and leaves no output file, as when the store fails
under ``--db``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from typing import Any, TypeVar

import orjson
import requests

from datacoral.storage.base import StorageUnavailable, StorageUnusable

Record = TypeVar("Record")

#: Bytes asked of the network at a time.
READ_BYTES = 256 * 1024
#: Seconds to connect, and to wait for each part of an export or its count: the server
#: may read many rows outside the range before it finds the next one inside.
EXPORT_TIMEOUT = (5.0, 600.0)
#: The most rows the server reads at a time for an export (its ``page_size`` maximum).
MAX_EXPORT_PAGE = 10_000


def export_query(
    since: int | None, until: int | None, *, page_size: int | None = None
) -> dict[str, Any]:
    """The query of an export's time range, and of the page size the server reads with
    (within its maximum)."""
    params: dict[str, Any] = {}
    if since is not None:
        params["since"] = since
    if until is not None:
        params["until"] = until
    if page_size is not None:
        params["page_size"] = max(1, min(page_size, MAX_EXPORT_PAGE))
    return params


def pages(
    response: requests.Response,
    page_size: int,
    record: Callable[[dict[str, Any]], Record],
    server: str,
) -> Generator[list[Record], None, None]:
    """The records of a streaming ``response`` (200, NDJSON), ``page_size`` at a time;
    the response is closed when the generator ends or is closed."""
    pending = bytearray()
    page: list[Record] = []
    try:
        for chunk in response.iter_content(READ_BYTES):
            pending += chunk
            end = pending.rfind(b"\n")
            if end < 0:
                continue
            lines = pending[:end].split(b"\n")
            del pending[: end + 1]
            for line in lines:
                page.append(_record(line, record, server))
                if len(page) >= page_size:
                    yield page
                    page = []
        if pending:
            raise StorageUnavailable(f"the server {server} ended the export within a line")
        if page:
            yield page
    except requests.RequestException:
        raise StorageUnavailable(
            f"the server {server} stopped sending the export before its end (it failed, or"
            " the connection broke): run the export again"
        ) from None
    finally:
        response.close()


def _record(
    line: bytes | bytearray, record: Callable[[dict[str, Any]], Record], server: str
) -> Record:
    try:
        try:
            found = orjson.loads(line)
        except orjson.JSONDecodeError:
            # A lone surrogate (stored text may hold one) comes as its \uXXXX escape,
            # which orjson refuses and the standard library reads back.
            found = json.loads(line)
        return record(found)
    except (ValueError, TypeError, KeyError) as exc:
        raise StorageUnusable(
            f"the server {server} sent an export row this datacoral cannot read ({exc}):"
            " are both the same version?"
        ) from None
