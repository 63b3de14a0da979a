"""SIGTERM: stop accepting, answer every request in flight, commit, exit 0."""

from __future__ import annotations

import json
import signal
import socket
import time

from datacoral.storage import open_storage
from datacoral.storage.target import Target
from tests.collector.builders import TP2, envelope, event
from tests.collector.conftest import create_keys
from tests.support.server import running_server

IN_FLIGHT = 5


def read_until(sock: socket.socket, marker: bytes, deadline: float) -> bytes:
    data = b""
    while marker not in data:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_sigterm_answers_requests_in_flight_and_exits_0(db_path: Target) -> None:
    keys = create_keys(db_path)
    batches = [[event() for _ in range(3)] for _ in range(IN_FLIGHT)]
    with running_server(db_path) as server:
        sockets = []
        for batch in batches:
            body = json.dumps(envelope(*batch)).encode()
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            sock.sendall(
                f"POST {TP2} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                f"X-Api-Key: {keys['dev']}\r\nContent-Length: {len(body)}\r\n"
                "Expect: 100-continue\r\n\r\n".encode()
            )
            # "100 Continue" proves the request reached the application.
            assert b"100 Continue" in read_until(sock, b"\r\n\r\n", time.monotonic() + 10)
            sockets.append((sock, body))

        server.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while True:  # new connections are refused once the listener is closed
            try:
                socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
            except ConnectionRefusedError:
                break
            assert time.monotonic() < deadline, "still accepting connections after SIGTERM"
            time.sleep(0.01)

        for sock, body in sockets:
            sock.sendall(body)
        for sock, _ in sockets:
            answer = read_until(sock, b"\r\n\r\nok", time.monotonic() + 10)
            sock.close()
            assert answer.startswith(b"HTTP/1.1 200"), answer
        assert server.terminate() == 0
        assert "Traceback" not in server.log()

    storage = open_storage(db_path)
    try:
        for batch in batches:
            for sent in batch:
                assert len(storage.find_events(sent["eid"])) == 1
    finally:
        storage.close()
