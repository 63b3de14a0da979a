"""Type aliases used across the tracker (the names upstream 1.x exports here)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, Protocol

PayloadDict = dict[str, Any]
PayloadDictList = list[PayloadDict]
#: An event as an emitter queues it until it is sent, in upstream's shape: for POST
#: every value is a str, for GET the values are as tracked; ``stm`` is added when sent.
QueuedEvent = PayloadDict
JsonEncoderFunction = Callable[[Any], Any]
ElementClasses = list[str] | tuple[str, ...]
FormNodeName = Literal["INPUT", "TEXTAREA", "SELECT"]
FormClasses = list[str] | tuple[str, ...]
Method = Literal["get", "post"]
HttpProtocol = Literal["http", "https"]
#: Platforms the protocol knows (``p``); upstream 1.1.0's set plus ``headset``.
SUPPORTED_PLATFORMS = frozenset({"pc", "tv", "mob", "cnsl", "iot", "web", "srv", "app", "headset"})
SupportedPlatform = Literal["pc", "tv", "mob", "cnsl", "iot", "web", "srv", "app", "headset"]
SuccessCallback = Callable[[PayloadDictList], None]
FailureCallback = Callable[[int, PayloadDictList], None]
DropCallback = Callable[[str, PayloadDictList], None]

FORM_NODE_NAMES = {"INPUT", "TEXTAREA", "SELECT"}
FORM_TYPES = {
    "button",
    "checkbox",
    "color",
    "date",
    "datetime",
    "datetime-local",
    "email",
    "file",
    "hidden",
    "image",
    "month",
    "number",
    "password",
    "radio",
    "range",
    "reset",
    "search",
    "submit",
    "tel",
    "text",
    "time",
    "url",
    "week",
}


class EmitterProtocol(Protocol):
    """What a tracker needs from an emitter: something that takes events."""

    def input(self, payload: PayloadDict) -> object: ...
