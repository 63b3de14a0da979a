"""The tracker-protocol vocabulary: event codes, platforms, and which payload key
fills which stored column (reference/collector.md §1.3)."""

from __future__ import annotations

from typing import Final

#: Event type code -> stored event name. ``ev`` and ``ad`` are legacy codes.
EVENT_NAMES: Final[dict[str, str]] = {
    "pv": "page_view",
    "pp": "page_ping",
    "se": "struct",
    "ue": "unstruct",
    "tr": "transaction",
    "ti": "transaction_item",
    "ev": "struct",
    "ad": "ad_impression",
}

PLATFORMS: Final[frozenset[str]] = frozenset(
    ("web", "mob", "pc", "srv", "app", "tv", "cnsl", "iot", "headset")
)

#: Fields every event must carry (payload_data ``required``).
REQUIRED: Final[tuple[str, ...]] = ("e", "p", "tv")

#: Payload key -> GoodEvent text column, taken as sent.
TEXT_COLUMNS: Final[dict[str, str]] = {
    "aid": "app_id",
    "tna": "name_tracker",
    "tv": "v_tracker",
    "uid": "user_id",
    "duid": "domain_userid",
    "sid": "domain_sessionid",
    "url": "page_url",
    "page": "page_title",
    "refr": "page_referrer",
    "se_ca": "se_category",
    "se_ac": "se_action",
    "se_la": "se_label",
    "se_pr": "se_property",
    "ev_ca": "se_category",
    "ev_ac": "se_action",
    "ev_la": "se_label",
    "ev_pr": "se_property",
    "tr_id": "tr_orderid",
    "tr_af": "tr_affiliation",
    "tr_ci": "tr_city",
    "tr_st": "tr_state",
    "tr_co": "tr_country",
    "tr_cu": "tr_currency",
    "ti_id": "ti_orderid",
    "ti_sk": "ti_sku",
    "ti_nm": "ti_name",
    "ti_na": "ti_name",
    "ti_ca": "ti_category",
    "ti_cu": "ti_currency",
}

#: Payload key -> GoodEvent decimal column.
DECIMAL_COLUMNS: Final[dict[str, str]] = {
    "se_va": "se_value",
    "ev_va": "se_value",
    "tr_tt": "tr_total",
    "tr_tx": "tr_tax",
    "tr_sh": "tr_shipping",
    "ti_pr": "ti_price",
}

#: Payload key -> GoodEvent integer column.
INTEGER_COLUMNS: Final[dict[str, str]] = {
    "vid": "domain_sessionidx",
    "ti_qu": "ti_quantity",
}

#: Integer fields without a column of their own: checked, then kept in ``extra``.
INTEGER_EXTRAS: Final[frozenset[str]] = frozenset(("pp_mix", "pp_max", "pp_miy", "pp_may"))

#: Millisecond timestamps -> GoodEvent column.
TIMESTAMPS: Final[dict[str, str]] = {
    "dtm": "dvce_created_tstamp",
    "stm": "dvce_sent_tstamp",
    "ttm": "true_tstamp",
}

#: Legacy Datacoral clients put the key and environment inside each event.
#: They are read for authentication and never stored.
LEGACY_KEY: Final = "x_api_key"
LEGACY_ENVIRONMENT: Final = "x_datacoral_environment"

#: Query parameters that address the endpoint rather than describe an event:
#: never merged into events, never stored.
TRANSPORT_PARAMETERS: Final[frozenset[str]] = frozenset(("api_key", "env"))

#: Keys read by dedicated rules; a key in no map at all goes to ``extra``.
SPECIAL: Final[frozenset[str]] = frozenset(
    ("e", "p", "eid", "ip", "ua", "nuid", "tnuid", "ue_px", "ue_pr", "cx", "co")
)

#: How the event builder treats each known payload key (one dict lookup per field).
TEXT, DECIMAL, INTEGER, INTEGER_EXTRA, TIMESTAMP, SPECIAL_FIELD = range(6)
FIELD_RULES: Final[dict[str, tuple[int, str]]] = {
    **{name: (TEXT, column) for name, column in TEXT_COLUMNS.items()},
    **{name: (DECIMAL, column) for name, column in DECIMAL_COLUMNS.items()},
    **{name: (INTEGER, column) for name, column in INTEGER_COLUMNS.items()},
    **{name: (INTEGER_EXTRA, name) for name in INTEGER_EXTRAS},
    **{name: (TIMESTAMP, column) for name, column in TIMESTAMPS.items()},
    **{name: (SPECIAL_FIELD, name) for name in SPECIAL},
}

UNSTRUCT_WRAPPER_PREFIX: Final = "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-"
CONTEXTS_WRAPPER_PREFIX: Final = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-"
PAYLOAD_DATA_PREFIX: Final = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-"
