"""Name/value pairs of one event, with the protocol's JSON and base64 rules."""

from __future__ import annotations

from typing import Any

from snowplow_tracker.json_text import dumps, dumps_text, urlsafe_base64
from snowplow_tracker.typing import JsonEncoderFunction, PayloadDict


def to_json(value: Any, json_encoder: JsonEncoderFunction | None = None) -> str:
    """``value`` as compact JSON text with non-ASCII kept as is (``default=json_encoder``)."""
    return dumps_text(value, json_encoder)


class BuiltPayload(dict):  # type: ignore[type-arg]
    """An event the tracker built: each value is a ``str``, or ``bytes`` holding JSON
    whose URL-safe base64 text is the value to send (see :func:`materialize`).

    Emitters that know it (``accepts_built_payload``) queue it without copying.
    """


def materialize(pairs: PayloadDict) -> PayloadDict:
    """Replace ``bytes`` values (JSON) by their URL-safe base64 text, in place."""
    for name, value in pairs.items():
        if value.__class__ is bytes:
            pairs[name] = urlsafe_base64(value)
    return pairs


def add_json(
    pairs: PayloadDict,
    value: Any,
    encode_base64: bool,
    type_when_encoded: str,
    type_when_not_encoded: str,
    json_encoder: JsonEncoderFunction | None = None,
) -> None:
    """Put ``value`` into ``pairs`` as JSON text, URL-safe base64 encoded when asked.

    The JSON is encoded now; with ``encode_base64`` the value is those JSON bytes, and
    their base64 text is made when first needed (see :func:`materialize`).
    """
    data = dumps(value, json_encoder)
    if encode_base64:
        # A compact copy: orjson's result keeps a 4 KiB allocation behind it, which
        # a queue of events would hold (8.7 KB per queued event instead of 1.3).
        pairs[type_when_encoded] = memoryview(data).tobytes()
    else:
        pairs[type_when_not_encoded] = data.decode("utf-8")


class Payload:
    """The fields of one event. ``None`` and empty-string values are never added."""

    __slots__ = ("nv_pairs",)

    def __init__(self, dict_: PayloadDict | None = None) -> None:
        self.nv_pairs: PayloadDict = {}
        if dict_ is not None:
            self.add_dict(dict_)

    def add(self, name: str, value: Any) -> None:
        """Add one field unless the value is absent (None or "")."""
        if value is not None and value != "":
            self.nv_pairs[name] = value

    def add_dict(self, dict_: PayloadDict, base64: bool = False) -> None:
        """Add every present value of ``dict_``."""
        for name, value in dict_.items():
            self.add(name, value)

    def add_json(
        self,
        dict_: PayloadDict | None,
        encode_base64: bool,
        type_when_encoded: str,
        type_when_not_encoded: str,
        json_encoder: JsonEncoderFunction | None = None,
    ) -> None:
        """Add ``dict_`` as JSON text, URL-safe base64 encoded when ``encode_base64``."""
        if dict_ is not None:
            pairs = self.nv_pairs
            add_json(
                pairs, dict_, encode_base64, type_when_encoded, type_when_not_encoded, json_encoder
            )
            if encode_base64:
                pairs[type_when_encoded] = urlsafe_base64(pairs[type_when_encoded])

    def get(self) -> PayloadDict:
        """The fields as a dict (the live dict, not a copy)."""
        return self.nv_pairs


__all__ = ["BuiltPayload", "Payload", "add_json", "materialize", "to_json", "urlsafe_base64"]
