"""The ``track_*`` methods of upstream 1.x: each builds one event and tracks it.

They return the tracker (so calls chain), as upstream's do; ``track(event)``
returns the event id.
"""

from __future__ import annotations

import uuid
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


def _schema(name: str, version: str) -> str:
    return f"{BASE_SCHEMA_PATH}/{name}/{SCHEMA_TAG}/{version}"


def _present(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


class TrackMethods:
    """Mixin of the convenience methods; the class using it provides ``track``."""

    def track(self, event: Event) -> str:  # pragma: no cover - provided by Tracker
        raise NotImplementedError

    def _track_sd(
        self,
        schema: str,
        data: dict[str, Any],
        context: Context,
        tstamp: float | None,
        event_subject: Subject | None,
    ) -> Any:
        self.track(
            SelfDescribing(
                SelfDescribingJson(schema, data),
                event_subject=event_subject,
                context=context,
                true_timestamp=tstamp,
            )
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
        self.track(PageView(page_url, page_title, referrer, event_subject, context, tstamp))
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
            PagePing(
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
        data = _present(
            targetUrl=target_url,
            elementId=element_id,
            elementClasses=list(element_classes) if element_classes is not None else None,
            elementTarget=element_target,
            elementContent=element_content,
        )
        return self._track_sd(_schema("link_click", "1-0-1"), data, context, tstamp, event_subject)

    def track_add_to_cart(
        self,
        sku: str,
        quantity: int,
        name: str | None = None,
        category: str | None = None,
        unit_price: float | None = None,
        currency: str | None = None,
        context: Context = None,
        tstamp: float | None = None,
        event_subject: Subject | None = None,
    ) -> Any:
        return self._cart(
            "add_to_cart",
            sku,
            quantity,
            name,
            category,
            unit_price,
            currency,
            context,
            tstamp,
            event_subject,
        )

    def track_remove_from_cart(
        self,
        sku: str,
        quantity: int,
        name: str | None = None,
        category: str | None = None,
        unit_price: float | None = None,
        currency: str | None = None,
        context: Context = None,
        tstamp: float | None = None,
        event_subject: Subject | None = None,
    ) -> Any:
        return self._cart(
            "remove_from_cart",
            sku,
            quantity,
            name,
            category,
            unit_price,
            currency,
            context,
            tstamp,
            event_subject,
        )

    def _cart(
        self,
        event_name: str,
        sku: str,
        quantity: int,
        name: str | None,
        category: str | None,
        unit_price: float | None,
        currency: str | None,
        context: Context,
        tstamp: float | None,
        event_subject: Subject | None,
    ) -> Any:
        non_empty_string(sku, "sku")
        data = _present(
            sku=sku,
            quantity=quantity,
            name=name,
            category=category,
            unitPrice=unit_price,
            currency=currency,
        )
        return self._track_sd(_schema(event_name, "1-0-0"), data, context, tstamp, event_subject)

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
            "elementId": element_id,
            "nodeName": node_name,
            "value": value,
        }
        if type_ is not None:
            data["type"] = type_.lower()
        if element_classes is not None:
            data["elementClasses"] = list(element_classes)
        return self._track_sd(_schema("change_form", "1-0-0"), data, context, tstamp, event_subject)

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
            data["formClasses"] = list(form_classes)
        if elements:
            data["elements"] = elements
        return self._track_sd(_schema("submit_form", "1-0-0"), data, context, tstamp, event_subject)

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
        data = _present(
            terms=list(terms),
            filters=filters,
            totalResults=total_results,
            pageResults=page_results,
        )
        return self._track_sd(_schema("site_search", "1-0-0"), data, context, tstamp, event_subject)

    def track_ecommerce_transaction(
        self,
        order_id: str,
        total_value: float,
        affiliation: str | None = None,
        tax_value: float | None = None,
        shipping: float | None = None,
        city: str | None = None,
        state: str | None = None,
        country: str | None = None,
        currency: str | None = None,
        items: list[dict[str, Any]] | None = None,
        context: Context = None,
        tstamp: float | None = None,
        event_subject: Subject | None = None,
    ) -> Any:
        """A transaction (``e=tr``) and one item event (``e=ti``) per entry of ``items``.

        Unlike upstream, the item dicts are not modified.
        """
        non_empty_string(order_id, "order_id")
        fields = _present(
            e="tr",
            tr_id=order_id,
            tr_tt=total_value,
            tr_af=affiliation,
            tr_tx=tax_value,
            tr_sh=shipping,
            tr_ci=city,
            tr_st=state,
            tr_co=country,
            tr_cu=currency,
        )
        self.track(Event(fields, event_subject, context, tstamp))
        for item in items or []:
            if not isinstance(item, dict):
                raise TypeError(f"items must be dicts, got {type(item).__name__}")
            item_args = {**item, "order_id": order_id, "currency": currency}
            self.track_ecommerce_transaction_item(
                **item_args, context=context, tstamp=tstamp, event_subject=event_subject
            )
        return self

    def track_ecommerce_transaction_item(
        self,
        order_id: str,
        sku: str,
        price: float,
        quantity: int,
        name: str | None = None,
        category: str | None = None,
        currency: str | None = None,
        context: Context = None,
        tstamp: float | None = None,
        event_subject: Subject | None = None,
    ) -> Any:
        """One item of a transaction (``e=ti``); normally sent by track_ecommerce_transaction."""
        non_empty_string(order_id, "order_id")
        non_empty_string(sku, "sku")
        fields = _present(
            e="ti",
            ti_id=order_id,
            ti_sk=sku,
            ti_nm=name,
            ti_ca=category,
            ti_pr=price,
            ti_qu=quantity,
            ti_cu=currency,
        )
        self.track(Event(fields, event_subject, context, tstamp))
        return self

    def track_screen_view(
        self,
        name: str | None = None,
        id_: str | None = None,
        context: Context = None,
        tstamp: float | None = None,
        event_subject: Subject | None = None,
    ) -> Any:
        """A screen view in the legacy ``com.snowplowanalytics.snowplow/screen_view`` schema."""
        data = _present(name=name, id=id_)
        return self._track_sd(_schema("screen_view", "1-0-0"), data, context, tstamp, event_subject)

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
            ScreenView(
                id_ if id_ is not None else str(uuid.uuid4()),
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
            StructuredEvent(
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
        self.track(SelfDescribing(event_json, event_subject, context, tstamp))
        return self

    def track_unstruct_event(
        self,
        event_json: SelfDescribingJson,
        context: Context = None,
        tstamp: float | None = None,
        event_subject: Subject | None = None,
    ) -> Any:
        """The 0.x name of :meth:`track_self_describing_event`."""
        return self.track_self_describing_event(event_json, context, tstamp, event_subject)
