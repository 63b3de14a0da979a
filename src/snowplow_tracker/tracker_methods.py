"""The ``track_*`` methods of upstream 1.x: each builds one event and tracks it.

They return the tracker (so calls chain), as upstream's do; ``track(event)``
returns the event id. The cart and transaction methods are in
:mod:`snowplow_tracker.commerce_methods`.
"""

from __future__ import annotations

from typing import Any

from snowplow_tracker.constants import BASE_SCHEMA_PATH, SCHEMA_TAG
from snowplow_tracker.contracts import (
    form_element,
    non_empty,
    non_empty_string,
    one_of,
)
from snowplow_tracker.events import (
    Event,
    PagePing,
    PageView,
    ScreenView,
    SelfDescribing,
    StructuredEvent,
)
from snowplow_tracker.self_describing_json import SelfDescribingJson
from snowplow_tracker.subject import Subject
from snowplow_tracker.typing import FORM_NODE_NAMES, FORM_TYPES, ElementClasses

Context = list[SelfDescribingJson] | None


def schema_uri(name: str, version: str) -> str:
    """The Iglu URI of one of Snowplow's own event schemas."""
    return f"{BASE_SCHEMA_PATH}/{name}/{SCHEMA_TAG}/{version}"


def present(**fields: Any) -> dict[str, Any]:
    """The fields that are not None (upstream leaves absent ones out of the event)."""
    return {key: value for key, value in fields.items() if value is not None}


