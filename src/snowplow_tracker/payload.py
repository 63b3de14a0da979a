"""Name/value pairs of one event, with the protocol's JSON and base64 rules."""

from __future__ import annotations

import base64
import json
from typing import Any

from snowplow_tracker.typing import JsonEncoderFunction, PayloadDict


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
        text = json.dumps(dict_, ensure_ascii=False, default=json_encoder)
        if encode_base64:
            encoded = base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii")
            self.add(type_when_encoded, encoded)
        else:
            self.add(type_when_not_encoded, text)

    def get(self) -> PayloadDict:
        """The fields as a dict (the live dict, not a copy)."""
        return self.nv_pairs
