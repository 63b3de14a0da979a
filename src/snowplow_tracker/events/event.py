"""The base of every event: its own fields plus subject, context and true timestamp."""

from __future__ import annotations

from itertools import repeat

from snowplow_tracker.constants import CONTEXT_SCHEMA
from snowplow_tracker.payload import Payload, add_json
from snowplow_tracker.self_describing_json import SelfDescribingJson
from snowplow_tracker.subject import Subject
from snowplow_tracker.typing import JsonEncoderFunction, PayloadDict


class Event:
    """One trackable event.

    ``build_payload`` returns a new :class:`Payload` each time and leaves the
    event unchanged, so one event object may be tracked many times and from
    several threads.
    """

    def __init__(
        self,
        dict_: PayloadDict | None = None,
        event_subject: Subject | None = None,
        context: list[SelfDescribingJson] | None = None,
        true_timestamp: float | None = None,
    ) -> None:
        self.payload = Payload(dict_=dict_)
        # The property setters' checks, without their calls (events are made per call).
        if event_subject is None:
            self._event_subject: Subject | None = None
        else:
            self.event_subject = event_subject
        self.context = context
        if true_timestamp is None:
            self._true_timestamp: float | None = None
        else:
            self.true_timestamp = true_timestamp

    @property
    def event_subject(self) -> Subject | None:
        """The subject of this event only; its fields win over the tracker's subject."""
        return self._event_subject

    @event_subject.setter
    def event_subject(self, value: Subject | None) -> None:
        if value is not None and not isinstance(value, Subject):
            raise TypeError(f"event_subject must be a Subject, got {type(value).__name__}")
        self._event_subject = value

    @property
    def context(self) -> list[SelfDescribingJson]:
        """Entities attached to this event."""
        return self._context

    @context.setter
    def context(self, value: list[SelfDescribingJson] | None) -> None:
        items = list(value) if value else []
        if not all(map(isinstance, items, repeat(SelfDescribingJson))):
            wrong = next(i for i in items if not isinstance(i, SelfDescribingJson))
            raise TypeError(
                f"context entries must be SelfDescribingJson, got {type(wrong).__name__}"
            )
        self._context = items

    @property
    def true_timestamp(self) -> float | None:
        """The true timestamp in milliseconds (sent as ``ttm``), if the caller knows it."""
        return self._true_timestamp

    @true_timestamp.setter
    def true_timestamp(self, value: float | None) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise TypeError(f"true_timestamp must be milliseconds as a number, got {value!r}")
        self._true_timestamp = value

    def _set(self, name: str, value: object) -> None:
        """Set one own field, or remove it when the value is absent (None or "")."""
        if value is None or value == "":
            self.payload.nv_pairs.pop(name, None)
        else:
            self.payload.nv_pairs[name] = value

    def _own_fields(self) -> PayloadDict:
        """This event's type-specific fields (subclasses may compute them)."""
        return self.payload.nv_pairs

    def build_payload(
        self,
        encode_base64: bool,
        json_encoder: JsonEncoderFunction | None,
        subject: Subject | None = None,
    ) -> Payload:
        """The event's full fields: own fields, context, ``ttm`` and the subject's fields."""
        payload = Payload()
        payload.nv_pairs = self._payload_fields(encode_base64, json_encoder, subject)
        return payload

    def _payload_fields(
        self,
        encode_base64: bool,
        json_encoder: JsonEncoderFunction | None,
        subject: Subject | None = None,
    ) -> PayloadDict:
        """What :meth:`build_payload` holds, as a new dict (subclasses add their fields)."""
        event_subject = self._event_subject
        if event_subject is not None:
            pairs = _present(event_subject.combine_subject(subject))
        elif subject is not None:
            pairs = _present(subject.standard_nv_pairs)
        else:
            pairs = {}
        pairs.update(self._own_fields())
        if self._context:
            entities = [{"schema": c.schema, "data": c.data} for c in self._context]
            envelope = {"schema": CONTEXT_SCHEMA, "data": entities}
            add_json(pairs, envelope, encode_base64, "cx", "co", json_encoder)
        if self._true_timestamp is not None:
            pairs["ttm"] = int(self._true_timestamp)
        return pairs


def _present(fields: PayloadDict) -> PayloadDict:
    """A copy of ``fields`` without absent values (None or ""), as upstream adds them."""
    values = fields.values()
    if None in values or "" in values:
        return {k: v for k, v in fields.items() if v is not None and v != ""}
    return dict(fields)
