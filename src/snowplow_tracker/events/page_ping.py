"""Page ping events (``e=pp``): the reader is still on the page, and how far they scrolled.

Imports written ``X as X`` keep names upstream's module has, for code that imports
them from here.
"""

from __future__ import annotations

from snowplow_tracker.contracts import non_empty_string as non_empty_string
from snowplow_tracker.events.event import Event as Event
from snowplow_tracker.events.page_view import PageFields
from snowplow_tracker.self_describing_json import SelfDescribingJson
from snowplow_tracker.subject import Subject


class PagePing(PageFields):
    """A periodic ping from an open page with the scroll offsets seen since the last one."""

    def __init__(
        self,
        page_url: str,
        page_title: str | None = None,
        referrer: str | None = None,
        min_x: int | None = None,
        max_x: int | None = None,
        min_y: int | None = None,
        max_y: int | None = None,
        event_subject: Subject | None = None,
        context: list[SelfDescribingJson] | None = None,
        true_timestamp: float | None = None,
    ) -> None:
        super().__init__(
            dict_={"e": "pp"},
            event_subject=event_subject,
            context=context,
            true_timestamp=true_timestamp,
        )
        self.page_url = page_url
        self.page_title = page_title
        self.referrer = referrer
        self._set("pp_mix", min_x)
        self._set("pp_max", max_x)
        self._set("pp_miy", min_y)
        self._set("pp_may", max_y)

    @property
    def min_x(self) -> int | None:
        return self.payload.nv_pairs.get("pp_mix")

    @min_x.setter
    def min_x(self, value: int | None) -> None:
        self._set("pp_mix", value)

    @property
    def max_x(self) -> int | None:
        return self.payload.nv_pairs.get("pp_max")

    @max_x.setter
    def max_x(self, value: int | None) -> None:
        self._set("pp_max", value)

    @property
    def min_y(self) -> int | None:
        return self.payload.nv_pairs.get("pp_miy")

    @min_y.setter
    def min_y(self, value: int | None) -> None:
        self._set("pp_miy", value)

    @property
    def max_y(self) -> int | None:
        return self.payload.nv_pairs.get("pp_may")

    @max_y.setter
    def max_y(self, value: int | None) -> None:
        self._set("pp_may", value)
