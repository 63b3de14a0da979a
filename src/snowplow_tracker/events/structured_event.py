"""Structured events (``e=se``): category, action, label, property, value."""

from __future__ import annotations

from snowplow_tracker.contracts import non_empty_string
from snowplow_tracker.events.event import Event
from snowplow_tracker.self_describing_json import SelfDescribingJson
from snowplow_tracker.subject import Subject


class StructuredEvent(Event):
    """A Google-Analytics-style event with five fixed fields."""

    def __init__(
        self,
        category: str,
        action: str,
        label: str | None = None,
        property_: str | None = None,
        value: float | None = None,
        event_subject: Subject | None = None,
        context: list[SelfDescribingJson] | None = None,
        true_timestamp: float | None = None,
    ) -> None:
        super().__init__(
            dict_={"e": "se"},
            event_subject=event_subject,
            context=context,
            true_timestamp=true_timestamp,
        )
        self.category = category
        self.action = action
        self.label = label
        self.property_ = property_
        self.value = value

    @property
    def category(self) -> str:
        return str(self.payload.nv_pairs["se_ca"])

    @category.setter
    def category(self, value: str) -> None:
        non_empty_string(value, "category")
        self._set("se_ca", value)

    @property
    def action(self) -> str:
        return str(self.payload.nv_pairs["se_ac"])

    @action.setter
    def action(self, value: str) -> None:
        non_empty_string(value, "action")
        self._set("se_ac", value)

    @property
    def label(self) -> str | None:
        return self.payload.nv_pairs.get("se_la")

    @label.setter
    def label(self, value: str | None) -> None:
        self._set("se_la", value)

    @property
    def property_(self) -> str | None:
        return self.payload.nv_pairs.get("se_pr")

    @property_.setter
    def property_(self, value: str | None) -> None:
        self._set("se_pr", value)

    @property
    def value(self) -> float | None:
        return self.payload.nv_pairs.get("se_va")

    @value.setter
    def value(self, value: float | None) -> None:
        self._set("se_va", value)
