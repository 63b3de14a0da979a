"""Each source's three answers (Found, Missing, Failed) against real files and real HTTP:
the embedded set, local folders, a static registry and a fake Iglu Server."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest

from datacoral.schemas.registries import IgluServerSource, StaticRegistrySource
from datacoral.schemas.sources import (
    MAX_SCHEMA_BYTES,
    EmbeddedSource,
    Failed,
    Found,
    LocalFolderSource,
    Missing,
)
from datacoral.schemas.uri import SchemaKey, parse_schema_uri
from tests.schemas.registries import IGLU_CENTRAL, iglu_server, scripted_registry

LINK_CLICK = parse_schema_uri("iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1")
UNKNOWN = parse_schema_uri("iglu:com.acme/unknown/jsonschema/1-0-0")
EMBEDDED = [
    *(f"iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-{i}" for i in range(5)),
    "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0",
    "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1",
    "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
    "iglu:com.snowplowanalytics.self-desc/schema/jsonschema/1-0-0",
    "iglu:com.snowplowanalytics.self-desc/instance/jsonschema/1-0-0",
    "iglu:com.snowplowanalytics.self-desc/instance-iglu-only/jsonschema/1-0-0",
]


def _schema(key: SchemaKey) -> dict[str, object]:
    return json.loads((IGLU_CENTRAL / "schemas" / key.path).read_text())


@pytest.mark.parametrize("uri", EMBEDDED)
def test_the_embedded_set_holds_the_protocol_schemas_as_iglu_central_has_them(
    uri: str, iglu_central_folder: str
) -> None:
    key = parse_schema_uri(uri)
    found = EmbeddedSource().fetch(key)
    assert found == Found(_schema(key))


def test_the_embedded_set_misses_everything_else() -> None:
    assert EmbeddedSource().fetch(LINK_CLICK) == Missing(
        "embedded: no com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1"
    )


def test_a_local_folder_holding_schemas_or_being_it(
    tmp_path: Path, iglu_central_folder: str
) -> None:
    target = tmp_path / "repo" / "schemas" / LINK_CLICK.path
    target.parent.mkdir(parents=True)
    shutil.copy(IGLU_CENTRAL / "schemas" / LINK_CLICK.path, target)
    for root in (tmp_path / "repo", tmp_path / "repo" / "schemas"):
        source = LocalFolderSource(root)
        assert source.fetch(LINK_CLICK) == Found(_schema(LINK_CLICK))
        assert isinstance(source.fetch(UNKNOWN), Missing)


def test_a_local_file_that_is_not_a_schema_is_a_failure_not_a_miss(tmp_path: Path) -> None:
    bad = tmp_path / "schemas" / UNKNOWN.path
    bad.parent.mkdir(parents=True)
    for body, says in [(b"{half", "not JSON"), (b"[1, 2]", "not a JSON object")]:
        bad.write_bytes(body)
        assert LocalFolderSource(tmp_path).fetch(UNKNOWN) == Failed(
            f"folder {tmp_path}: {UNKNOWN.path}: {says}"
        )
    bad.write_bytes(b" " * (MAX_SCHEMA_BYTES + 1))
    lookup = LocalFolderSource(tmp_path).fetch(UNKNOWN)
    assert isinstance(lookup, Failed) and "larger than" in lookup.reason


def test_a_static_registry_over_http(iglu_central) -> None:
    source = StaticRegistrySource(iglu_central.url + "/")
    assert source.fetch(LINK_CLICK) == Found(_schema(LINK_CLICK))
    assert f"/schemas/{LINK_CLICK.path}" in iglu_central.requests
    assert source.fetch(UNKNOWN) == Missing(f"static {iglu_central.url}: {UNKNOWN.path}: HTTP 404")


@pytest.mark.parametrize(
    ("status", "body", "answer"),
    [
        (403, b"<Error>AccessDenied</Error>", Missing),  # S3's answer for an absent key
        (410, b"", Missing),
        (500, b"oops", Failed),
        (503, b"", Failed),
        (429, b"", Failed),
        (200, b"<html>captive portal</html>", Failed),
        (200, b"[]", Failed),
        (200, b"{" * 100_000, Failed),  # nested past the parser's depth
        (200, b" " * (MAX_SCHEMA_BYTES + 10), Failed),
    ],
)
def test_a_static_registry_s_other_answers(status: int, body: bytes, answer: type) -> None:
    with scripted_registry() as registry:
        registry.script[f"/schemas/{UNKNOWN.path}"] = (status, body, 0.0)
        lookup = StaticRegistrySource(registry.url).fetch(UNKNOWN)
    assert isinstance(lookup, answer), lookup
    assert len(lookup.reason) < 200


def test_a_registry_that_does_not_answer_in_time_or_at_all_is_a_failure() -> None:
    with scripted_registry() as registry:
        registry.script[f"/schemas/{UNKNOWN.path}"] = (200, b"{}", 2.0)
        slow = StaticRegistrySource(registry.url, timeout=0.3).fetch(UNKNOWN)
    assert isinstance(slow, Failed) and "Timeout" in slow.reason
    with socket.socket() as closed:  # a port that nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    refused = StaticRegistrySource(f"http://127.0.0.1:{port}", timeout=1).fetch(UNKNOWN)
    assert refused == Failed(f"static http://127.0.0.1:{port}: {UNKNOWN.path}: ConnectionError")


def test_iglu_server_sends_the_apikey_header_and_finds_the_schema(iglu_central_folder) -> None:
    with iglu_server("0b6ff2d8-1f3b-4a5c-9d8e-2f0a1b2c3d4e") as server:
        source = IgluServerSource(server.url, "0b6ff2d8-1f3b-4a5c-9d8e-2f0a1b2c3d4e")
        assert source.fetch(LINK_CLICK) == Found(_schema(LINK_CLICK))
        assert server.requests == [f"/api/schemas/{LINK_CLICK.path}"]
        assert server.headers_seen[0]["apikey"] == "0b6ff2d8-1f3b-4a5c-9d8e-2f0a1b2c3d4e"
        assert source.fetch(UNKNOWN) == Missing(
            f"iglu-server {server.url}: {UNKNOWN.path}: HTTP 404"
        )


def test_an_iglu_server_url_written_with_api_means_the_same_server(iglu_central_folder) -> None:
    with iglu_server("k") as server:
        for base in (server.url, server.url + "/", server.url + "/api", server.url + "/api/"):
            assert IgluServerSource(base, "k").fetch(LINK_CLICK) == Found(_schema(LINK_CLICK))
        assert set(server.requests) == {f"/api/schemas/{LINK_CLICK.path}"}


def test_iglu_server_refusing_the_key_is_a_failure_that_never_shows_the_key(
    iglu_central_folder,
) -> None:
    with iglu_server("the-right-key") as server:
        for source in (IgluServerSource(server.url, "a-wrong-key"), IgluServerSource(server.url)):
            lookup = source.fetch(LINK_CLICK)
            assert isinstance(lookup, Failed)
            assert "HTTP 401: the apikey is missing or refused" in lookup.reason
            assert "key" not in repr(source).replace("apikey", "")
        assert "apikey" not in server.headers_seen[1]  # no key configured: no header
        assert "a-wrong-key" not in lookup.reason


def test_iglu_server_redirects_are_not_followed_so_the_key_stays_home(iglu_central_folder) -> None:
    with iglu_server("k") as server:
        source = IgluServerSource(server.url + "/redirect", "k")
        lookup = source.fetch(LINK_CLICK)
        assert isinstance(lookup, Failed) and "HTTP 302" in lookup.reason
        assert server.requests == [f"/redirect/api/schemas/{LINK_CLICK.path}"]
