"""Page view events (``e=pv``)."""

from __future__ import annotations

from snowplow_tracker.contracts import non_empty_string
from snowplow_tracker.events.event import Event
from snowplow_tracker.self_describing_json import SelfDescribingJson
from snowplow_tracker.subject import Subject


class PageFields(Event):
    """The URL, title and referrer that page views and page pings share."""

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


class PageView(PageFields):
    """A page was viewed."""

    def __init__(
        self,
        page_url: str,
        page_title: str | None = None,
        referrer: str | None = None,
        event_subject: Subject | None = None,
        context: list[SelfDescribingJson] | None = None,
        true_timestamp: float | None = None,
    ) -> None:
        super().__init__(
            dict_={"e": "pv"},
            event_subject=event_subject,
            context=context,
            true_timestamp=true_timestamp,
        )
        self.page_url = page_url
        self.page_title = page_title
        self.referrer = referrer
