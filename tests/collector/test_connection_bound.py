"""``max_connections``: past it an idle connection makes room, or the new one gets 503.

And the bound always fits the open-file limit: derived from it when unset,
refused at start when set too high.
"""

from __future__ import annotations

import json
import os
import re
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from datacoral.collector.connection_limits import (
    DEFAULT_MAX_CONNECTIONS,
    RESERVED_FILES,
    SPARE_CONNECTIONS,
    ConnectionLimits,
)
from datacoral.config import Settings
from tests.collector.builders import TP2, envelope, event
from tests.collector.conftest import create_keys
from tests.collector.raw_http import (
    connect,
    header,
    pixel_head,
    read_answer,
    read_one_answer,
    status,
    wait_for_log,
)
from tests.support.server import RunningServer, running_server, serve_command

BOUND = 4
#: Long enough that no connection held by a test times out during it.
PATIENT = {"header_timeout_seconds": 60, "body_timeout_seconds": 60}


def hold_busy(server: RunningServer, key: str) -> tuple[socket.socket, bytes]:
    """A connection in the middle of a request: its head read, its body not yet sent."""
    body = json.dumps(envelope(event())).encode()
    sock = connect(server)
    sock.sendall(
        f"POST {TP2} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"X-Api-Key: {key}\r\nContent-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\n\r\n".encode()
    )
    # "100 Continue" proves the server is reading this request's body.
    assert read_one_answer(sock, 10).startswith(b"HTTP/1.1 100 Continue")
    return sock, body


def hold_idle(server: RunningServer, key: str) -> socket.socket:
    """A keep-alive connection that has been answered once and waits for its next request."""
    sock = connect(server)
    sock.sendall(pixel_head(key) + b"\r\n")
    assert status(read_one_answer(sock, 10)) == 200
    return sock


def pixel_status(server: RunningServer, key: str) -> int:
    with connect(server) as sock:
        sock.sendall(pixel_head(key, "Connection: close") + b"\r\n")
        answer, _ = read_answer(sock, 10)
    return status(answer)


def test_past_the_bound_a_new_connection_gets_503_with_retry_after(db_path: Path) -> None:
    key = create_keys(db_path)["dev"]
    with running_server(db_path, max_connections=BOUND, **PATIENT) as server, ExitStack() as held:
        busy = [hold_busy(server, key) for _ in range(BOUND)]
        for sock, _ in busy:
            held.callback(sock.close)

        with connect(server) as extra:
            extra.sendall(pixel_head(key) + b"\r\n")
            answer, closed = read_answer(extra, 10)
        assert status(answer) == 503, answer
        assert header(answer, b"retry-after") == b"5"
        assert closed
        assert "max_connections is 4" in wait_for_log(server, "answered 503 to 1 new connection")

        # The requests in progress are still served...
        sock, body = busy.pop()
        sock.sendall(body)
        assert status(read_one_answer(sock, 10)) == 200
        sock.close()
        # ...and once one of them is done, a new connection is served again.
        deadline = time.monotonic() + 10
        while pixel_status(server, key) != 200:
            assert time.monotonic() < deadline, "no room after a connection closed"


def test_refusals_are_logged_once_a_second_with_a_count(db_path: Path) -> None:
    key = create_keys(db_path)["dev"]
    with running_server(db_path, max_connections=BOUND, **PATIENT) as server, ExitStack() as held:
        for sock, _ in [hold_busy(server, key) for _ in range(BOUND)]:
            held.callback(sock.close)
        started = time.monotonic()
        for _ in range(20):
            with connect(server) as extra:
                assert status(read_answer(extra, 10)[0]) == 503
        seconds = time.monotonic() - started

        deadline = time.monotonic() + 5
        counts: list[int] = []
        while sum(counts) < 20 and time.monotonic() < deadline:
            time.sleep(0.02)  # polling the log, which the last count reaches within a second
            found = re.findall(r"answered 503 to (\d+) new connection", server.log())
            counts = [int(count) for count in found]
        assert sum(counts) == 20, server.log()
        assert len(counts) <= 2 + int(seconds), server.log()


def test_past_the_bound_the_longest_idle_connection_makes_room(db_path: Path) -> None:
    key = create_keys(db_path)["dev"]
    with running_server(db_path, max_connections=BOUND, **PATIENT) as server, ExitStack() as held:
        idle = [hold_idle(server, key) for _ in range(BOUND)]
        for sock in idle:
            held.callback(sock.close)

        assert pixel_status(server, key) == 200
        assert read_answer(idle[0], 5) == (b"", True), "the longest-idle connection stays open"
        for sock in idle[1:]:  # the others are still served
            sock.sendall(pixel_head(key) + b"\r\n")
            assert status(read_one_answer(sock, 10)) == 200
        wait_for_log(server, "closed 1 idle connection(s) to make room")


