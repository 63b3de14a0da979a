"""Name/value pairs of one event, with the protocol's JSON and base64 rules."""

from __future__ import annotations

import binascii
from typing import Any

from snowplow_tracker.json_text import dumps, dumps_text
from snowplow_tracker.typing import JsonEncoderFunction, PayloadDict

_URL_SAFE = bytes.maketrans(b"+/", b"-_")


def to_json(value: Any, json_encoder: JsonEncoderFunction | None = None) -> str:
    """``value`` as compact JSON text with non-ASCII kept as is (``default=json_encoder``)."""
    return dumps_text(value, json_encoder)


def urlsafe_base64(data: bytes) -> str:
    """URL-safe base64 with padding, as upstream sends it."""
    return binascii.b2a_base64(data, newline=False).translate(_URL_SAFE).decode("ascii")


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
        if dict_ is None:
            return
        data = dumps(dict_, json_encoder)
        if encode_base64:
            self.nv_pairs[type_when_encoded] = urlsafe_base64(data)
        else:
            self.nv_pairs[type_when_not_encoded] = data.decode("utf-8")

    def get(self) -> PayloadDict:
        """The fields as a dict (the live dict, not a copy)."""
        return self.nv_pairs
