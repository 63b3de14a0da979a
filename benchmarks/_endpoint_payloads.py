"""The requests the endpoint benchmarks send: realistic tracker events, fresh ids each time.

A request is a template split around its event ids: the load generator (wrk's
Lua or ``_pyload.py``) joins the pieces with a new random UUID v4 between each
pair, so every event it sends is new to the endpoint (ids are random, as
trackers make them, so the unique index sees realistic inserts, not appends).
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

TP2 = "/com.snowplowanalytics.snowplow/tp2"
PIXEL_PATH = "/i"
PAYLOAD_DATA = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
UNSTRUCT = "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0"
CONTEXTS = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1"
#: Stands where an event id goes; never appears in real content.
EID_MARK = "@@EID@@"
BATCH_EVENTS = 50


@dataclass(frozen=True)
class RequestTemplate:
    """One request kind: method, and the path and body split around event ids."""

    method: str
    path_parts: tuple[str, ...]  # more than one part: the path carries the event id(s)
    body_parts: tuple[str, ...]  # empty for GET
    headers: tuple[tuple[str, str], ...]
    events_per_request: int

    @property
    def body_bytes(self) -> int:
        """Size of one body (ids included)."""
        return sum(len(p.encode()) for p in self.body_parts) + 36 * (len(self.body_parts) - 1)

    def example(self, eid: str = "00000000-0000-4000-8000-000000000000") -> tuple[str, bytes]:
        """The path and body with every id set to ``eid`` (for tests and sizes)."""
        return eid.join(self.path_parts), eid.join(self.body_parts).encode()

    def fresh_body(self) -> bytes:
        """The body with a new random UUID v4 for every event, as the load generators send it."""
        pieces = [self.body_parts[0]]
        for part in self.body_parts[1:]:
            pieces += (str(uuid.uuid4()), part)
        return "".join(pieces).encode()


def _b64(document: Any) -> str:
    raw = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def event_fields(i: int) -> dict[str, str]:
    """Event number ``i`` of a browser session: a self-describing event with one context,
    base64-encoded as the JavaScript tracker sends it (~0.5 KB of JSON)."""
    unstruct = {
        "schema": UNSTRUCT,
        "data": {
            "schema": "iglu:com.acme/step/jsonschema/1-0-0",
            "data": {"step": i % 5, "total": 42.5},
        },
    }
    contexts = {
        "schema": CONTEXTS,
        "data": [{"schema": "iglu:com.acme/user/jsonschema/1-0-0", "data": {"plan": "pro"}}],
    }
    return {
        "e": "ue",
        "eid": EID_MARK,
        "tv": "js-3.24.2",
        "tna": "sp1",
        "aid": "shop-web",
        "p": "web",
        "dtm": str(1_764_150_000_000 + i),
        "stm": str(1_764_150_000_500 + i),
        "res": "1920x1080",
        "duid": "5b1d9c7e-43f2-4d88-9a37-6c2f0b8e1a44",
        "vid": "3",
        "url": f"https://shop.example.com/p/{i % 5}",
        "ue_px": _b64(unstruct),
        "cx": _b64(contexts),
    }


def _split(text: str) -> tuple[str, ...]:
    return tuple(text.split(EID_MARK))


def post_template(api_key: str, events: int = BATCH_EVENTS) -> RequestTemplate:
    """``POST tp2`` with a ``payload_data`` batch of ``events`` events."""
    body = json.dumps(
        {"schema": PAYLOAD_DATA, "data": [event_fields(i) for i in range(events)]},
        separators=(",", ":"),
    )
    return RequestTemplate(
        method="POST",
        path_parts=(TP2,),
        body_parts=_split(body),
        headers=(("X-Api-Key", api_key), ("Content-Type", "application/json; charset=utf-8")),
        events_per_request=events,
    )


def get_template(api_key: str) -> RequestTemplate:
    """``GET /i`` with one event in the query string (the key in the header)."""
    query = urlencode(event_fields(0), safe="@")
    return RequestTemplate(
        method="GET",
        path_parts=_split(f"{PIXEL_PATH}?{query}"),
        body_parts=(),
        headers=(("X-Api-Key", api_key),),
        events_per_request=1,
    )