@contextmanager
def server_with_open_files(db: Path, open_files: int, **settings: Any) -> Iterator[RunningServer]:
    """``datacoral serve`` started under ``ulimit -n open_files``."""
    launcher = (
        "import os, resource, sys;"
        "hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1];"
        f"resource.setrlimit(resource.RLIMIT_NOFILE, ({open_files}, hard));"
        "os.execv(sys.executable, sys.argv[1:])"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATACORAL_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update({f"DATACORAL_{name.upper()}": str(value) for name, value in settings.items()})
    process = subprocess.Popen(
        [sys.executable, "-c", launcher, *serve_command(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    server = RunningServer(process)
    try:
        yield server
    finally:
        if process.poll() is None:
            assert server.terminate() == 0, server.log()
        else:
            server.terminate()


def test_1100_idle_connections_under_ulimit_1024_do_not_stop_the_endpoint(
    db_path: Path,
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1300:
        if hard != resource.RLIM_INFINITY and hard < 1300:
            pytest.skip("this test needs 1,300 open files for its own connections")
        resource.setrlimit(resource.RLIMIT_NOFILE, (1300, hard))
    key = create_keys(db_path)["dev"]
    try:
        with server_with_open_files(db_path, 1024) as server, ExitStack() as held:
            server.wait_listening(30)
            bound = 1024 - RESERVED_FILES - SPARE_CONNECTIONS
            assert f"max_connections={bound}," in server.log()
            for _ in range(1100):
                held.callback(connect(server).close)
            started = time.monotonic()
            statuses = [pixel_status(server, key) for _ in range(40)]
            assert statuses == [200] * 40
            assert time.monotonic() - started < 10
            wait_for_log(server, "idle connection(s) to make room")
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_bound_that_cannot_fit_the_open_file_limit_stops_the_start(db_path: Path) -> None:
    with server_with_open_files(db_path, 256, max_connections=1000) as server:
        assert server.process.wait(30) == 1
    assert "max_connections 1000 does not fit: the open-file limit (ulimit -n 256)" in server.log()
    assert "listening on" not in server.log()


# The limits as values


@pytest.mark.parametrize(
    ("open_files", "expected"),
    [
        (None, DEFAULT_MAX_CONNECTIONS),
        (1_048_576, DEFAULT_MAX_CONNECTIONS),
        (1024, 1024 - RESERVED_FILES - SPARE_CONNECTIONS),
        (RESERVED_FILES + SPARE_CONNECTIONS + 1, 1),
    ],
)
def test_the_default_bound_fits_the_open_file_limit(open_files: int | None, expected: int) -> None:
    limits = ConnectionLimits.from_settings(Settings(), open_files=open_files)
    assert limits.max_connections == expected


def test_a_set_bound_is_kept_when_it_fits_and_refused_when_it_does_not() -> None:
    settings = Settings(max_connections=5000)
    fits = RESERVED_FILES + SPARE_CONNECTIONS + 5000
    assert ConnectionLimits.from_settings(settings, open_files=fits).max_connections == 5000
    with pytest.raises(ValueError, match=f"at most 4999 .* at least {fits} or lower"):
        ConnectionLimits.from_settings(settings, open_files=fits - 1)
    with pytest.raises(ValueError, match=r"\(ulimit -n 128\) .* leaves none for connections"):
        ConnectionLimits.from_settings(Settings(), open_files=RESERVED_FILES + SPARE_CONNECTIONS)


def test_the_limits_are_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "DATACORAL_MAX_REQUEST_LINE_BYTES": "4096",
            "DATACORAL_MAX_HEADER_BYTES": "32768",
            "DATACORAL_HEADER_TIMEOUT_SECONDS": "2.5",
            "DATACORAL_BODY_TIMEOUT_SECONDS": "20",
            "DATACORAL_KEEP_ALIVE_TIMEOUT_SECONDS": "5",
            "DATACORAL_MAX_CONNECTIONS": "300",
        }
    )
    assert (
        settings.max_request_line_bytes,
        settings.max_header_bytes,
        settings.header_timeout_seconds,
        settings.body_timeout_seconds,
        settings.keep_alive_timeout_seconds,
        settings.max_connections,
    ) == (4096, 32768, 2.5, 20.0, 5.0, 300)
    defaults = Settings()
    assert (defaults.max_request_line_bytes, defaults.max_header_bytes) == (8192, 65536)
    assert defaults.max_connections is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"max_request_line_bytes": 100}, "max_request_line_bytes must be at least 1024"),
        ({"max_header_bytes": 4096}, "max_header_bytes must be at least max_request_line_bytes"),
        ({"header_timeout_seconds": 0}, "header_timeout_seconds must be more than 0"),
        ({"body_timeout_seconds": -1}, "body_timeout_seconds must be more than 0"),
        ({"keep_alive_timeout_seconds": 0}, "keep_alive_timeout_seconds must be more than 0"),
        ({"max_connections": 0}, "max_connections must be at least 1"),
    ],
)
def test_limits_that_make_no_sense_are_refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings(**values)


def test_the_limits_have_options(db_path: Path) -> None:
    command = [
        *serve_command(db_path),
        "--max-request-line-bytes=2048",
        "--max-header-bytes=4096",
        "--header-timeout-seconds=1.5",
        "--body-timeout-seconds=2.5",
        "--keep-alive-timeout-seconds=3.5",
        "--max-connections=7",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATACORAL_")}
    env["DATACORAL_MAX_CONNECTIONS"] = "9"  # options win over the environment
    server = RunningServer(
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
        )
    )
    try:
        server.wait_listening(30)
    finally:
        assert server.terminate() == 0, server.log()
    assert (
        "ConnectionLimits(max_request_line_bytes=2048, max_header_bytes=4096,"
        " max_body_bytes=1048576, header_timeout=1.5, body_timeout=2.5,"
        " keep_alive_timeout=3.5, max_connections=7, retry_after_seconds=5)"
    ) in server.log()


def test_a_limit_that_makes_no_sense_is_one_error_line(db_path: Path) -> None:
    done = subprocess.run(
        [*serve_command(db_path), "--header-timeout-seconds", "0"],
        env={k: v for k, v in os.environ.items() if not k.startswith("DATACORAL_")},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (done.returncode, done.stderr) == (
        1,
        "error: --header-timeout-seconds must be more than 0 and at most 3600, got 0.0\n",
    )
