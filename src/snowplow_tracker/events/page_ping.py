"""Page ping events (``e=pp``): the reader is still on the page, and how far they scrolled."""

from __future__ import annotations

from snowplow_tracker.contracts import non_empty_string
from snowplow_tracker.events.event import Event
from snowplow_tracker.self_describing_json import SelfDescribingJson
from snowplow_tracker.subject import Subject


class PagePing(Event):
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
        non_empty_string(page_url, "page_url")
        self._set("url", page_url)
        self._set("page", page_title)
        self._set("refr", referrer)
        self._set("pp_mix", min_x)
        self._set("pp_max", max_x)
        self._set("pp_miy", min_y)
        self._set("pp_may", max_y)

    @property
    def page_url(self) -> str:
        return str(self.payload.nv_pairs["url"])

    @page_url.setter
    def page_url(self, value: str) -> None:
        non_empty_string(value, "page_url")
        self._set("url", value)

    @property
    def page_title(self) -> str | None:
        return self.payload.nv_pairs.get("page")

    @page_title.setter
    def page_title(self, value: str | None) -> None:
        self._set("page", value)

    @property
    def referrer(self) -> str | None:
        return self.payload.nv_pairs.get("refr")

    @referrer.setter
    def referrer(self, value: str | None) -> None:
        self._set("refr", value)

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
