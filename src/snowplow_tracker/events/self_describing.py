"""Self-describing events (``e=ue``): any data with its Iglu schema URI.

Imports written ``X as X`` keep names upstream's module has, for code that imports
them from here.
"""

from __future__ import annotations

from snowplow_tracker.constants import UNSTRUCT_EVENT_SCHEMA
from snowplow_tracker.contracts import non_empty as non_empty
from snowplow_tracker.events.event import Event
from snowplow_tracker.payload import add_json
from snowplow_tracker.self_describing_json import SelfDescribingJson
from snowplow_tracker.subject import Subject
from snowplow_tracker.typing import JsonEncoderFunction, PayloadDict


class SelfDescribing(Event):
    """Wraps ``event_json`` in the unstruct_event envelope (sent as ``ue_px`` / ``ue_pr``)."""

    def __init__(
        self,
        event_json: SelfDescribingJson,
        event_subject: Subject | None = None,
        context: list[SelfDescribingJson] | None = None,
        true_timestamp: float | None = None,
    ) -> None:
        super().__init__(
            dict_={"e": "ue"},
            event_subject=event_subject,
            context=context,
            true_timestamp=true_timestamp,
        )
        self.event_json = event_json

    @property
    def event_json(self) -> SelfDescribingJson:
        return self._event_json

    @event_json.setter
    def event_json(self, value: SelfDescribingJson) -> None:
        if not isinstance(value, SelfDescribingJson):
            raise TypeError(f"event_json must be a SelfDescribingJson, got {type(value).__name__}")
        self._event_json = value

    def _payload_fields(
        self,
        encode_base64: bool,
        json_encoder: JsonEncoderFunction | None,
        subject: Subject | None = None,
    ) -> PayloadDict:
        pairs = Event._payload_fields(self, encode_base64, json_encoder, subject)
        event_json = self.event_json
        envelope = {
            "schema": UNSTRUCT_EVENT_SCHEMA,
            "data": {"schema": event_json.schema, "data": event_json.data},
        }
        add_json(pairs, envelope, encode_base64, "ue_px", "ue_pr", json_encoder)
        return pairs
