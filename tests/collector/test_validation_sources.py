"""``datacoral serve --iglu DIR --iglu URL``: the sources a running server validates
against, asked in the order given after the embedded set; flags replace
``DATACORAL_IGLU``.

A folder given first holds its own ``link_click`` 1-0-1 (stricter than Iglu Central's)
and a schema Iglu Central does not have; the Iglu Central copy, served as a static
registry, comes second. Storage plays no part: SQLite only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from datacoral.admin.environments import ValidationMode
from datacoral.storage import open_storage
from tests.collector import schema_events as se
from tests.collector.builders import TP2, envelope, headers
from tests.collector.conftest import create_keys
from tests.schemas.registries import IGLU_CENTRAL, LoopbackServer, static_registry
from tests.support.server import RunningServer
from tests.support.services import require

CHECKOUT = "iglu:com.acme/checkout/jsonschema/1-0-0"
SELF_DESC = (
    "http://iglucentral.com/schemas/com.snowplowanalytics.self-desc/schema/jsonschema/1-0-0#"
)


def _schema(vendor: str, name: str, version: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": SELF_DESC,
        "self": {"vendor": vendor, "name": name, "format": "jsonschema", "version": version},
        **body,
    }


def _folder(root: Path) -> Path:
    """A static-layout folder: its own link_click 1-0-1 and com.acme checkout 1-0-0."""
    schemas = {
        ("com.snowplowanalytics.snowplow", "link_click", "1-0-1"): {
            "type": "object",
            "properties": {"targetUrl": {"type": "string"}, "campaign": {"type": "string"}},
            "required": ["targetUrl", "campaign"],
        },
        ("com.acme", "checkout", "1-0-0"): {
            "type": "object",
            "properties": {"step": {"type": "integer", "minimum": 1}},
            "required": ["step"],
            "additionalProperties": False,
        },
    }
    for (vendor, name, version), body in schemas.items():
        path = root / "schemas" / vendor / name / "jsonschema" / version
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(_schema(vendor, name, version, body)))
    return root


@contextmanager
def _serve(db: Path, *iglu: str) -> Iterator[RunningServer]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATACORAL_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["DATACORAL_IGLU"] = str(db.parent / "not-a-folder")  # the flags replace it
    flags = [arg for source in iglu for arg in ("--iglu", source)]
    process = subprocess.Popen(
        [sys.executable, "-m", "datacoral", "serve", "--port", "0", "--db", str(db), *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    server = RunningServer(process)
    try:
        server.wait_listening(30)
        yield server
    finally:
        assert server.terminate() == 0, server.log()


def test_iglu_flags_are_asked_in_order_after_the_embedded_set(tmp_path: Path) -> None:
    require((IGLU_CENTRAL / "schemas").is_dir(), f"{IGLU_CENTRAL} is missing")
    with static_registry() as registry:  # its own, to see what the server asked it
        _check_order(tmp_path, registry)


def _check_order(tmp_path: Path, registry: LoopbackServer) -> None:
    db = tmp_path / "events.sqlite"
    keys = create_keys(db)
    storage = open_storage(db)
    try:
        storage.set_validation("prod", ValidationMode.STRICT)
    finally:
        storage.close()
    folder = _folder(tmp_path / "iglu")
    link_click = se.self_describing(
        se.LINK_CLICK, {"targetUrl": "https://a.example/"}, (se.WEB_PAGE, {"id": se.PAGE_ID})
    )
    checkout = se.self_describing(CHECKOUT, {"step": 2})
    bad_checkout = se.self_describing(CHECKOUT, {"step": 0})
    with _serve(db, str(folder), registry.url) as server:
        answer = requests.post(
            server.url + TP2,
            json=envelope(link_click, checkout, bad_checkout),
            headers=headers(keys["prod"]),
            timeout=30,
        )
        assert answer.status_code == 200
        assert f"iglu schemas from: embedded, folder {folder}, static {registry.url}" in (
            server.log()
        )

    stored = se.stored(db, "prod")
    assert stored.validated == {checkout["eid"]: True}
    assert [(row.event_id, row.reason) for row in stored.bad] == [
        # the folder's link_click won over Iglu Central's; web_page came from the registry
        (link_click["eid"], f"event {se.LINK_CLICK}: /data/campaign: required"),
        (bad_checkout["eid"], f"event {CHECKOUT}: /data/step: minimum 1"),
    ]
    asked = registry.requests
    assert "/schemas/com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0" in asked
    assert not any("link_click" in path or "com.acme" in path for path in asked)
