"""What the endpoint adds and maps: timestamps, address, agent, ids, decoded JSON, extra."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import requests

from datacoral.storage.base import GoodEvent
from tests.collector.builders import CONTEXTS, TP2, b64, envelope, event, headers, unstruct
from tests.collector.conftest import Endpoint, create_keys
from tests.support.server import running_server


def stored(endpoint: Endpoint, event_id: str) -> GoodEvent:
    storage = endpoint.storage()
    try:
        (found,) = storage.find_events(event_id)
    finally:
        storage.close()
    return found.event


def post(endpoint: Endpoint, *events: Any, **kwargs: Any) -> requests.Response:
    sent = headers(endpoint.keys["dev"])
    sent.update(kwargs.pop("extra_headers", {}))
    return endpoint.session.post(endpoint.url + TP2, json=envelope(*events), headers=sent, **kwargs)


def test_fields_are_mapped_to_columns_and_the_rest_kept_in_extra(shared_endpoint: Endpoint) -> None:
    contexts = [{"schema": "iglu:com.acme/ctx/jsonschema/1-0-0", "data": {"a": 1}}]
    sent = event(
        e="se",
        aid="shop",
        tna="ns",
        uid="user-1",
        duid="d-1",
        sid="c5c2c2b2-0000-4000-8000-000000000001",
        vid="3",
        url="https://shop.example/p?q=1",
        page="Product",
        refr="https://ref.example/",
        se_ca="cat",
        se_ac="act",
        se_la="lab",
        se_pr="prop",
        se_va="2.5",
        tz="Europe/Berlin",
        lang="de-DE",
        res="1920x1080",
        cx=b64({"schema": CONTEXTS, "data": contexts}, padding=False),
        nuid="n-1",
        tnuid="t-1",
    )
    assert post(shared_endpoint, sent).status_code == 200
    row = stored(shared_endpoint, sent["eid"])
    assert (row.event, row.app_id, row.name_tracker, row.user_id) == (
        "struct",
        "shop",
        "ns",
        "user-1",
    )
    assert (row.domain_userid, row.domain_sessionid, row.domain_sessionidx) == (
        "d-1",
        sent["sid"],
        3,
    )
    assert (row.page_url, row.page_title, row.page_referrer) == (
        sent["url"],
        "Product",
        sent["refr"],
    )
    assert (row.se_category, row.se_action, row.se_label, row.se_property) == (
        "cat",
        "act",
        "lab",
        "prop",
    )
    assert row.se_value == 2.5
    assert row.network_userid == "t-1"  # tnuid beats nuid
    assert json.loads(row.contexts or "") == contexts
    assert row.extra == {"tz": "Europe/Berlin", "lang": "de-DE", "res": "1920x1080"}


def test_transaction_fields_are_typed(shared_endpoint: Endpoint) -> None:
    tr = event(e="tr", tr_id="o-1", tr_tt="10.50", tr_tx="1", tr_sh="0", tr_cu="EUR")
    ti = event(e="ti", ti_id="o-1", ti_sk="sku", ti_nm="Thing", ti_pr="5.25", ti_qu="2.0")
    assert post(shared_endpoint, tr, ti).status_code == 200
    row = stored(shared_endpoint, tr["eid"])
    assert (row.event, row.tr_orderid, row.tr_total, row.tr_tax, row.tr_currency) == (
        "transaction",
        "o-1",
        10.5,
        1.0,
        "EUR",
    )
    item = stored(shared_endpoint, ti["eid"])
    assert (item.event, item.ti_sku, item.ti_name, item.ti_price, item.ti_quantity) == (
        "transaction_item",
        "sku",
        "Thing",
        5.25,
        2,
    )


def test_timestamps(shared_endpoint: Endpoint) -> None:
    before = int(time.time() * 1000)
    skewed = event(dtm="1000000", stm="1000600")
    trusted = event(dtm="1000000", stm="1000600", ttm="1500000000000")
    late_clock = event(dtm="2000000", stm="1000000")
    assert post(shared_endpoint, skewed, trusted, late_clock).status_code == 200
    after = int(time.time() * 1000)
    row = stored(shared_endpoint, skewed["eid"])
    assert before <= row.collector_tstamp <= after
    assert row.derived_tstamp == row.collector_tstamp - 600
    assert (row.dvce_created_tstamp, row.dvce_sent_tstamp) == (1000000, 1000600)
    assert stored(shared_endpoint, trusted["eid"]).derived_tstamp == 1500000000000
    late = stored(shared_endpoint, late_clock["eid"])
    assert late.derived_tstamp == late.collector_tstamp


def test_event_id_is_generated_when_absent_and_normalised(shared_endpoint: Endpoint) -> None:
    upper = event()
    upper["eid"] = upper["eid"].upper()
    anonymous = event(aid="no-eid-" + upper["eid"])
    del anonymous["eid"]
    assert post(shared_endpoint, upper, anonymous).status_code == 200
    assert stored(shared_endpoint, upper["eid"].lower()).event_id == upper["eid"].lower()
    storage = shared_endpoint.storage()
    try:
        (latest,) = [
            s.event for s in storage.latest_events("dev", 50) if s.event.app_id == anonymous["aid"]
        ]
    finally:
        storage.close()
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", latest.event_id
    )


def test_address_and_agent(shared_endpoint: Endpoint) -> None:
    plain = event()
    forged = event()
    overridden = event(ip="203.0.113.9, 10.0.0.1", ua="Tracker/1.0")
    assert post(shared_endpoint, plain, extra_headers={"User-Agent": "Agent/2"}).status_code == 200
    assert post(shared_endpoint, forged, extra_headers={"X-Forwarded-For": "198.51.100.7"}).ok
    assert post(shared_endpoint, overridden).ok
    row = stored(shared_endpoint, plain["eid"])
    assert (row.user_ipaddress, row.useragent) == ("127.0.0.1", "Agent/2")
    # Without configured trusted proxies, X-Forwarded-For is not believed.
    assert stored(shared_endpoint, forged["eid"]).user_ipaddress == "127.0.0.1"
    row = stored(shared_endpoint, overridden["eid"])
    assert (row.user_ipaddress, row.useragent) == ("203.0.113.9", "Tracker/1.0")


def test_forwarded_for_is_believed_from_trusted_proxies(db_path: Path) -> None:
    keys = create_keys(db_path)
    with running_server(db_path, trusted_proxies=("127.0.0.0/8",)) as server:
        endpoint = Endpoint(server, db_path, keys, requests.Session())
        sent = event()
        chain = "198.51.100.7, 127.0.0.5"  # client, then another trusted hop
        assert post(endpoint, sent, extra_headers={"X-Forwarded-For": chain}).ok
        endpoint.session.close()
        assert stored(endpoint, sent["eid"]).user_ipaddress == "198.51.100.7"


def test_query_parameters_of_a_post_go_into_every_event(shared_endpoint: Endpoint) -> None:
    first, second = event(aid="body"), event()
    response = post(shared_endpoint, first, second, params={"aid": "query", "tz": "UTC"})
    assert response.status_code == 200
    for sent in (first, second):
        row = stored(shared_endpoint, sent["eid"])
        assert (row.app_id, row.extra) == ("query", {"tz": "UTC"})


def test_unicode_round_trips(shared_endpoint: Endpoint) -> None:
    text = "Grüße, 世界 🌍"
    via_post = event(
        e="ue", page=text, ue_px=b64(unstruct("iglu:com.acme/x/jsonschema/1-0-0", {"t": text}))
    )
    via_get = event(p="web", page=text)
    assert post(shared_endpoint, via_post).ok
    response = shared_endpoint.session.get(
        shared_endpoint.url + "/i", params=via_get, headers=headers(shared_endpoint.keys["dev"])
    )
    assert response.ok
    row = stored(shared_endpoint, via_post["eid"])
    assert row.page_title == text
    assert json.loads(row.unstruct_event or "")["data"] == {"t": text}
    assert stored(shared_endpoint, via_get["eid"]).page_title == text


def test_access_log_hides_keys(db_path: Path) -> None:
    keys = create_keys(db_path)
    key = keys["dev"]
    with running_server(db_path, access_log=True) as server, requests.Session() as session:
        assert session.get(f"{server.url}/k/{key}/i", params=event(p="web")).ok
        assert session.get(server.url + "/i", params={**event(p="web"), "api_key": key}).ok
        assert session.post(server.url + TP2, json=envelope(event()), headers=headers(key)).ok
        assert (
            session.get(
                server.url + "/i", params={**event(p="web"), "api_key": "dck_wrong"}
            ).status_code
            == 401
        )
    log = server.log()  # after the stop: every line has been read
    assert "GET /k/***/i 200" in log
    assert "GET /i 200" in log
    assert f"POST {TP2} 200" in log
    assert "GET /i 401" in log
    assert key not in log and "dck_wrong" not in log
