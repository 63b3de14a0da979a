"""The front door: bounded request heads and deadlines, seen from raw sockets.

One server for the module, with 1-second timeouts so that the slow clients are
quick to test; every test talks to it the way a misbehaving client would.
"""

from __future__ import annotations

import contextlib
import socket
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from datacoral.collector.front_door import LINGER_SECONDS
from datacoral.storage import open_storage
from datacoral.storage.base import AdminStorage
from datacoral.storage.target import Target
from tests.collector.conftest import assert_no_keys_in, create_keys
from tests.collector.raw_http import (
    connect,
    header,
    pixel_head,
    read_answer,
    read_one_answer,
    send_in_background,
    status,
    wait_for_log,
)
from tests.support.backends import Targets
from tests.support.server import RunningServer, running_server

TIMEOUT = 1.0  # header, body and keep-alive timeouts of the server under test
#: How late a deadline may act: the sweeper's tick, and a loaded machine.
SLACK = 1.5
#: A refused connection is closed by then at the latest.
CLOSED_WITHIN = TIMEOUT + LINGER_SECONDS + SLACK
HEAD_LIMIT = 64 * 1024  # the default max_header_bytes
LINE_LIMIT = 8 * 1024  # the default max_request_line_bytes


class Door:
    def __init__(self, server: RunningServer, db: Target, key: str) -> None:
        self.server = server
        self.db = db
        self.key = key

    def storage(self) -> AdminStorage:
        return open_storage(self.db)

    def pixel(self, *extra: str) -> bytes:
        return pixel_head(self.key, *extra) + b"\r\n"


@pytest.fixture(scope="module")
def door(module_targets: Targets) -> Iterator[Door]:
    db = module_targets.new("front-door")
    keys = create_keys(db)
    with running_server(
        db,
        header_timeout_seconds=TIMEOUT,
        body_timeout_seconds=TIMEOUT,
        keep_alive_timeout_seconds=TIMEOUT,
    ) as server:
        yield Door(server, db, keys["dev"])
    assert_no_keys_in(server.log(), keys)
    assert "Traceback" not in server.log()


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    with Path(f"/proc/{pid}/status").open() as status_file:
        for line in status_file:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for process {pid}")


def timed_pixel(door: Door) -> float:
    """Seconds for one valid GET /i on a fresh connection, answered 200."""
    started = time.monotonic()
    with connect(door.server) as sock:
        sock.sendall(door.pixel())
        answer = read_one_answer(sock, 10)
    elapsed = time.monotonic() - started
    assert status(answer) == 200, answer
    return elapsed


# Sizes: 431 and 414


def test_a_valid_pixel_request_with_one_huge_header_gets_431_and_is_closed(door: Door) -> None:
    sock = connect(door.server)
    with sock:
        huge = [pixel_head(door.key) + b"X-Big: ", *[b"a" * (1 << 20)] * 10, b"\r\n\r\n"]
        sender = send_in_background(sock, lambda: huge.pop(0) if huge else None)
        answer, closed = read_answer(sock, CLOSED_WITHIN)
        sender.join(10)
    assert status(answer) == 431, answer
    assert header(answer, b"connection") == b"close"
    assert answer.endswith(b"\r\n\r\n431 request head too large\n")
    assert closed, "the connection stayed open after 431"
    wait_for_log(door.server, "answered 431")


def test_many_header_lines_beyond_the_total_get_431(door: Door) -> None:
    line = "X-Line: " + "b" * 1000  # about 1 KB a line, like the report's 1 KB lines
    with connect(door.server) as sock:
        # Sent at once: the head is complete in one read and is judged header by header.
        sock.sendall(pixel_head(door.key, *[line] * 70) + b"\r\n")
        answer, closed = read_answer(sock, CLOSED_WITHIN)
    assert status(answer) == 431, answer
    assert closed


def test_header_lines_that_never_end_get_431_without_reading_them_all(door: Door) -> None:
    line = b"X-Line: " + b"b" * 1000 + b"\r\n"
    sent = [0]

    def next_lines() -> bytes | None:
        if sent[0] >= 100_000:  # 100 MB if nobody stops it
            return None
        sent[0] += 64
        return line * 64

    with connect(door.server) as sock:
        sock.sendall(pixel_head(door.key))
        sender = send_in_background(sock, next_lines)
        answer, closed = read_answer(sock, CLOSED_WITHIN)
        sender.join(30)
    assert status(answer) == 431, answer
    assert closed
    assert sent[0] < 100_000, "the server read 100 MB of header lines"