class TrackMethods:
    """Mixin of the convenience methods; the class using it provides ``track``."""

    def track(self, event: Event) -> str | None:  # pragma: no cover - provided by Tracker
        raise NotImplementedError

    @staticmethod
    def get_uuid() -> str:  # pragma: no cover - provided by Tracker
        raise NotImplementedError

    @staticmethod
    def get_timestamp(tstamp: float | None = None) -> int:  # pragma: no cover - by Tracker
        raise NotImplementedError

    def _track_sd(
        self,
        schema: str,
        data: dict[str, Any],
        context: Context,
        tstamp: float | None,
        event_subject: Subject | None,
    ) -> Any:
        # Through track_self_describing_event, with keywords, as upstream: a test that
        # patches it sees every schema'd event.
        self.track_self_describing_event(
            event_json=SelfDescribingJson(schema, data),
            context=context,
            tstamp=tstamp,
            event_subject=event_subject,
        )
        return self

    def track_page_view(
        self,
        page_url: str,
        page_title: str | None = None,
        referrer: str | None = None,
        context: Context = None,
        tstamp: float | None = None,
        event_subject: Subject | None = None,
    ) -> Any:
        self.track(event=PageView(page_url, page_title, referrer, event_subject, context, tstamp))
        return self

    def track_page_ping(
        self,
        page_url: str,
        page_title: str | None = None,
        referrer: str | None = None,
        min_x: int | None = None,
        max_x: int | None = None,
        min_y: int | None = None,
        max_y: int | None = None,
        context: Context = None,
        tstamp: float | None = None,
        event_subject: Subject | None = None,
    ) -> Any:
        self.track(
            event=PagePing(
                page_url,
                page_title,
                referrer,
                min_x,
                max_x,
                min_y,
                max_y,
                event_subject,
                context,
                tstamp,
            )
        )
        return self

    def track_link_click(
        self,
        target_url: str,
        element_id: str | None = None,
        element_classes: ElementClasses | None = None,
        element_target: str | None = None,
        element_content: str | None = None,
        context: Context = None,
        tstamp: float | None = None,
        event_subject: Subject | None = None,
    ) -> Any:
        non_empty_string(target_url, "target_url")
        data = present(
            targetUrl=target_url,
            elementId=element_id,
            elementClasses=element_classes,
            elementTarget=element_target,
            elementContent=element_content,
        )
        return self._track_sd(
            schema_uri("link_click", "1-0-1"), data, context, tstamp, event_subject
        )

    def track_form_change(
        self,
        form_id: str,
        element_id: str | None,
        node_name: str,
        value: str | None,
        type_: str | None = None,
        element_classes: ElementClasses | None = None,
        context: Context = None,
        tstamp: float | None = None,
        event_subject: Subject | None = None,
    ) -> Any:
        non_empty_string(form_id, "form_id")
        one_of(node_name, FORM_NODE_NAMES, "node_name")
        if type_ is not None:
            one_of(type_.lower(), FORM_TYPES, "type_")
        data: dict[str, Any] = {
            "formId": form_id,
            # The schema requires a string: an element without an id has "" (as the
            # browser trackers send it); upstream sends null, which the schema refuses.
            "elementId": element_id if element_id is not None else "",
            "nodeName": node_name,
            "value": value,
        }
        if type_ is not None:
            data["type"] = type_.lower()
        if element_classes is not None:
            data["elementClasses"] = element_classes
        return self._track_sd(
            schema_uri("change_form", "1-0-0"), data, context, tstamp, event_subject
        )

    def track_form_submit(
        self,
        form_id: str,
        form_classes: ElementClasses | None = None,
        elements: list[dict[str, Any]] | None = None,
        context: Context = None,
        tstamp: float | None = None,
        event_subject: Subject | None = None,
    ) -> Any:
        non_empty_string(form_id, "form_id")
        for element in elements or []:
            form_element(element)
        data: dict[str, Any] = {"formId": form_id}
        if form_classes is not None:
            data["formClasses"] = form_classes
        if elements:
            data["elements"] = elements
        return self._track_sd(
            schema_uri("submit_form", "1-0-0"), data, context, tstamp, event_subject
        )

    def track_site_search(
        self,
        terms: list[str],
        filters: dict[str, str | bool] | None = None,
        total_results: int | None = None,
        page_results: int | None = None,
        context: Context = None,
        tstamp: float | None = None,
        event_subject: Subject | None = None,
    ) -> Any:
        non_empty(terms, "terms")
        data = present(
            terms=terms,
            filters=filters,
            totalResults=total_results,
            pageResults=page_results,
        )
        return self._track_sd(
            schema_uri("site_search", "1-0-0"), data, context, tstamp, event_subject
        )

    def track_screen_view(
        self,
        name: str | None = None,
        id_: str | None = None,
        context: Context = None,
        tstamp: float | None = None,
        event_subject: Subject | None = None,
    ) -> Any:
        """A screen view in the legacy ``com.snowplowanalytics.snowplow/screen_view`` schema.

        The schema needs a ``name`` or an ``id_``: ValueError without either (unless
        contracts are disabled).
        """
        data = present(name=name, id=id_)
        non_empty(data, "track_screen_view needs name or id_; its data")
        return self._track_sd(
            schema_uri("screen_view", "1-0-0"), data, context, tstamp, event_subject
        )

    def track_mobile_screen_view(
        self,
        name: str,
        id_: str | None = None,
        type: str | None = None,
        previous_name: str | None = None,
        previous_id: str | None = None,
        previous_type: str | None = None,
        transition_type: str | None = None,
        context: Context = None,
        tstamp: float | None = None,
        event_subject: Subject | None = None,
    ) -> Any:
        """A screen view in the mobile schema; a new UUID is used when ``id_`` is None."""
        self.track(
            event=ScreenView(
                id_ if id_ is not None else self.get_uuid(),
                name,
                type,
                previous_name,
                previous_id,
                previous_type,
                transition_type,
                event_subject,
                context,
                tstamp,
            )
        )
        return self

    def track_struct_event(
        self,
        category: str,
        action: str,
        label: str | None = None,
        property_: str | None = None,
        value: float | None = None,
        context: Context = None,
        tstamp: float | None = None,
        event_subject: Subject | None = None,
    ) -> Any:
        self.track(
            event=StructuredEvent(
                category, action, label, property_, value, event_subject, context, tstamp
            )
        )
        return self

    def track_self_describing_event(
        self,
        event_json: SelfDescribingJson,
        context: Context = None,
        tstamp: float | None = None,
        event_subject: Subject | None = None,
    ) -> Any:
        self.track(event=SelfDescribing(event_json, event_subject, context, tstamp))
        return self

    def track_unstruct_event(
        self,
        event_json: SelfDescribingJson,
        context: Context = None,
        tstamp: float | None = None,
        event_subject: Subject | None = None,
    ) -> Any:
        """The 0.x name of :meth:`track_self_describing_event`."""
        self.track_self_describing_event(
            event_json=event_json, context=context, tstamp=tstamp, event_subject=event_subject
        )
        return self
