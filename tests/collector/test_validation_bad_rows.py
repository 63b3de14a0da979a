"""What a schema bad row says, read back from a running ``datacoral serve``: the entity
(``event`` or ``context[n]``, counted from 0 among the contexts), its schema URI, the
RFC 6901 pointer of each failing value and the rule, within a bounded size.
"""

from __future__ import annotations

import json

import pytest
import requests

from datacoral.admin.environments import ValidationMode
from datacoral.storage import open_storage
from datacoral.storage.target import Target
from tests.collector import schema_events as se
from tests.collector.builders import CONTEXTS, TP2, envelope, headers
from tests.collector.conftest import create_keys
from tests.schemas.registries import LoopbackServer
from tests.support.server import running_server

PATTERN = '"^[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}$"'
MAX_REASON = 2048


def _keys(db: Target) -> dict[str, str]:
    storage = open_storage(db)
    try:
        storage.set_validation("prod", ValidationMode.STRICT)
        storage.set_validation("dev", ValidationMode.LENIENT)
    finally:
        storage.close()
    return create_keys(db)


def page_view(*contexts: tuple[str, object]) -> dict[str, str]:
    """A page view (no self-describing event) with ``contexts`` in ``co``."""
    entities = [{"schema": uri, "data": data} for uri, data in contexts]
    return {**se.page_view(), "co": json.dumps({"schema": CONTEXTS, "data": entities})}


def test_the_failing_context_is_named_by_its_place(
    db_path: Target, iglu_registry: LoopbackServer
) -> None:
    keys = _keys(db_path)
    contexts = (
        (se.WEB_PAGE, {"id": se.PAGE_ID}),
        (se.WEB_PAGE, {"id": "x", "a/b~c": 1}),
        (se.UNKNOWN, {"step": 1}),
    )
    sent = {env: page_view(*contexts) for env in ("prod", "dev")}
    with running_server(db_path, iglu=iglu_registry.url) as server:
        for env, event in sent.items():
            answer = requests.post(
                server.url + TP2, json=envelope(event), headers=headers(keys[env]), timeout=30
            )
            assert answer.status_code == 200

    failing = (
        f"context[1] {se.WEB_PAGE}: /data/id: pattern {PATTERN};"
        " /data/a~1b~0c: additionalProperties"
    )
    unknown = se.unresolvable_reason(iglu_registry.url).replace("event ", "context[2] ", 1)
    strict, lenient = se.stored(db_path, "prod"), se.stored(db_path, "dev")
    assert [(r.kind, r.event_id, r.reason) for r in strict.bad] == [
        ("schema_violation", sent["prod"]["eid"], f"{failing}; {unknown}")
    ]
    assert [(r.kind, r.event_id, r.reason) for r in lenient.bad] == [
        ("schema_violation", sent["dev"]["eid"], failing)  # lenient: the failure only
    ]
    assert json.loads(lenient.bad[0].payload) == sent["dev"]
    assert strict.validated == lenient.validated == {}


@pytest.mark.sqlite_only  # about the reason's bound, not the store
def test_a_strict_reason_naming_many_unresolved_schemas_is_bounded(
    db_path: Target, iglu_registry: LoopbackServer
) -> None:
    keys = _keys(db_path)
    unknown = [(f"iglu:com.acme/{'n' * 60}_{i}/jsonschema/1-0-0", {}) for i in range(40)]
    event = page_view((se.WEB_PAGE, {"id": se.PAGE_ID}), *unknown)
    with running_server(db_path, iglu=iglu_registry.url) as server:
        answer = requests.post(
            server.url + TP2, json=envelope(event), headers=headers(keys["prod"]), timeout=60
        )
        assert answer.status_code == 200
    [row] = se.stored(db_path, "prod").bad
    assert len(row.reason) <= MAX_REASON
    assert row.reason.startswith(f"context[1] {unknown[0][0]}: not found (")
    assert row.reason.endswith("…")
    assert json.loads(row.payload) == event  # the event itself is kept whole