def test_a_head_just_under_the_limits_is_served(door: Door) -> None:
    lines = ["X-Line: " + "b" * 1000] * 55  # about 56 KB of 64 KiB
    with connect(door.server) as sock:
        sock.sendall(pixel_head(door.key, *lines) + b"\r\n")
        assert status(read_one_answer(sock, 10)) == 200
        long_url = b"/health?pad=" + b"u" * (LINE_LIMIT - 100)
        sock.sendall(b"GET " + long_url + b" HTTP/1.1\r\nHost: test\r\n\r\n")
        assert status(read_one_answer(sock, 10)) == 200


def test_a_long_url_gets_414(door: Door) -> None:
    with connect(door.server) as sock:
        path = f"/i?e=pv&p=pc&tv=py-1.0.0&eid={uuid.uuid4()}&pad=" + "u" * LINE_LIMIT
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\nX-Api-Key: {door.key}\r\n\r\n".encode())
        answer, closed = read_answer(sock, CLOSED_WITHIN)
    assert status(answer) == 414, answer
    assert closed
    wait_for_log(door.server, "answered 414")


def test_unfinished_huge_heads_do_not_grow_the_server(door: Door) -> None:
    pid = door.server.process.pid
    timed_pixel(door)  # everything a request needs is loaded
    before = rss_kib(pid)
    chunk = b"m" * (1 << 20)
    streams = []
    for _ in range(8):  # 8 concurrent heads of 64 MiB that never end
        sock = connect(door.server)
        sock.sendall(b"GET /i HTTP/1.1\r\nHost: test\r\nX-Big: ")
        left = [64]

        def more(left: list[int] = left) -> bytes | None:
            left[0] -= 1
            return chunk if left[0] >= 0 else None

        streams.append((sock, send_in_background(sock, more)))
    peak = before
    for sock, sender in streams:
        answer, closed = read_answer(sock, CLOSED_WITHIN + 5)
        assert status(answer) == 431 and closed, answer
        peak = max(peak, rss_kib(pid))
        sender.join(30)
        sock.close()
    grown_mib = (max(peak, rss_kib(pid), rss_kib(pid, "VmHWM")) - before) / 1024
    assert grown_mib < 16, f"the server grew by {grown_mib:.0f} MiB"


# Deadlines: 408 and closing


def test_a_header_trickle_gets_408_after_the_header_timeout(door: Door) -> None:
    head = door.pixel(*["X-Slow: " + "z" * 100] * 10)
    with connect(door.server) as sock:
        started = time.monotonic()
        give_up = started + TIMEOUT + SLACK
        answer = b""
        for byte in head:  # a byte every 0.1 s: always busy, never done
            if answer or time.monotonic() > give_up:
                break
            try:
                sock.send(bytes([byte]))
            except OSError:
                break
            sock.settimeout(0.1)
            try:
                answer += sock.recv(4096)
            except TimeoutError:
                continue
        answered_after = time.monotonic() - started
        rest, closed = read_answer(sock, LINGER_SECONDS + SLACK)
    assert status(answer + rest) == 408, answer + rest
    assert TIMEOUT - 0.1 <= answered_after <= TIMEOUT + SLACK
    assert closed


def assert_closed_when_idle(sock: socket.socket) -> None:
    """The client sends nothing more: the server closes, silently, after the timeout."""
    started = time.monotonic()
    answer, closed = read_answer(sock, TIMEOUT + SLACK)
    elapsed = time.monotonic() - started
    assert (answer, closed) == (b"", True)
    assert elapsed >= TIMEOUT - 0.1


def test_an_idle_connection_without_a_request_is_closed(door: Door) -> None:
    with connect(door.server) as sock:
        assert_closed_when_idle(sock)


def test_an_idle_keep_alive_connection_is_closed(door: Door) -> None:
    with connect(door.server) as sock:
        sock.sendall(door.pixel())
        assert status(read_one_answer(sock, 10)) == 200
        assert_closed_when_idle(sock)


