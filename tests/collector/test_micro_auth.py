"""Who may read through the inspection API: admin tokens of the environment, nobody else.

No token, an API key (as ``X-Api-Key`` or as a bearer token), an unknown or revoked
token: 401 with the reason and ``WWW-Authenticate``. A revoked token is refused
within a second. A token reads its own environment only.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from datacoral.cli.app import cli
from datacoral.config import Settings
from tests.collector.builders import event
from tests.collector.micro_support import MicroServer, Reader, micro_server
from tests.support.backends import Targets

CHALLENGE = 'Bearer realm="datacoral"'


@pytest.fixture(scope="module")
def micro(module_targets: Targets) -> Iterator[MicroServer]:
    with micro_server(module_targets) as server:
        yield server


@pytest.fixture
def reader(micro: MicroServer) -> Iterator[Reader]:
    with micro.reader() as fresh:
        yield fresh


def _refused(
    reader: Reader, reason: str, *, token: str | None, headers: dict[str, str] | None = None
) -> None:
    for path in ("all", "good", "bad", "reset", "iglu/com.acme/x/jsonschema/1-0-0"):
        answer = reader.micro("GET", path, token=token, extra_headers=headers)
        assert (answer.status_code, answer.text) == (401, f"401 {reason}\n"), path
        assert answer.headers["WWW-Authenticate"] == CHALLENGE


def test_no_token_no_events(reader: Reader) -> None:
    reader.send(event())
    _refused(
        reader,
        "missing admin token: send Authorization: Bearer <token> (`datacoral token create`)",
        token=None,
    )
    _refused(reader, "unknown admin token", token="dcat_" + uuid.uuid4().hex)
    malformed = "Authorization must be: Bearer <admin token>"
    _refused(reader, malformed, token=None, headers={"Authorization": "Bearer"})
    _refused(reader, malformed, token=None, headers={"Authorization": "Basic eDp5"})
    assert reader.counts()["good"] == 1  # refusals reset nothing


def test_an_api_key_never_reads_events(reader: Reader) -> None:
    reason = (
        "an API key cannot read events (API keys write them): send an admin token as"
        " Authorization: Bearer <token> (`datacoral token create`)"
    )
    _refused(reader, reason, token=None, headers={"X-Api-Key": reader.key})
    _refused(reader, reason, token=reader.key)


def test_a_token_reads_its_own_environment_only(micro: MicroServer) -> None:
    with micro.reader() as first, micro.reader() as second:
        mine, theirs = str(uuid.uuid4()), str(uuid.uuid4())
        first.send(event(eid=mine))
        second.send(event(eid=theirs), event(eid="bad"))
        assert [e["event"]["event_id"] for e in first.good()] == [mine]
        assert first.good({"event_id": theirs}) == []
        assert first.counts() == {"total": 1, "good": 1, "bad": 0}
        assert first.micro("GET", "bad").json() == []
        assert second.counts() == {"total": 2, "good": 1, "bad": 1}


def test_a_revoked_token_is_refused_within_a_second(micro: MicroServer) -> None:
    with micro.reader() as reader:
        assert reader.micro("GET", "all").status_code == 200  # now in the server's cache
        micro.revoke(reader.token_id)
        revoked = time.monotonic()
        deadline = revoked + 1.0
        while True:
            answer = reader.micro("GET", "all")
            if answer.status_code == 401 or time.monotonic() > deadline:
                break
        assert (answer.status_code, answer.text) == (401, "401 revoked admin token\n")
        assert time.monotonic() - revoked <= 1.0


def test_inspect_cannot_be_used_with_a_stream() -> None:
    with pytest.raises(ValueError, match=r"^inspect cannot be used with stream: "):
        Settings(db="postgresql://localhost/x", stream=("nats://127.0.0.1:4222",), inspect=True)
    assert Settings.from_env({"DATACORAL_INSPECT": "1"}).inspect is True
    assert Settings.from_env({}).inspect is False
    refused = CliRunner(env={"DATACORAL_DB": None, "DATACORAL_INSPECT": None}).invoke(
        cli,
        ["serve", "--inspect", "--stream", "nats://127.0.0.1:4222", "--db", "postgresql://h/x"],
    )
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: --inspect cannot be used with stream: ")
