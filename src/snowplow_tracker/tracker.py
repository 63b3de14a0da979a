"""Tracker: turns calls into events and hands them to its emitters."""

from __future__ import annotations

import os
import time
from typing import Any, overload

from snowplow_tracker._call_styles import is_emitter, parse_tracker_arguments
from snowplow_tracker.commerce_methods import CommerceMethods
from snowplow_tracker.constants import VERSION
from snowplow_tracker.events import Event
from snowplow_tracker.payload import BuiltPayload, Payload, materialize
from snowplow_tracker.subject import Subject
from snowplow_tracker.typing import EmitterProtocol, JsonEncoderFunction, PayloadDict

_BUILD_PAYLOAD = Event.build_payload


# The variant nibble of a version 4 UUID (binary 10xx) from any random hex digit.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
_ID_BATCH = 64
_spare_ids: list[str] = []
# A forked child must not hand out the ids its parent still holds.
os.register_at_fork(after_in_child=_spare_ids.clear)


def _more_event_ids() -> list[str]:
    h = os.urandom(16 * _ID_BATCH).hex()
    return [
        f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-4{h[i + 13 : i + 16]}-"
        f"{_VARIANT[h[i + 16]]}{h[i + 17 : i + 20]}-{h[i + 20 : i + 32]}"
        for i in range(0, 32 * _ID_BATCH, 32)
    ]


def new_event_id() -> str:
    """A random (version 4) UUID as text, like ``str(uuid.uuid4())`` and cheaper.

    Ids are made from ``os.urandom`` 64 at a time; ``list.pop`` hands each one to
    exactly one caller, whichever thread asks.
    """
    try:
        return _spare_ids.pop()
    except IndexError:
        _spare_ids.extend(_more_event_ids())
        return new_event_id()


class Tracker(CommerceMethods):  # CommerceMethods extends TrackMethods: every track_*
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
        payload = Payload()
        payload.nv_pairs = materialize(dict(self._complete_fields(event)))
        return payload

    def _complete_fields(self, event: Event) -> PayloadDict:
        if getattr(type(event), "build_payload", None) is _BUILD_PAYLOAD:
            pairs = event._payload_fields(self.encode_base64, self.json_encoder, self.subject)
        elif isinstance(event, Event):  # a subclass with its own build_payload
            built = event.build_payload(self.encode_base64, self.json_encoder, self.subject)
            pairs = built.nv_pairs
        else:
            raise TypeError(f"track() takes an Event, got {type(event).__name__}")
        pairs.update(self.standard_nv_pairs)
        pairs["eid"] = new_event_id()
        pairs["dtm"] = str(time.time_ns() // 1_000_000)
        return pairs

    def track(self, event: Event) -> str:
        """Send ``event`` to every emitter; returns its event id.

        Never raises on delivery problems: those are reported by the emitters.
        """
        pairs = self._complete_fields(event)
        emitters = self.emitters
        if (
            len(emitters) == 1
            and pairs.__class__ is BuiltPayload
            and getattr(emitters[0], "accepts_built_payload", False)
        ):
            emitters[0].input(pairs)
        else:
            plain = materialize(dict(pairs))
            for emitter in emitters:
                emitter.input(plain)
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
