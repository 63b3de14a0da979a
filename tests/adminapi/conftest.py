"""Admin API tests run against a real ``datacoral serve --admin`` over each storage backend.

``admin`` is one server per module and backend (a SQLite file, or a fresh schema of
the run's PostgreSQL database), with a server-wide admin token; tests that change
state make environments of their own names (:func:`fresh_name`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from datacoral.adminapi import PREFIX
from datacoral.storage import open_storage
from datacoral.storage.base import AdminStorage
from datacoral.storage.target import Target
from tests.collector.builders import TP2, envelope, headers
from tests.support.backends import BACKENDS, Targets, require_backend
from tests.support.server import RunningServer, running_server

#: ``token=`` of :meth:`AdminServer.call` when the server-wide token is meant.
SERVER_WIDE = "server-wide"


def make_token(db: Target, environment: str = "*") -> tuple[str, str]:
    """A new admin token of ``environment`` (``*``: server-wide): (token id, token)."""
    store = open_storage(db)
    try:
        info, token = store.create_admin_token(environment, "tests")
    finally:
        store.close()
    return info.token_id, token


def fresh_name(prefix: str = "t") -> str:
    """An environment name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass
class AdminServer:
    """A running endpoint with the admin API, its database and a server-wide token."""

    server: RunningServer
    db: Target
    token: str
    session: requests.Session

    @property
    def url(self) -> str:
        return self.server.url

    def call(
        self, method: str, path: str, *, token: str | None = SERVER_WIDE, **options: Any
    ) -> requests.Response:
        """``method`` on ``/admin/v1{path}`` with ``token`` (None: no Authorization)."""
        sent = dict(options.pop("headers", {}))
        if token is not None:
            sent["Authorization"] = f"Bearer {self.token if token == SERVER_WIDE else token}"
        return self.session.request(
            method, self.url + PREFIX + path, headers=sent, timeout=30, **options
        )

    def ok(self, method: str, path: str, status: int = 200, **options: Any) -> Any:
        """The JSON of a call that must answer ``status``."""
        answer = self.call(method, path, **options)
        assert answer.status_code == status, answer.text
        return answer.json() if answer.content else None

    def storage(self) -> AdminStorage:
        """A second, independent handle on the server's database."""
        return open_storage(self.db)

    def send(self, key: str, *events: dict[str, str]) -> None:
        """One tp2 request; asserts its 200 (everything committed)."""
        answer = self.session.post(
            self.url + TP2, json=envelope(*events), headers=headers(key), timeout=30
        )
        assert (answer.status_code, answer.text) == (200, "ok")


@pytest.fixture(scope="module", params=BACKENDS)
def module_backend(request: pytest.FixtureRequest) -> str:
    require_backend(request.param)
    return str(request.param)


@pytest.fixture(scope="module")
def module_targets(
    request: pytest.FixtureRequest, module_backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Targets:
    return Targets(request, module_backend, tmp_path_factory)


@pytest.fixture(scope="module")
def admin(module_targets: Targets) -> Iterator[AdminServer]:
    """One ``serve --admin --inspect`` for the module, with a server-wide token."""
    db = module_targets.new("admin")
    store = open_storage(db)
    store.environments()  # creates the schema before the token goes in
    store.close()
    _, token = make_token(db)
    with running_server(db, admin=True, inspect=True) as server, requests.Session() as session:
        yield AdminServer(server, db, token, session)
    assert token not in server.log()
