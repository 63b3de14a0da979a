"""Random requests: every answer is a documented status, and the server keeps serving."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.collector.builders import PAYLOAD_DATA, TP2, b64, event, unstruct
from tests.collector.conftest import Endpoint

DOCUMENTED = {200, 204, 400, 401, 403, 404, 405, 413}
KNOWN_PATHS = [TP2, "/tp2", "/i", "/ice.png", "/health", "/ready", "/", "/r/tp2"]
HEADER_TEXT = st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=30)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
field_names = st.sampled_from(
    [
        "e",
        "p",
        "tv",
        "eid",
        "dtm",
        "stm",
        "ttm",
        "ue_px",
        "ue_pr",
        "cx",
        "co",
        "se_va",
        "ti_qu",
        "vid",
        "ip",
        "ua",
        "tnuid",
        "nuid",
        "aid",
        "x_api_key",
        "x_datacoral_environment",
        "url",
    ]
) | st.text(max_size=10)
field_values = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["pv", "ue", "se", "zz", "web", "pc", "1700000000000", "-1", "1e3", "abc"]),
    st.builds(lambda doc: b64(doc), json_values),
    st.builds(lambda: b64(unstruct())),
    json_values,
)
events = st.one_of(
    st.builds(
        lambda extra: {**event(), **extra}, st.dictionaries(field_names, field_values, max_size=6)
    ),
    st.dictionaries(field_names, field_values, max_size=8),
    json_values,
)
bodies = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda doc: json.dumps(doc).encode(), json_values),
    st.builds(
        lambda evs, schema: json.dumps({"schema": schema, "data": evs}).encode(),
        st.lists(events, max_size=5),
        st.sampled_from([PAYLOAD_DATA, PAYLOAD_DATA[:-1] + "0", "iglu:x/y/jsonschema/1-0-0"]),
    ),
)


@st.composite
def requests_(draw: st.DrawFn, keys: dict[str, str]) -> dict[str, Any]:
    key = draw(st.sampled_from([None, keys["dev"], keys["prod"], "dck_junk", ""]))
    path = draw(
        st.sampled_from(KNOWN_PATHS)
        | st.builds(
            lambda k, p: f"/k/{k}{p}",
            st.sampled_from([keys["dev"], "junk", ""]),
            st.sampled_from(KNOWN_PATHS),
        )
        | st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789/._-~%"), max_size=30).map(
            lambda p: "/" + p
        )
    )
    hdrs: dict[str, str] = {}
    if key is not None and draw(st.booleans()):
        hdrs["X-Api-Key"] = key
    if draw(st.booleans()):
        hdrs["X-Datacoral-Environment"] = draw(st.sampled_from(["dev", "prod", "x"]) | HEADER_TEXT)
    if draw(st.booleans()):
        hdrs["Content-Type"] = draw(
            st.sampled_from(
                ["application/json", "text/plain", "application/json; charset=utf-8", "image/png"]
            )
            | HEADER_TEXT
        )
    for name in draw(
        st.lists(
            st.sampled_from(
                ["User-Agent", "X-Forwarded-For", "Origin", "Referer", "Cookie", "X-Other"]
            ),
            max_size=3,
        )
    ):
        hdrs[name] = draw(HEADER_TEXT)
    params = draw(
        st.dictionaries(
            field_names | st.sampled_from(["api_key", "env"]), st.text(max_size=30), max_size=6
        )
    )
    if key and draw(st.booleans()):
        params["api_key"] = key
    return {
        "method": draw(
            st.sampled_from(
                ["GET", "POST", "POST", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"]
            )
        ),
        "path": path,
        "headers": hdrs,
        "params": params,
        "body": draw(bodies),
    }


def test_random_requests_get_documented_answers(shared_endpoint: Endpoint) -> None:
    session = shared_endpoint.session

    @settings(
        max_examples=2500,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(requests_(shared_endpoint.keys))
    def check(request: dict[str, Any]) -> None:
        response = session.request(
            request["method"],
            shared_endpoint.url + request["path"],
            params=request["params"],
            headers=request["headers"],
            data=request["body"] if request["method"] not in ("GET", "HEAD") else None,
            timeout=10,
        )
        assert response.status_code in DOCUMENTED, (request, response.status_code, response.text)

    check()
    assert session.get(shared_endpoint.url + "/health").status_code == 200
    log = shared_endpoint.server.log()
    assert all(key not in log for key in shared_endpoint.keys.values())
