"""Screen views of mobile and desktop apps, in the mobile ``screen_view`` schema.

Imports written ``X as X`` keep names upstream's module has, for code that imports
them from here.
"""

from __future__ import annotations

from typing import Any

from snowplow_tracker.constants import MOBILE_SCHEMA_PATH as MOBILE_SCHEMA_PATH
from snowplow_tracker.constants import MOBILE_SCREEN_VIEW_SCHEMA
from snowplow_tracker.constants import SCHEMA_TAG as SCHEMA_TAG
from snowplow_tracker.contracts import non_empty_string
from snowplow_tracker.events.event import Event as Event
from snowplow_tracker.events.self_describing import SelfDescribing
from snowplow_tracker.self_describing_json import SelfDescribingJson
from snowplow_tracker.subject import Subject
from snowplow_tracker.typing import JsonEncoderFunction as JsonEncoderFunction

_FIELDS = {
    "id_": "id",
    "name": "name",
    "type": "type",
    "previous_name": "previousName",
    "previous_id": "previousId",
    "previous_type": "previousType",
    "transition_type": "transitionType",
}


class ScreenView(SelfDescribing):
    """A screen was shown. ``id_`` (a UUID) and ``name`` are required."""

    def __init__(
        self,
        id_: str,
        name: str,
        type: str | None = None,
        previous_name: str | None = None,
        previous_id: str | None = None,
        previous_type: str | None = None,
        transition_type: str | None = None,
        event_subject: Subject | None = None,
        context: list[SelfDescribingJson] | None = None,
        true_timestamp: float | None = None,
    ) -> None:
        non_empty_string(id_, "id_")
        non_empty_string(name, "name")
        self.screen_view_properties: dict[str, Any] = {}
        super().__init__(
            event_json=SelfDescribingJson(MOBILE_SCREEN_VIEW_SCHEMA, self.screen_view_properties),
            event_subject=event_subject,
            context=context,
            true_timestamp=true_timestamp,
        )
        values = {
            "id_": id_,
            "name": name,
            "type": type,
            "previous_name": previous_name,
            "previous_id": previous_id,
            "previous_type": previous_type,
            "transition_type": transition_type,
        }
        for attribute, value in values.items():
            self._set_property(attribute, value)

    def _set_property(self, attribute: str, value: str | None) -> None:
        key = _FIELDS[attribute]
        if value is None:
            self.screen_view_properties.pop(key, None)
        else:
            self.screen_view_properties[key] = value

    @property
    def event_json(self) -> SelfDescribingJson:
        return SelfDescribingJson(MOBILE_SCREEN_VIEW_SCHEMA, dict(self.screen_view_properties))

    @event_json.setter
    def event_json(self, value: SelfDescribingJson) -> None:
        # The data is derived from the screen view's own fields; nothing to store.
        pass

    @property
    def id_(self) -> str:
        return str(self.screen_view_properties["id"])

    @id_.setter
    def id_(self, value: str) -> None:
        non_empty_string(value, "id_")
        self._set_property("id_", value)

    @property
    def name(self) -> str:
        return str(self.screen_view_properties["name"])

    @name.setter
    def name(self, value: str) -> None:
        non_empty_string(value, "name")
        self._set_property("name", value)

    @property
    def type(self) -> str | None:
        return self.screen_view_properties.get("type")

    @type.setter
    def type(self, value: str | None) -> None:
        self._set_property("type", value)

    @property
    def previous_name(self) -> str | None:
        return self.screen_view_properties.get("previousName")

    @previous_name.setter
    def previous_name(self, value: str | None) -> None:
        self._set_property("previous_name", value)

    @property
    def previous_id(self) -> str | None:
        return self.screen_view_properties.get("previousId")

    @previous_id.setter
    def previous_id(self, value: str | None) -> None:
        self._set_property("previous_id", value)

    @property
    def previous_type(self) -> str | None:
        return self.screen_view_properties.get("previousType")

    @previous_type.setter
    def previous_type(self, value: str | None) -> None:
        self._set_property("previous_type", value)

    @property
    def transition_type(self) -> str | None:
        return self.screen_view_properties.get("transitionType")

    @transition_type.setter
    def transition_type(self, value: str | None) -> None:
        self._set_property("transition_type", value)
