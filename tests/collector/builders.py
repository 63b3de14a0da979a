"""Tracker-protocol requests for collector tests, built the way trackers build them."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

PAYLOAD_DATA = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
UNSTRUCT = "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0"
CONTEXTS = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1"
TP2 = "/com.snowplowanalytics.snowplow/tp2"


def b64(document: Any, *, urlsafe: bool = True, padding: bool = True) -> str:
    """Base64 of a JSON document in the alphabet and padding style asked for."""
    raw = json.dumps(document).encode()
    text = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()
    return text if padding else text.rstrip("=")


def unstruct(schema: str = "test", data: Any = None) -> dict[str, Any]:
    """An ``unstruct_event`` wrapper around one self-describing event."""
    return {"schema": UNSTRUCT, "data": {"schema": schema, "data": data or {"foo": "bar"}}}


def event(**fields: str) -> dict[str, str]:
    """A minimal valid page view with a fresh event id; ``fields`` override."""
    base = {"e": "pv", "p": "pc", "tv": "py-1.0.0", "eid": str(uuid.uuid4())}
    base.update(fields)
    return base


def envelope(*events: Any) -> dict[str, Any]:
    """A ``payload_data`` 1-0-4 POST body."""
    return {"schema": PAYLOAD_DATA, "data": list(events)}


def headers(key: str | None, environment: str | None = None) -> dict[str, str]:
    """The headers our tracker sends."""
    sent = {"Content-Type": "application/json; charset=utf-8"}
    if key is not None:
        sent["X-Api-Key"] = key
    if environment is not None:
        sent["X-Datacoral-Environment"] = environment
    return sent