def test_a_body_that_stalls_gets_408(door: Door) -> None:
    body = b'{"schema": "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"'
    with connect(door.server) as sock:
        sock.sendall(
            b"POST /com.snowplowanalytics.snowplow/tp2 HTTP/1.1\r\nHost: test\r\n"
            + f"X-Api-Key: {door.key}\r\nContent-Type: application/json\r\n".encode()
            + b"Content-Length: 4000\r\n\r\n"
            + body
        )
        started = time.monotonic()
        answer, closed = read_answer(sock, CLOSED_WITHIN)
        answered_after = time.monotonic() - started
    assert status(answer) == 408, answer
    assert answer.endswith(b"408 request body not received in time\n")
    assert closed
    assert answered_after >= TIMEOUT - 0.1
    wait_for_log(door.server, "whose body took longer")


def test_a_body_sent_in_pieces_within_the_timeout_is_stored(door: Door) -> None:
    eid = str(uuid.uuid4())
    body = (
        b'{"schema": "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4",'
        + b' "data": [{"e": "pv", "p": "pc", "tv": "py-1.0.0", "eid": "%s"}]}' % eid.encode()
    )
    with connect(door.server) as sock:
        sock.sendall(
            b"POST /com.snowplowanalytics.snowplow/tp2 HTTP/1.1\r\nHost: test\r\n"
            + f"X-Api-Key: {door.key}\r\nContent-Type: application/json\r\n".encode()
            + b"Content-Length: %d\r\n\r\n" % len(body)
        )
        pieces = [body[start : start + 40] for start in range(0, len(body), 40)]
        for piece in pieces[:-1]:
            sock.sendall(piece)
            sock.settimeout(0.1)  # a pause between pieces; the server must not answer yet
            with pytest.raises(TimeoutError):
                sock.recv(1)
        sock.sendall(pieces[-1])
        assert status(read_one_answer(sock, 10)) == 200
    storage = door.storage()
    try:
        assert len(storage.find_events(eid)) == 1
    finally:
        storage.close()


def test_pipelined_requests_are_all_answered(door: Door) -> None:
    with connect(door.server) as sock:
        sock.sendall(door.pixel() + door.pixel() + door.pixel())
        answers = [read_one_answer(sock, 10)]
        data = answers[0]
        while data.count(b"HTTP/1.1 ") < 3:
            data += sock.recv(65536)
    assert data.count(b"HTTP/1.1 200 OK") == 3, data


def test_a_pipelined_request_too_large_ends_the_connection_after_the_earlier_answer(
    door: Door,
) -> None:
    too_large = pixel_head(door.key, "X-Big: " + "a" * HEAD_LIMIT) + b"\r\n"
    with connect(door.server) as sock:
        sock.sendall(door.pixel() + too_large)
        answers, closed = read_answer(sock, CLOSED_WITHIN)
    assert status(answers) == 200, answers
    assert header(answers, b"connection") == b"close"
    assert answers.count(b"HTTP/1.1 ") == 1
    assert closed


# Everyone else


def test_normal_requests_are_served_quickly_while_slow_clients_hold_connections(
    door: Door,
) -> None:
    slow: list[socket.socket] = []
    stop = threading.Event()
    try:
        for index in range(30):
            sock = connect(door.server)
            kind = index % 3
            if kind == 0:  # a head that trickles
                sock.sendall(b"GET /i HTTP/1.1\r\nHost: test\r\nX-Slow: ")
            elif kind == 1:  # a body that stalls
                sock.sendall(b"POST /tp2 HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n\r\n{")
            slow.append(sock)  # kind 2: idle

        def trickle() -> None:
            while not stop.wait(0.05):
                for sock in slow[::3]:
                    with contextlib.suppress(OSError):
                        sock.send(b"z")

        trickler = threading.Thread(target=trickle, daemon=True)
        trickler.start()
        times = [timed_pixel(door) for _ in range(10)]
    finally:
        stop.set()
        for sock in slow:
            sock.close()
    assert statistics.median(times) < 0.1, f"answer times: {times}"


def test_garbage_requests_do_not_flood_the_log(tmp_path: Path) -> None:
    with running_server(tmp_path / "noise.sqlite") as server:
        for _ in range(200):
            with connect(server) as sock:
                sock.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
                answer, _ = read_answer(sock, timeout=5)
                assert answer.startswith(b"HTTP/1.1 400")
        logged = server.log().count("Invalid HTTP request received.")
    # One line at the start of each second the flood lasted, not one per request.
    assert 1 <= logged <= 10, logged
