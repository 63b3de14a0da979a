"""``--iglu`` values and ``DATACORAL_IGLU`` parsed into resolver configuration."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from datacoral.schemas import (
    IgluServer,
    IgluSettings,
    InvalidIgluSource,
    LocalFolder,
    StaticRepository,
    parse_iglu_source,
    split_iglu_variable,
)
from datacoral.schemas.registries import IgluServerSource, StaticRegistrySource
from datacoral.schemas.sources import EmbeddedSource, LocalFolderSource

NO_ENV: dict[str, str] = {}


def test_a_folder_is_a_local_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "schemas").mkdir()
    assert parse_iglu_source(str(tmp_path), NO_ENV) == LocalFolder(tmp_path.resolve())
    assert parse_iglu_source(f"file://{tmp_path}", NO_ENV) == LocalFolder(tmp_path.resolve())
    monkeypatch.chdir(tmp_path)
    assert parse_iglu_source("schemas", NO_ENV) == LocalFolder(tmp_path.resolve() / "schemas")


def test_an_http_url_is_a_static_repository() -> None:
    assert parse_iglu_source("http://iglucentral.com", NO_ENV) == StaticRepository(
        "http://iglucentral.com"
    )
    assert parse_iglu_source("https://Example.com:8443/iglu/ ", NO_ENV) == StaticRepository(
        "https://example.com:8443/iglu"
    )
    assert parse_iglu_source("http://[::1]:9000/", NO_ENV) == StaticRepository("http://[::1]:9000")


def test_an_iglu_server_takes_its_key_from_the_url_else_the_environment() -> None:
    env = {"DATACORAL_IGLU_APIKEY": "key-from-env"}
    with_key = parse_iglu_source("iglu-server+https://key-in-url@iglu.acme.com/", env)
    assert with_key == IgluServer("https://iglu.acme.com", "key-in-url")
    assert parse_iglu_source("iglu-server+https://iglu.acme.com", env) == IgluServer(
        "https://iglu.acme.com", "key-from-env"
    )
    assert parse_iglu_source("iglu-server+http://127.0.0.1:8081", NO_ENV) == IgluServer(
        "http://127.0.0.1:8081", None
    )
    assert "key-in-url" not in repr(with_key)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("", "empty value"),
        ("/no/such/folder/anywhere", "no such folder"),
        ("ftp://iglu.acme.com", "not http(s)"),
        ("iglu-server+ftp://iglu.acme.com", "not http(s)"),
        ("https://user:secret@iglu.acme.com", "takes no key"),
        ("https://iglu.acme.com/?x=1", "takes no ?query"),
        ("https://iglu.acme.com:http/", "port is not a number"),
        ("https:///path", "no host"),
    ],
)
def test_values_that_name_no_source_are_refused_clearly(value: str, says: str) -> None:
    with pytest.raises(InvalidIgluSource) as refused:
        parse_iglu_source(value, NO_ENV)
    assert says in str(refused.value)
    assert "secret" not in str(refused.value)


def test_the_variable_splits_on_commas_and_white_space() -> None:
    text = " https://a.example.com, https://b.example.com\n/srv/schemas ,,"
    assert split_iglu_variable(text) == [
        "https://a.example.com",
        "https://b.example.com",
        "/srv/schemas",
    ]
    assert split_iglu_variable("") == []


def test_flags_replace_the_variable_and_keep_their_order(tmp_path: Path) -> None:
    env = {"DATACORAL_IGLU": f"{tmp_path},http://b.example.com"}
    from_env = IgluSettings.from_values([], environ=env)
    assert from_env.sources == (
        LocalFolder(tmp_path.resolve()),
        StaticRepository("http://b.example.com"),
    )
    from_flags = IgluSettings.from_values(["http://c.example.com", str(tmp_path)], environ=env)
    assert from_flags.sources == (
        StaticRepository("http://c.example.com"),
        LocalFolder(tmp_path.resolve()),
    )
    assert IgluSettings.from_values([], environ={}).sources == ()


def test_settings_build_the_sources_embedded_first(tmp_path: Path) -> None:
    settings = IgluSettings(
        sources=(
            StaticRepository("http://a.example.com"),
            LocalFolder(tmp_path),
            IgluServer("http://b.example.com", "k"),
        ),
        timeout=1.5,
    )
    sources = settings.build_sources()
    assert [type(s) for s in sources] == [
        EmbeddedSource,
        StaticRegistrySource,
        LocalFolderSource,
        IgluServerSource,
    ]
    assert [s.name for s in sources] == [
        "embedded",
        "static http://a.example.com",
        f"folder {tmp_path}",
        "iglu-server http://b.example.com",
    ]
    assert sources[1]._session is sources[3]._session  # one connection pool
    assert "'k'" not in repr(sources[3])
    resolver = dataclasses.replace(settings, ttl=60, failure_ttl=2).build_resolver()
    assert (resolver.ttl, resolver.failure_ttl, len(resolver.sources)) == (60, 2, 4)


def test_impossible_timings_are_refused() -> None:
    with pytest.raises(InvalidIgluSource):
        IgluSettings(ttl=-1)
    with pytest.raises(InvalidIgluSource):
        IgluSettings(timeout=0)
