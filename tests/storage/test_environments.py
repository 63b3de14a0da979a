"""Environments: creation rules, origins, and deletion that refuses to lose data."""

from __future__ import annotations

import asyncio

import pytest

from datacoral.storage.base import AdminError, EnvironmentRecord
from datacoral.storage.sqlite import SQLiteStorage
from tests.storage.factories import bad_row, good_event


def test_create_with_origins(storage: SQLiteStorage) -> None:
    created = storage.create_environment("qa", ["https://b.example", "https://a.example"])
    assert created == EnvironmentRecord("qa", ("https://a.example", "https://b.example"))
    assert storage.get_environment("qa") == created


def test_create_existing_is_an_admin_error(storage: SQLiteStorage) -> None:
    with pytest.raises(AdminError, match="environment 'dev' already exists"):
        storage.create_environment("dev")


@pytest.mark.parametrize("name", ["", "Prod", "a b", "x" * 33, "é"])
def test_create_with_bad_name_is_a_value_error(storage: SQLiteStorage, name: str) -> None:
    with pytest.raises(ValueError, match="invalid environment name"):
        storage.create_environment(name)


def test_unknown_environment_is_none(storage: SQLiteStorage) -> None:
    assert storage.get_environment("nope") is None


def test_origins_added_and_removed(storage: SQLiteStorage) -> None:
    storage.add_origin("dev", "https://*.example.com")
    assert storage.add_origin("dev", "http://localhost:3000").origins == (
        "http://localhost:3000",
        "https://*.example.com",
    )
    assert storage.remove_origin("dev", "http://localhost:3000").origins == (
        "https://*.example.com",
    )
    with pytest.raises(AdminError, match="does not allow origin"):
        storage.remove_origin("dev", "http://localhost:3000")
    with pytest.raises(AdminError, match="no environment 'nope'"):
        storage.add_origin("nope", "https://a.example")


def test_delete_empty_environment(storage: SQLiteStorage) -> None:
    storage.create_environment("qa", ["https://a.example"])
    storage.delete_environment("qa")
    assert storage.get_environment("qa") is None
    with pytest.raises(AdminError, match="no environment 'qa'"):
        storage.delete_environment("qa")


def test_delete_refuses_while_keys_exist(storage: SQLiteStorage) -> None:
    storage.create_key("stage")
    with pytest.raises(AdminError, match=r"'stage' still has 1 key\(s\) and 0 event\(s\)"):
        storage.delete_environment("stage")
    assert storage.get_environment("stage") is not None


def test_delete_refuses_while_events_exist_unless_forced(storage: SQLiteStorage) -> None:
    storage.create_key("stage")
    asyncio.run(storage.commit([good_event("stage")], [bad_row("stage")]))
    with pytest.raises(AdminError, match=r"1 key\(s\) and 2 event\(s\)"):
        storage.delete_environment("stage")

    storage.delete_environment("stage", force=True)

    assert storage.get_environment("stage") is None
    assert storage.list_keys("stage") == []
    assert [counts.environment for counts in storage.count_events()] == ["dev", "prod"]
