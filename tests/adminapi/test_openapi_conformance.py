"""schemathesis against the admin API's own OpenAPI document, on a real endpoint.

For every operation, generated requests (at most 20 per operation) with a server-wide
token must get no 5xx, only the statuses the document lists, and bodies and content
types that match it; the same requests without a token must all get 401.
"""

from __future__ import annotations

from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from datacoral.adminapi.openapi import build_document
from tests.adminapi.conftest import AdminServer

schema = schemathesis.openapi.from_dict(build_document())
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_matches_the_document(case: Any, admin: AdminServer) -> None:
    authorized = {"Authorization": f"Bearer {admin.token}"}
    response = case.call(base_url=admin.url, headers=authorized, timeout=30)
    case.validate_response(response, checks=CHECKS)

    if case.method.upper() != case.operation.method.upper():
        return  # a method the document does not name (OPTIONS is the CORS layer's)
    sent = case.as_transport_kwargs(base_url=admin.url)
    sent["headers"] = {
        name: value for name, value in sent["headers"].items() if name.lower() != "authorization"
    }
    anonymous = requests.request(**sent, timeout=30)
    assert anonymous.status_code == 401, (case.method, case.formatted_path, anonymous.text)
    assert anonymous.json()["error"] == "unauthorized"
