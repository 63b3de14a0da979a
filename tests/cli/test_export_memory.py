"""``events export`` streams: its peak memory does not grow with the number of events.

A SQLite file gets :data:`EVENTS` events of some four kilobytes each, committed straight
through the storage API (not over HTTP, which would take minutes). Each format is
exported twice in a child process, the first eighth of the events and then all of
them, and the child's peak RSS (``wait4``) is compared: eight times the rows must not
take noticeably more memory, and neither export may take more than a fraction of
what the store holds.

One million events (4 GB of store) take minutes here, so the suite runs it on 100,000
(about half a minute) and ``DATACORAL_EXPORT_RSS_EVENTS=1000000`` runs the million
(README, "Export", gives that run's figures). The proof holds at both sizes: the first
eighth is already larger than a Parquet row group, the largest thing an export holds.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from datacoral.storage.base import GoodEvent
from datacoral.storage.sqlite import SQLiteStorage
from tests.storage.factories import good_event

EVENTS = int(os.environ.get("DATACORAL_EXPORT_RSS_EVENTS") or 100_000)
BASE = 1_700_000_000_000
MIB = 1024 * 1024
#: How much more the whole export may take than its first eighth: a few pages of
#: slack, against hundreds of megabytes more data.
GROWTH_LIMIT = 24 * MIB
COMMIT_EVENTS = 20_000

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A SQLite store holding :data:`EVENTS` events in ``dev``, one a millisecond."""
    path = tmp_path_factory.mktemp("export-memory") / "events.sqlite"
    store = SQLiteStorage(path, synchronous="NORMAL")
    store.open()
    try:
        template = good_event(
            "dev",
            page_url="https://shop.example/products/mug?ref=newsletter",
            page_title="A mug for every morning " * 170,  # four kilobytes a row
            contexts='[{"schema":"iglu:com.acme/user/jsonschema/1-0-0","data":{"id":7}}]',
            domain_sessionidx=1,
            extra={"tz": "Europe/Paris"},
        )
        for start in range(0, EVENTS, COMMIT_EVENTS):
            chunk = [_nth(template, n) for n in range(start, min(EVENTS, start + COMMIT_EVENTS))]
            asyncio.run(store.commit(chunk, []))
    finally:
        store.close()
    yield path
    for written in path.parent.iterdir():  # gigabytes at full size: not left for later runs
        written.unlink()


def _nth(template: GoodEvent, n: int) -> GoodEvent:
    event = copy.copy(template)  # far quicker than building each of the 50 fields anew
    event.event_id = f"00000000-0000-4000-8000-{n:012x}"
    event.collector_tstamp = event.derived_tstamp = BASE + n
    return event


#: Runs argv[1:] and prints its peak RSS in KiB. The export must not be forked from
#: pytest itself: Linux keeps a process's peak from before its exec, and a child of
#: pytest starts with pytest's memory (the events generated above) mapped.
_MEASURE = """
import os, sys
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ)
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _peak_rss(store_path: Path, file_format: str, *until: str) -> int:
    """The peak resident memory, in bytes, of one export in a process of its own."""
    command = [sys.executable, "-c", _MEASURE, sys.executable, "-m", "datacoral", "events"]
    command += ["export", "--env", "dev", "--format", file_format, "-o", os.devnull]
    command += ["--db", str(store_path), *until]
    measured = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert measured.returncode == 0, measured.stderr
    return int(measured.stdout) * 1024  # ru_maxrss is in KiB on Linux


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB: Linux")
@pytest.mark.parametrize("file_format", ["ndjson", "csv", "parquet"])
def test_peak_memory_does_not_grow_with_the_events(store_path: Path, file_format: str) -> None:
    stored = sum(p.stat().st_size for p in store_path.parent.glob("events.sqlite*"))
    boundary = datetime.datetime.fromtimestamp((BASE + EVENTS // 8) / 1000, datetime.timezone.utc)
    eighth = _peak_rss(store_path, file_format, f"--until={boundary.isoformat()}")
    whole = _peak_rss(store_path, file_format, "--until=now")

    assert whole - eighth < GROWTH_LIMIT, (eighth // MIB, whole // MIB)
    assert whole < stored / 2, (whole // MIB, stored // MIB)
