"""The Snowplow Node tracker, key in a header, against an environment with an origin list.

Server-side clients send no ``Origin`` (reference/browser.md §2.4; Node's fetch
still sends ``Sec-Fetch-Mode: cors``): they need only a valid key, whatever
origins the key's environment lists (issue 5, Acceptance).
"""

from __future__ import annotations

import pytest

from tests.browser.support import STORED_KIND, StartCollector, StaticSite, run_node_tracker

pytestmark = pytest.mark.usefixtures("node_tools")


@pytest.mark.parametrize("method", ("post", "get"))
def test_node_tracker_with_the_key_in_a_header_is_stored(
    method: str, site: StaticSite, start_collector: StartCollector
) -> None:
    endpoint = start_collector(origins={"dev": [site.origin()]})
    result = run_node_tracker(
        endpoint.url, method=method, headers={"X-Api-Key": endpoint.keys["dev"]}
    )

    tracked = {event["eid"]: STORED_KIND[event["e"]] for event in result["tracked"]}
    assert len(tracked) == 2
    assert all(o["ok"] for o in result["outcomes"]), result
    stored = endpoint.events("dev")
    assert {e.event_id: e.event for e in stored} == tracked, (result, endpoint.log())
    assert len(stored) == len(tracked)
    assert {e.platform for e in stored} == {"srv"}
    assert not [c for env, c in endpoint.counts().items() if env != "dev" and (c.good or c.bad)]
    writes = endpoint.tracking_requests()
    assert writes and all(w.status == 200 for w in writes), writes
