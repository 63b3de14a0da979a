"""Tracker: turns calls into events and hands them to its emitters.

Imports written ``X as X`` keep names upstream's module has, for code that imports
them from here.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any, overload

from snowplow_tracker import payload as payload
from snowplow_tracker._call_styles import is_emitter, parse_tracker_arguments
from snowplow_tracker.base_emitter import BaseEmitter
from snowplow_tracker.commerce_methods import CommerceMethods
from snowplow_tracker.constants import BASE_SCHEMA_PATH as BASE_SCHEMA_PATH
from snowplow_tracker.constants import DEFAULT_ENCODE_BASE64 as DEFAULT_ENCODE_BASE64
from snowplow_tracker.constants import SCHEMA_TAG as SCHEMA_TAG
from snowplow_tracker.constants import VERSION
from snowplow_tracker.contracts import form_element as form_element
from snowplow_tracker.contracts import non_empty as non_empty
from snowplow_tracker.contracts import non_empty_string as non_empty_string
from snowplow_tracker.contracts import one_of as one_of
from snowplow_tracker.events import Event
from snowplow_tracker.events import PagePing as PagePing
from snowplow_tracker.events import PageView as PageView
from snowplow_tracker.events import ScreenView as ScreenView
from snowplow_tracker.events import SelfDescribing as SelfDescribing
from snowplow_tracker.events import StructuredEvent as StructuredEvent
from snowplow_tracker.payload import Payload
from snowplow_tracker.self_describing_json import SelfDescribingJson as SelfDescribingJson
from snowplow_tracker.subject import Subject
from snowplow_tracker.typing import FORM_NODE_NAMES as FORM_NODE_NAMES
from snowplow_tracker.typing import FORM_TYPES as FORM_TYPES
from snowplow_tracker.typing import ElementClasses as ElementClasses
from snowplow_tracker.typing import EmitterProtocol, JsonEncoderFunction
from snowplow_tracker.typing import FormClasses as FormClasses
from snowplow_tracker.typing import FormNodeName as FormNodeName

_BUILD_PAYLOAD = Event.build_payload
# uuid4 as imported: a test that patches ``uuid.uuid4`` gets its ids from the patch.
_UUID4 = uuid.uuid4


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
        # As upstream: tna and aid are always there, None when not given (None and ""
        # values are left out of events).
        self.standard_nv_pairs: dict[str, str | None] = {
            "tv": VERSION,
            "tna": arguments.namespace,
            "aid": arguments.app_id,
        }
        #: Upstream has this attribute (always None there too).
        self.timer: None = None
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
        """A new event id (a random UUID as text); every event's ``eid`` comes from here."""
        if uuid.uuid4 is not _UUID4:  # patched by a test: use what it gives
            return str(uuid.uuid4())
        return new_event_id()

    @staticmethod
    def get_timestamp(tstamp: float | None = None) -> int:
        """``tstamp`` (milliseconds) as an int, or now in milliseconds; every ``dtm``
        comes from here."""
        if isinstance(tstamp, (int, float)) and not isinstance(tstamp, bool):
            return int(tstamp)
        return int(time.time() * 1000)

    def complete_payload(self, event: Event) -> Payload:
        """The full payload of ``event`` as it will be sent, with a new ``eid`` and ``dtm``."""
        fields = self._complete_fields(event)
        if fields is not None:
            payload = Payload()
            payload.nv_pairs = fields
            return payload
        # Upstream's protocol, for events that build their own payload.
        payload = event.build_payload(
            encode_base64=self.encode_base64,
            json_encoder=self.json_encoder,
            subject=self.subject,
        )
        payload.add("eid", self.get_uuid())
        payload.add("dtm", self.get_timestamp())
        payload.add_dict(self.standard_nv_pairs)
        return payload

    def _complete_fields(self, event: Event) -> dict[str, Any] | None:
        """The event's fields as a new dict, or None for an event whose class has its
        own ``build_payload`` (or that is not one of ours)."""
        if getattr(type(event), "build_payload", None) is not _BUILD_PAYLOAD:
            if not callable(getattr(event, "build_payload", None)):
                raise TypeError(f"track() takes an Event, got {type(event).__name__}")
            return None
        pairs = event._payload_fields(self.encode_base64, self.json_encoder, self.subject)
        for name, value in self.standard_nv_pairs.items():
            if value is not None and value != "":
                pairs[name] = value
        pairs["eid"] = self.get_uuid()
        pairs["dtm"] = self.get_timestamp()
        return pairs

    def track(self, event: Event) -> str | None:
        """Send ``event`` to every emitter; returns its event id.

        Never raises on delivery problems: those are reported by the emitters.
        """
        fields = None
        if getattr(self.complete_payload, "__func__", None) is _COMPLETE_PAYLOAD:
            fields = self._complete_fields(event)
        if fields is None:  # upstream's path: what a replaced complete_payload() gives
            pairs = self.complete_payload(event=event).nv_pairs
        else:
            pairs = fields
            emitters = self.emitters
            if len(emitters) == 1:
                only = emitters[0]
                # The dict is new and nobody else sees it: our own emitter may keep it
                # without a copy (unless its input() was replaced, e.g. by a test).
                if isinstance(only, BaseEmitter) and only.input_is_own():
                    only.input_new_payload(pairs)
                    return str(pairs["eid"])
        for emitter in self.emitters:
            emitter.input(pairs)
        eid = pairs.get("eid") if isinstance(pairs, dict) else None
        return eid if isinstance(eid, str) else None

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
        """The namespace (``tna``) this tracker stamps on its events."""
        return self.standard_nv_pairs.get("tna")

    def __repr__(self) -> str:
        return (
            f"Tracker(namespace={self.get_namespace()!r}, app_id="
            f"{self.standard_nv_pairs.get('aid')!r}, emitters={len(self.emitters)})"
        )


_COMPLETE_PAYLOAD = Tracker.complete_payload

__all__ = ["Tracker"]
