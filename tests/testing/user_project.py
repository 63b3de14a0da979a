"""A user's project that tests its instrumentation with the plugin, and a way to run it.

The files use only the fixtures and the public tracker API (``snowplow_tracker``), as a
user's would: ``shop.py`` is application code that builds its own tracker from its
configuration; ``pytest.ini`` points the endpoint at the project's schema folder and
makes it strict; the tests check what reached the endpoint, including an event the
endpoint refuses by a protocol rule (a bad ``eid``), one its Iglu schema refuses (a
missing field, named by its JSON pointer) and one whose schema is in no folder.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
from pathlib import Path

CHECKOUT_SCHEMA = "iglu:com.acme/checkout/jsonschema/1-0-0"

SCHEMA = {
    "$schema": "http://iglucentral.com/schemas/com.snowplowanalytics.self-desc/schema/jsonschema/1-0-0#",
    "self": {"vendor": "com.acme", "name": "checkout", "format": "jsonschema", "version": "1-0-0"},
    "type": "object",
    "properties": {"orderId": {"type": "string"}, "total": {"type": "number"}},
    "required": ["orderId", "total"],
    "additionalProperties": False,
}

PYTEST_INI = """\
[pytest]
filterwarnings = error
datacoral_iglu = schemas
datacoral_validation = strict
"""

#: The user's files that are Python; none may import ``datacoral``.
PYTHON_FILES = ("shop.py", "test_instrumentation.py", "test_invalid_events.py")

SHOP = '''\
"""The application: it builds its tracker from its own settings."""

from snowplow_tracker import Emitter, SelfDescribingJson, Tracker

CHECKOUT = "iglu:com.acme/checkout/jsonschema/1-0-0"


class Shop:
    def __init__(self, collector_host, collector_port, api_key, environment):
        self.emitter = Emitter(collector_host, protocol="http", port=collector_port, batch_size=1)
        self.tracker = Tracker(
            self.emitter, api_key=[api_key], datacoral_env=environment,
            namespace="shop", app_id="shop",
        )

    def checkout(self, data):
        self.tracker.track_self_describing_event(SelfDescribingJson(CHECKOUT, data))

    def close(self):
        self.emitter.close(timeout=5)
'''

TEST_INSTRUMENTATION = """\
import pytest
from snowplow_tracker.events import PageView

from shop import CHECKOUT, Shop


@pytest.fixture
def shop(datacoral_endpoint):
    endpoint = datacoral_endpoint
    shop = Shop(endpoint.host, endpoint.port, endpoint.keys["stage"], "stage")
    yield shop
    shop.close()


def test_a_page_view_arrives(datacoral_tracker, datacoral_endpoint):
    event_id = datacoral_tracker.track(PageView("https://shop.example.com/cart", "Cart"))

    [event] = datacoral_endpoint.wait_for_events(1, event_type="page_view")
    assert event["event_id"] == event_id
    assert event["page_url"] == "https://shop.example.com/cart"
    assert event["page_title"] == "Cart"
    assert event["app_id"] == "pytest"


def test_the_shop_sends_its_checkout_to_stage(shop, datacoral_endpoint):
    shop.checkout({"orderId": "o-1", "total": 42.5})

    [event] = datacoral_endpoint.wait_for_events(1, schema=CHECKOUT, env="stage")
    assert event["unstruct_event"]["schema"] == CHECKOUT
    assert event["unstruct_event"]["data"] == {"orderId": "o-1", "total": 42.5}
    assert event["app_id"] == "shop"
    assert event["schema_validated"] is True
    assert datacoral_endpoint.good_events() == []  # nothing in dev


def test_every_test_starts_empty(datacoral_endpoint):
    for env in ("dev", "stage", "prod"):
        assert datacoral_endpoint.good_events(env) == []
        assert datacoral_endpoint.bad_rows(env) == []
"""

TEST_INVALID = """\
import pytest
from snowplow_tracker import SelfDescribingJson, Tracker

from shop import CHECKOUT, Shop


@pytest.fixture
def shop(datacoral_endpoint):
    endpoint = datacoral_endpoint
    shop = Shop(endpoint.host, endpoint.port, endpoint.key, endpoint.env)
    yield shop
    shop.close()


def test_an_event_id_that_is_not_a_uuid_is_a_bad_row(
    datacoral_tracker, datacoral_endpoint, monkeypatch
):
    monkeypatch.setattr(Tracker, "get_uuid", staticmethod(lambda: "not-a-uuid"))
    datacoral_tracker.track_struct_event("shop", "add-to-basket")

    [row] = datacoral_endpoint.wait_for_bad_rows(1)
    assert row["reason"] == "eid: not a UUID: 'not-a-uuid'"
    assert '"se_ac":"add-to-basket"' in row["payload"].replace(" ", "")
    assert datacoral_endpoint.good_events() == []


def test_a_checkout_without_its_order_id_is_a_bad_row_naming_the_field(
    shop, datacoral_endpoint
):
    shop.checkout({"total": 42.5})

    # The emitter sends one event per request and the endpoint answers after storing it.
    [row] = datacoral_endpoint.bad_rows()
    assert row["kind"] == "schema_violation"
    assert f"{CHECKOUT}: /data/orderId: required" in row["reason"]
    assert datacoral_endpoint.good_events() == []


def test_a_schema_in_no_folder_is_a_bad_row_when_strict(datacoral_tracker, datacoral_endpoint):
    typo = "iglu:com.acme/chekout/jsonschema/1-0-0"
    datacoral_tracker.track_self_describing_event(SelfDescribingJson(typo, {"orderId": "o-2"}))

    [row] = datacoral_endpoint.bad_rows()
    assert typo in row["reason"]
    assert "not found" in row["reason"]

    datacoral_endpoint.set_validation("lenient")  # for this test only
    datacoral_tracker.track_self_describing_event(SelfDescribingJson(typo, {"orderId": "o-3"}))
    [event] = datacoral_endpoint.good_events(schema=typo)
    assert event["schema_validated"] is False


def test_the_next_test_is_strict_again(datacoral_endpoint):
    assert datacoral_endpoint.validation() == "strict"
"""

#: What pytest reports for the project.
OUTCOME = {"passed": 7}


def write_user_project(directory: Path) -> Path:
    """The project's files under ``directory``; returns it."""
    schema = directory / "schemas/com.acme/checkout/jsonschema/1-0-0"
    schema.parent.mkdir(parents=True)
    schema.write_text(json.dumps(SCHEMA, indent=2))
    (directory / "pytest.ini").write_text(PYTEST_INI)
    (directory / "shop.py").write_text(SHOP)
    (directory / "test_instrumentation.py").write_text(TEST_INSTRUMENTATION)
    (directory / "test_invalid_events.py").write_text(TEST_INVALID)
    return directory


def plugin_installed() -> bool:
    """Whether this interpreter's datacoral has the ``pytest11`` entry point (an install
    that predates it does not: pytest then needs ``-p datacoral.testing.plugin``)."""
    return any(
        ep.value == "datacoral.testing.plugin"
        for ep in importlib.metadata.entry_points(group="pytest11")
    )


def run_pytest(
    python: Path | str, project: Path, *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``python -m pytest`` in ``project`` with nothing of this repository's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST"))}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run(
        [str(python), "-m", "pytest", "-p", "no:cacheprovider", "-rs", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def outcome(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    """``{"passed": 4, "skipped": 1}`` from pytest's last line."""
    lines = result.stdout.strip().splitlines()
    last = lines[-1] if lines else ""
    return {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|error)", last)}
