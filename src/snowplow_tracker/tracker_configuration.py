"""Tracker options for :meth:`Snowplow.create_tracker`."""

from __future__ import annotations

from snowplow_tracker.typing import JsonEncoderFunction


class TrackerConfiguration:
    """How a tracker encodes JSON fields: base64 (``cx``/``ue_px``) or plain, and the encoder."""

    def __init__(
        self, encode_base64: bool = True, json_encoder: JsonEncoderFunction | None = None
    ) -> None:
        self.encode_base64 = encode_base64
        self.json_encoder = json_encoder

    @property
    def encode_base64(self) -> bool:
        return self._encode_base64

    @encode_base64.setter
    def encode_base64(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError("encode_base64 must be a bool")
        self._encode_base64 = value

    @property
    def json_encoder(self) -> JsonEncoderFunction | None:
        return self._json_encoder

    @json_encoder.setter
    def json_encoder(self, value: JsonEncoderFunction | None) -> None:
        if value is not None and not callable(value):
            raise TypeError("json_encoder must be callable")
        self._json_encoder = value

    def __repr__(self) -> str:
        return (
            f"TrackerConfiguration(encode_base64={self.encode_base64!r}, "
            f"json_encoder={self.json_encoder!r})"
        )
