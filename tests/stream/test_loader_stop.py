"""``datacoral load`` stopping while PostgreSQL does not answer: SIGTERM still works.

The loader reaches PostgreSQL through a TCP proxy that goes silent mid-run
(tests/support/tcp_proxy.py, ``hold``): nothing is refused or closed, a commit just
never returns, as behind a network partition. SIGTERM must still end the loader,
with exit 0, ``load_stop_timeout_seconds`` plus its bounded closing steps later,
and the batch it held must end up in PostgreSQL exactly once, loaded by the next
loader: written by it when the commit never reached PostgreSQL, skipped by it when
PostgreSQL committed and only the answer was lost.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from datacoral.loader.loader import EXIT_MARGIN
from tests.collector.test_postgres_unavailable import via_port
from tests.stream.conftest import Store
from tests.stream.test_loader import DEADLINE, backlog, loaded_messages
from tests.support.nats_servers import JetStream
from tests.support.stream import load_once, publish, running_loader
from tests.support.tcp_proxy import TCPProxy

STOP_TIMEOUT = 2.0
#: Closing the stream's connection and PostgreSQL's after the stop timeout: each is
#: given 4 s, and PostgreSQL's close waits behind the commit that never returns.
CLOSING = 8.0
REDELIVERED = re.compile(r"(\d+) redelivered and already loaded")


def until(condition: Callable[[], bool], what: Callable[[], str]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, what()
        time.sleep(0.05)


@pytest.mark.parametrize("lost", ["request", "answer"])
def test_sigterm_stops_a_loader_whose_database_went_silent_and_its_batch_loads_once(
    store: Store, jetstream: JetStream, lost: str
) -> None:
    requests, expected = backlog(60)
    proxy = TCPProxy(urlsplit(store.url.url).port or 5432)
    through = via_port(store.url, proxy.port)
    try:
        publish(jetstream.urls, requests[:10])
        with running_loader(
            through,
            jetstream.urls,
            load_stop_timeout_seconds=STOP_TIMEOUT,
            load_report_interval_seconds=1,
        ) as loader:
            until(lambda: loaded_messages(store) == 10, lambda: f"nothing loaded:\n{loader.log()}")
            # "request": the next transaction never reaches PostgreSQL. "answer": it
            # commits, and the answer to COMMIT is lost. (The statement ends in a NUL
            # byte on the wire; "READ COMMITTED", which the load also sends, does not.)
            proxy.hold(after=None if lost == "request" else b"COMMIT\x00")
            publish(jetstream.urls, requests[10:])
            assert proxy.stalled.wait(DEADLINE), f"no commit went out:\n{loader.log()}"
            if lost == "answer":
                until(lambda: loaded_messages(store) > 10, lambda: f"no commit:\n{loader.log()}")
            held = loaded_messages(store) - 10
            until(lambda: "has not answered a commit" in loader.log(), loader.log)
            signalled = time.monotonic()
            code = loader.terminate(timeout=STOP_TIMEOUT + EXIT_MARGIN + 5)
            took = time.monotonic() - signalled
        print(f"stopped in {took:.1f} s; {held} messages committed, never acknowledged")
        assert code == 0, loader.log()
        assert STOP_TIMEOUT - 0.5 <= took < STOP_TIMEOUT + CLOSING + 1.5, loader.log()
        assert "without finishing the batch in hand" in loader.log()
        assert (held > 0) == (lost == "answer")

        # The next loader gets the batch after the ack wait (2 s).
        done = load_once(store.url, jetstream.urls)
        assert done.returncode == 0, done.stderr
        print(done.stdout.strip())
        assert store.counts() == expected  # nothing lost, nothing doubled
        found = REDELIVERED.search(done.stdout)
        assert found is not None and int(found[1]) == held, done.stdout
        assert "lag: 0 messages waiting, 0 being loaded" in done.stdout
    finally:
        proxy.cut()
