"""A real ``datacoral serve --inspect`` for the inspection API tests, and readers of it.

One server per module and backend (``DATACORAL_INSPECT=1``); each test takes its own
fresh environment from it (:meth:`MicroServer.reader`), with an API key to write and
an admin token to read, so that tests sharing the server never see each other's
events, and a reset in one environment can be checked against another.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests

from datacoral.storage import open_storage
from datacoral.storage.target import Target
from snowplow_tracker import Emitter, Tracker
from tests.collector.builders import TP2, envelope, headers
from tests.support.backends import Targets
from tests.support.server import RunningServer, running_server


@dataclass
class Reader:
    """One environment of the server: its key (writes) and admin token (reads)."""

    url: str
    environment: str
    key: str
    token: str
    token_id: str
    session: requests.Session
    _emitters: list[Emitter] = field(default_factory=list)

    def micro(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = "",
        data: bytes | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """``method /micro/<path>`` with this reader's token (``token=None``: none)."""
        sent = dict(extra_headers or {})
        chosen = self.token if token == "" else token
        if chosen is not None:
            sent["Authorization"] = f"Bearer {chosen}"
        return self.session.request(
            method, f"{self.url}/micro/{path}", json=body, data=data, headers=sent, timeout=30
        )

    def good(self, body: Any = None) -> list[dict[str, Any]]:
        """``POST /micro/good`` with ``body`` (``GET`` when None), asserting a 200."""
        answer = self.micro("GET", "good") if body is None else self.micro("POST", "good", body)
        assert answer.status_code == 200, answer.text
        assert answer.headers["Content-Type"] == "application/json"
        found: list[dict[str, Any]] = answer.json()
        return found

    def counts(self) -> dict[str, int]:
        answer = self.micro("GET", "all")
        assert answer.status_code == 200, answer.text
        found: dict[str, int] = answer.json()
        return found

    def send(self, *events: dict[str, str]) -> None:
        """One tp2 request with ``events``; asserts the 200 (everything committed)."""
        answer = self.session.post(
            self.url + TP2, json=envelope(*events), headers=headers(self.key), timeout=30
        )
        assert (answer.status_code, answer.text) == (200, "ok")

    def tracker(self, app_id: str = "micro-test", **options: Any) -> Tracker:
        """Our tracker, sending each event at once (batch_size 1) to this environment."""
        emitter = Emitter(self.url, batch_size=1)
        self._emitters.append(emitter)
        return Tracker(
            emitter,
            api_key=self.key,
            datacoral_env=self.environment,
            namespace="micro",
            app_id=app_id,
            **options,
        )

    def close(self) -> None:
        for emitter in self._emitters:
            emitter.close(timeout=5)


@dataclass
class MicroServer:
    """The running server and its database."""

    server: RunningServer
    db: Target
    secrets: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    @contextmanager
    def reader(self) -> Iterator[Reader]:
        """A fresh environment with a key and an admin token, for one test."""
        environment = "t" + uuid.uuid4().hex[:12]
        storage = open_storage(self.db)
        try:
            storage.create_environment(environment)
            key = storage.create_key(environment)[1]
            info, token = storage.create_admin_token(environment, label="micro tests")
        finally:
            storage.close()
        self.secrets += [key, token]
        with requests.Session() as session:
            reader = Reader(self.url, environment, key, token, info.token_id, session)
            try:
                yield reader
            finally:
                reader.close()

    def revoke(self, token_id: str) -> None:
        storage = open_storage(self.db)
        try:
            storage.revoke_admin_token(token_id)
        finally:
            storage.close()


@contextmanager
def micro_server(targets: Targets, **settings: Any) -> Iterator[MicroServer]:
    """``datacoral serve`` with the inspection API on, over a new store; no token or key
    may appear in its log."""
    db = targets.new("micro")
    with running_server(db, inspect=True, **settings) as server:
        running = MicroServer(server, db)
        yield running
    log = server.log()
    assert not [secret for secret in running.secrets if secret in log], "a secret was logged"
