"""``serve --log-format json``: one JSON object per line, with the request's fields, and
never an API key or an event body, whichever way the key travelled.

A real server process, its stderr read line by line; requests carry the key in each
place the protocol allows (header, ``/k/`` path, ``api_key`` query, legacy in-event
``x_api_key``), with a marker inside every event body.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import requests

from datacoral.storage.target import Target
from snowplow_tracker import Emitter, Tracker
from tests.cli.test_serve import assert_one_error_line, serve
from tests.collector.builders import TP2, envelope, event, headers
from tests.collector.conftest import create_keys
from tests.support.server import running_server

#: What the server prints on stdout (not log records).
PRINTED = re.compile(r"^datacoral serve: (listening|metrics) on ")
#: Inside every event sent: must never reach the log.
MARKER = "body-marker-5f1e2a"


def records(log: str) -> list[dict[str, Any]]:
    """Every log line as the JSON object it must be (printed lines set aside)."""
    parsed = []
    for line in log.splitlines():
        if PRINTED.match(line):
            continue
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            raise AssertionError(f"not one JSON object: {line!r}") from None
    return parsed


def test_json_lines_carry_the_request_fields_and_no_secret(db: Target) -> None:
    keys = create_keys(db)
    key = keys["dev"]
    settings = {"log_format": "json", "access_log": True, "log_level": "debug"}
    with running_server(db, **settings) as server, requests.Session() as session:
        emitter = Emitter(server.url, batch_size=1, session=session)
        tracker = Tracker(emitter, api_key=key, datacoral_env="dev", namespace="logs")
        tracker.track_struct_event("logs", MARKER, MARKER)
        assert emitter.flush(timeout=30).pending == 0
        tagged = {**headers(key), "X-Request-Id": "trace-42.a"}
        assert session.post(server.url + TP2, json=envelope(event(tv=MARKER)), headers=tagged).ok
        assert session.get(f"{server.url}/k/{key}/i", params=event(tv=MARKER)).ok
        assert session.get(server.url + "/i", params={**event(tv=MARKER), "api_key": key}).ok
        legacy = event(tv=MARKER, x_api_key=key, x_datacoral_environment="dev")
        assert session.post(server.url + TP2, json=envelope(legacy), headers=headers(None)).ok
        bad = event(eid=MARKER)  # a bad row: its payload is stored, not logged
        assert session.post(server.url + TP2, json=envelope(bad), headers=headers(key)).ok
        refused = session.get(
            server.url + "/i",
            params={**event(tv=MARKER), "api_key": "dck_not-a-key-7c1"},
            headers={"X-Request-Id": "has spaces, not an id"},
        )
        assert refused.status_code == 401
    log = server.log()  # after the stop: every line has been read
    assert key not in log and "dck_not-a-key-7c1" not in log
    assert MARKER not in log

    lines = records(log)
    for line in lines:
        assert {"time", "level", "logger", "pid", "message"} <= line.keys(), line
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"]), line
    access = [line for line in lines if line["logger"] == "datacoral.access"]
    assert len(access) == 7, access
    for line in access:
        assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
        assert re.fullmatch(r"[0-9a-f]{16}|trace-42\.a", line["request_id"]), line
    by_status = [(line["method"], line["path"], line["status"]) for line in access]
    assert by_status == [
        ("POST", TP2, 200),
        ("POST", TP2, 200),
        ("GET", "/k/***/i", 200),
        ("GET", "/i", 200),
        ("POST", TP2, 200),
        ("POST", TP2, 200),
        ("GET", "/i", 401),
    ]
    assert [line["environment"] for line in access] == ["dev"] * 6 + [None]
    assert access[1]["request_id"] == "trace-42.a"  # the client's id, when it is one
    assert access[6]["request_id"] != "has spaces, not an id"
    assert len({line["request_id"] for line in access}) == 7
    assert any(line["logger"].startswith("uvicorn") for line in lines)  # uvicorn's too


def test_text_stays_the_default_and_names_environment_and_request(tmp_path: Path) -> None:
    db = tmp_path / "events.sqlite"
    key = create_keys(db)["dev"]
    with running_server(db, access_log=True) as server:
        sent = {**headers(key), "X-Request-Id": "abc-1"}
        assert requests.post(server.url + TP2, json=envelope(event()), headers=sent).ok
    line = next(line for line in server.log().splitlines() if "datacoral.access" in line)
    assert re.search(rf" INFO datacoral\.access: POST {TP2} 200 \d+\.\dms env=dev id=abc-1$", line)
    assert not line.startswith("{")


def test_an_unknown_log_format_names_the_variable_or_the_option(tmp_path: Path) -> None:
    db = str(tmp_path / "x.sqlite")
    assert_one_error_line(
        serve("--db", db, env={"DATACORAL_LOG_FORMAT": "xml"}),
        1,
        "DATACORAL_LOG_FORMAT must be one of text, json, got 'xml'",
    )
    refused = serve("--db", db, "--log-format", "xml")
    assert refused.returncode == 2 and "'xml' is not one of 'text', 'json'" in refused.stderr
