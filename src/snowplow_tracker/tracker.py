"""Tracker: turns calls into events and hands them to its emitters."""

from __future__ import annotations

import os
import time
from typing import Any, overload

from snowplow_tracker._call_styles import is_emitter, parse_tracker_arguments
from snowplow_tracker.constants import VERSION
from snowplow_tracker.events import Event
from snowplow_tracker.payload import Payload
from snowplow_tracker.subject import Subject
from snowplow_tracker.tracker_methods import TrackMethods
from snowplow_tracker.typing import EmitterProtocol, JsonEncoderFunction


def new_event_id() -> str:
    """A random (version 4) UUID as text; the same as ``str(uuid.uuid4())``, cheaper."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Tracker(TrackMethods):
    """Builds events and gives each to every emitter.

    Accepts both call styles, decided by the first argument::

        Tracker("namespace", emitter_or_emitters, subject=None, app_id=None)       # 1.x
        Tracker(emitter, datacoral_env="dev", api_key="...", namespace="ns")       # 0.x

    ``api_key`` and ``datacoral_env`` go to the emitters as the ``X-Api-Key`` and
    ``X-Datacoral-Environment`` headers, never into events.
    """

    @overload
    def __init__(
        self,
        namespace: str,
        emitters: EmitterProtocol | list[EmitterProtocol],
        subject: Subject | None = None,
        app_id: str | None = None,
        encode_base64: bool = True,
        json_encoder: JsonEncoderFunction | None = None,
        *,
        api_key: str | list[str] | None = None,
        datacoral_env: str | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        emitters: EmitterProtocol | list[EmitterProtocol],
        api_key: str | list[str] | None = None,
        datacoral_env: str | None = None,
        subject: Subject | None = None,
        namespace: str | None = None,
        app_id: str | None = None,
        encode_base64: bool = True,
        *,
        json_encoder: JsonEncoderFunction | None = None,
    ) -> None: ...

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        arguments = parse_tracker_arguments(args, kwargs)
        self.emitters: list[Any] = arguments.emitters
        self.subject: Subject = arguments.subject if arguments.subject is not None else Subject()
        self.encode_base64 = arguments.encode_base64
        self.json_encoder = arguments.json_encoder
        self.api_key = arguments.api_key
        self.datacoral_env = arguments.datacoral_env
        self.standard_nv_pairs: dict[str, str] = {"tv": VERSION}
        if arguments.namespace:
            self.standard_nv_pairs["tna"] = arguments.namespace
        if arguments.app_id:
            self.standard_nv_pairs["aid"] = arguments.app_id
        for emitter in self.emitters:
            self._give_credentials(emitter)

    def _give_credentials(self, emitter: Any) -> None:
        if self.api_key is None and self.datacoral_env is None:
            return
        set_credentials = getattr(emitter, "set_credentials", None)
        if set_credentials is None:
            raise TypeError(
                f"{type(emitter).__name__} cannot send api_key / datacoral_env headers; "
                "use snowplow_tracker.Emitter or AsyncEmitter"
            )
        set_credentials(api_key=self.api_key, datacoral_env=self.datacoral_env)

    @staticmethod
    def get_uuid() -> str:
        """A new event id."""
        return new_event_id()

    @staticmethod
    def get_timestamp(tstamp: float | None = None) -> int:
        """``tstamp`` (milliseconds) as an int, or now in milliseconds."""
        if isinstance(tstamp, (int, float)) and not isinstance(tstamp, bool):
            return int(tstamp)
        return int(time.time() * 1000)

    def complete_payload(self, event: Event) -> Payload:
        """The full payload of ``event`` as it will be sent, with a new ``eid`` and ``dtm``."""
        payload = event.build_payload(self.encode_base64, self.json_encoder, self.subject)
        pairs = payload.nv_pairs
        pairs.update(self.standard_nv_pairs)
        pairs["eid"] = new_event_id()
        pairs["dtm"] = str(time.time_ns() // 1_000_000)
        return payload

    def track(self, event: Event) -> str:
        """Send ``event`` to every emitter; returns its event id.

        Never raises on delivery problems: those are reported by the emitters.
        """
        if not isinstance(event, Event):
            raise TypeError(f"track() takes an Event, got {type(event).__name__}")
        pairs = self.complete_payload(event).nv_pairs
        for emitter in self.emitters:
            emitter.input(pairs)
        return str(pairs["eid"])

    def flush(self, is_async: bool = False, **kwargs: Any) -> Tracker:
        """Send what the emitters hold. ``asynchronous=`` is accepted as the 0.x spelling."""
        if "asynchronous" in kwargs:
            is_async = bool(kwargs.pop("asynchronous"))
        if kwargs:
            raise TypeError(f"flush() got unexpected keyword argument(s) {sorted(kwargs)}")
        for emitter in self.emitters:
            method = getattr(emitter, "flush" if is_async else "sync_flush", None)
            if method is not None:
                method()
        return self

    def set_subject(self, subject: Subject | None) -> Tracker:
        """Replace the tracker's subject (None resets it to a default Subject)."""
        if subject is not None and not isinstance(subject, Subject):
            raise TypeError(f"subject must be a Subject, got {type(subject).__name__}")
        self.subject = subject if subject is not None else Subject()
        return self

    def add_emitter(self, emitter: Any) -> Tracker:
        """Also send every later event to ``emitter``."""
        if not is_emitter(emitter):
            raise TypeError(f"not an emitter: {type(emitter).__name__}")
        self._give_credentials(emitter)
        self.emitters.append(emitter)
        return self

    def get_namespace(self) -> str | None:
        return self.standard_nv_pairs.get("tna")

    def __repr__(self) -> str:
        return (
            f"Tracker(namespace={self.get_namespace()!r}, app_id="
            f"{self.standard_nv_pairs.get('aid')!r}, emitters={len(self.emitters)})"
        )


__all__ = ["Tracker"]
