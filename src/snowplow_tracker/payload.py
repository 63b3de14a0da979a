"""Name/value pairs of one event, with the protocol's JSON and base64 rules."""

from __future__ import annotations

from typing import Any

from snowplow_tracker.json_text import dumps, dumps_text, urlsafe_base64
from snowplow_tracker.typing import JsonEncoderFunction, PayloadDict


def to_json(value: Any, json_encoder: JsonEncoderFunction | None = None) -> str:
    """``value`` as compact JSON text with non-ASCII kept as is (``default=json_encoder``)."""
    return dumps_text(value, json_encoder)


def add_json(
    pairs: PayloadDict,
    value: Any,
    encode_base64: bool,
    type_when_encoded: str,
    type_when_not_encoded: str,
    json_encoder: JsonEncoderFunction | None = None,
) -> None:
    """Put ``value`` into ``pairs`` as JSON text, URL-safe base64 encoded when asked.

    The JSON is encoded now, so later changes to ``value`` are not sent, and data
    that cannot be JSON raises TypeError / ValueError here, at the call.
    """
    data = dumps(value, json_encoder)
    if encode_base64:
        pairs[type_when_encoded] = urlsafe_base64(data)
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
        """Add ``dict_`` as JSON text, URL-safe base64 encoded when ``encode_base64``.

        Nothing is added for None or an empty dict, as upstream does.
        """
        if dict_:
            add_json(
                self.nv_pairs,
                dict_,
                encode_base64,
                type_when_encoded,
                type_when_not_encoded,
                json_encoder,
            )

    def get(self) -> PayloadDict:
        """The fields as a dict (the live dict, not a copy)."""
        return self.nv_pairs


__all__ = ["Payload", "add_json", "to_json", "urlsafe_base64"]
