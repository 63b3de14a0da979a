"""The cart and ecommerce-transaction ``track_*`` methods of upstream 1.x."""

from __future__ import annotations

from typing import Any

from snowplow_tracker.contracts import non_empty_string
from snowplow_tracker.events import Event
from snowplow_tracker.subject import Subject
from snowplow_tracker.tracker_methods import Context, TrackMethods, present, schema_uri


class CommerceMethods(TrackMethods):
    """Adds the cart and transaction methods to :class:`TrackMethods`."""

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
        data = present(
            sku=sku,
            quantity=quantity,
            name=name,
            category=category,
            unitPrice=unit_price,
            currency=currency,
        )
        return self._track_sd(schema_uri(event_name, "1-0-0"), data, context, tstamp, event_subject)

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
        fields = present(
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
        self.track(event=Event(fields, event_subject, context, tstamp))
        # As upstream: the items carry the transaction's true timestamp, now when none
        # was given, and each item's keywords are the item's own plus these five.
        item_tstamp = self.get_timestamp(tstamp)
        for item in items or []:
            if not isinstance(item, dict):
                raise TypeError(f"items must be dicts, got {type(item).__name__}")
            self.track_ecommerce_transaction_item(
                **{
                    **item,
                    "order_id": order_id,
                    "currency": currency,
                    "tstamp": item_tstamp,
                    "event_subject": event_subject,
                    "context": context,
                }
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
        fields = present(
            e="ti",
            ti_id=order_id,
            ti_sk=sku,
            ti_nm=name,
            ti_ca=category,
            ti_pr=price,
            ti_qu=quantity,
            ti_cu=currency,
        )
        self.track(event=Event(fields, event_subject, context, tstamp))
        return self
