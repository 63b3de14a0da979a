"""RedisEmitter and RedisWorker against the real Redis on this machine."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator

import pytest

from snowplow_tracker import Emitter, Tracker
from tests.support.recorder import Answer, Recorder
from tests.support.services import port_open, require
from tests.support.subprocesses import ROOT

redis = pytest.importorskip("redis")


@pytest.fixture
def rdb() -> Iterator[object]:
    require(port_open("127.0.0.1", 6379), "Redis is not running on 127.0.0.1:6379")
    client = redis.Redis(host="127.0.0.1", port=6379)
    yield client
    client.close()


@pytest.fixture
def key(rdb: object) -> Iterator[str]:
    name = f"test-snowplow-{uuid.uuid4().hex}"
    yield name
    for k in rdb.keys(f"{name}*"):  # type: ignore[attr-defined]
        rdb.delete(k)  # type: ignore[attr-defined]


def test_emitter_pushes_and_worker_delivers(recorder: Recorder, rdb: object, key: str) -> None:
    from snowplow_tracker import RedisEmitter, RedisWorker

    tracker = Tracker("ns", RedisEmitter(rdb, key), app_id="redis")  # type: ignore[arg-type]
    for i in range(120):
        tracker.track_struct_event("redis", "push", str(i))
    assert rdb.llen(key) == 120  # type: ignore[attr-defined]
    worker = RedisWorker(Emitter(recorder.url, batch_size=25), rdb, key, name="w1")  # type: ignore[arg-type]
    while worker.run_once().value == "sent":
        pass
    events = recorder.events()
    assert sorted(int(e["se_la"]) for e in events) == list(range(120))
    assert rdb.llen(key) == 0 and rdb.llen(f"{key}:processing:w1") == 0  # type: ignore[attr-defined]


def test_redis_down_is_reported_not_raised() -> None:
    from snowplow_tracker import RedisEmitter

    drops: list[str] = []
    client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    emitter = RedisEmitter(client, "k", on_drop=lambda reason, events: drops.append(reason))
    assert emitter.input({"e": "pv"}) is False
    assert drops == ["redis_unavailable"]


def test_worker_killed_mid_batch_loses_nothing(recorder: Recorder, rdb: object, key: str) -> None:
    from snowplow_tracker import RedisEmitter, RedisWorker

    tracker = Tracker("ns", RedisEmitter(rdb, key))  # type: ignore[arg-type]
    for i in range(200):
        tracker.track_struct_event("redis", "kill", str(i))
    recorder.answer_next(Answer(200, delay=30))  # the first batch hangs until the kill
    code = f"""
        import redis
        from snowplow_tracker import Emitter, RedisWorker
        worker = RedisWorker(Emitter({recorder.url!r}, batch_size=50), redis.Redis(), {key!r},
                             name="w-kill")
        worker.run()
    """
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT)
    try:
        recorder.wait_for(1, timeout=20)
        assert rdb.llen(f"{key}:processing:w-kill") > 0  # type: ignore[attr-defined]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    worker = RedisWorker(Emitter(recorder.url, batch_size=50), rdb, key, name="w-kill")  # type: ignore[arg-type]
    assert worker.store.recover() > 0
    while worker.run_once().value == "sent":
        pass
    delivered = {e["se_la"] for r in recorder.requests[1:] for e in r.events()}
    assert delivered == {str(i) for i in range(200)}


def test_a_lone_surrogate_is_pushed_and_delivered(
    recorder: Recorder, rdb: object, key: str
) -> None:
    from snowplow_tracker import RedisEmitter, RedisWorker

    drops: list[str] = []
    tracker = Tracker("ns", RedisEmitter(rdb, key, on_drop=lambda why, events: drops.append(why)))  # type: ignore[arg-type]
    tracker.track_struct_event("cat\ud83d", "act")  # a cut emoji: must not be dropped
    assert drops == []
    worker = RedisWorker(Emitter(recorder.url, batch_size=10), rdb, key, name="w1")  # type: ignore[arg-type]
    worker.run_once()
    assert [e["se_ca"] for e in recorder.wait_for_events(1)] == ["cat\ud83d"]
