"""The emitter's short way over http.client, and every case that must still go through requests."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import requests
import requests.adapters
import requests_mock
import responses

from snowplow_tracker import AsyncEmitter, Emitter, SelfDescribingJson, Tracker
from tests.support.recorder import Answer, Recorder, recording_server

_COMPARED_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type", "X-Api-Key")


def _track_one(emitter: Emitter, **tracker_kwargs: Any) -> None:
    tracker = Tracker("ns", emitter, **tracker_kwargs)
    tracker.track_struct_event("cat", "act")
    emitter.flush()


def _counting(original: Callable[..., Any], calls: list[str]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append("called")
        return original(*args, **kwargs)

    return wrapper


@pytest.mark.parametrize("method", ["post", "get"])
def test_same_headers_whichever_way_the_request_goes(recorder: Recorder, method: str) -> None:
    emitter = Emitter(recorder.url, method=method, buffer_size=1)
    _track_one(emitter)
    calls: list[str] = []
    send = _counting(requests.adapters.HTTPAdapter.send, calls)
    with mock.patch("requests.adapters.HTTPAdapter.send", send):
        _track_one(emitter)
    direct, through_requests = recorder.wait_for(2)
    assert calls == ["called"]  # a patched adapter sees the request, as with `responses`
    for name in _COMPARED_HEADERS:
        assert direct.headers.get(name) == through_requests.headers.get(name), name
    assert direct.headers["User-Agent"].startswith("python-requests/")
    assert direct.path == through_requests.path
    assert emitter.stats().sent == 2 and emitter.stats().failed == 0
    emitter.close()


def test_a_patched_session_send_sees_every_request(recorder: Recorder) -> None:
    calls: list[str] = []
    send = _counting(requests.Session.send, calls)
    emitter = Emitter(recorder.url, buffer_size=1)
    with mock.patch("requests.Session.send", send):
        for _ in range(3):
            _track_one(emitter)
    assert calls == ["called"] * 3  # requests-mock patches Session.send / get_adapter
    assert len(recorder.wait_for(3)) == 3
    emitter.close()


@pytest.mark.parametrize("method", ["post", "get"])
def test_a_patched_session_request_sees_every_request(recorder: Recorder, method: str) -> None:
    calls: list[str] = []
    request = _counting(requests.Session.request, calls)
    emitter = Emitter(recorder.url, method=method, buffer_size=1)
    with mock.patch("requests.Session.request", request):
        _track_one(emitter)
        _track_one(emitter)
    assert calls == ["called", "called"]
    assert len(recorder.wait_for(2)) == 2 and emitter.stats().sent == 2
    emitter.close()


_MOCKED = "http://collector.test"


def _mocked_url(method: str) -> str:
    return _MOCKED + ("/com.snowplowanalytics.snowplow/tp2" if method == "post" else "/i")


@pytest.mark.parametrize("method", ["post", "get"])
def test_the_responses_library_sees_every_request(method: str) -> None:
    with responses.RequestsMock() as mocked:
        mocked.add(method.upper(), _mocked_url(method), body="ok")
        emitter = Emitter(_MOCKED, method=method, buffer_size=1)
        _track_one(emitter, api_key="k-1")
        _track_one(emitter, api_key="k-1")
        assert len(mocked.calls) == 2
        assert mocked.calls[0].request.headers["X-Api-Key"] == "k-1"
    assert emitter.stats().sent == 2
    emitter.close()


@pytest.mark.parametrize("method", ["post", "get"])
def test_requests_mock_sees_every_request(method: str) -> None:
    with requests_mock.Mocker() as mocked:
        mocked.register_uri(method.upper(), _mocked_url(method), text="ok")
        emitter = Emitter(_MOCKED, method=method, buffer_size=1)
        _track_one(emitter)
        _track_one(emitter)
        assert mocked.call_count == 2
    assert emitter.stats().sent == 2
    emitter.close()


def test_a_mocked_requests_post_replaces_the_network(recorder: Recorder) -> None:
    answer = mock.Mock(status_code=200, headers={}, content=b"", text="")
    emitter = Emitter(recorder.url, buffer_size=1)
    with mock.patch("requests.post", return_value=answer) as post:
        _track_one(emitter)
    assert post.call_count == 1
    assert post.call_args.args[0] == f"{recorder.url}/com.snowplowanalytics.snowplow/tp2"
    assert recorder.requests == []
    assert emitter.stats().sent == 1
    emitter.close()


def test_environment_proxy_is_used(recorder: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", recorder.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    emitter = Emitter("http://collector.invalid", buffer_size=1)
    _track_one(emitter)
    (request,) = recorder.wait_for(1)
    assert request.path == "/com.snowplowanalytics.snowplow/tp2"
    assert emitter.stats().sent == 1
    emitter.close()


def test_many_requests_share_one_connection(recorder: Recorder) -> None:
    emitter = Emitter(recorder.url, method="get", buffer_size=1)
    tracker = Tracker("ns", emitter)
    for i in range(20):
        tracker.track_page_view(f"https://example.com/{i}")
    requests_seen = recorder.wait_for(20)
    assert len({r.client_port for r in requests_seen}) == 1
    emitter.close()


def test_connection_close_from_the_server_opens_a_new_one(recorder: Recorder) -> None:
    recorder.answer_next(Answer(headers={"Connection": "close"}))
    emitter = Emitter(recorder.url, buffer_size=1)
    _track_one(emitter)
    _track_one(emitter)
    first, second = recorder.wait_for(2)
    assert first.client_port != second.client_port
    assert emitter.stats().sent == 2 and emitter.stats().failed == 0
    emitter.close()


@pytest.fixture
def closes_after_each_answer() -> Iterator[tuple[str, list[int]]]:
    """A server that answers one request per connection, then closes it without saying so."""
    listener = socket.create_server(("127.0.0.1", 0))
    ports: list[int] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, address = listener.accept()
            except TimeoutError:
                continue
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                while len(body) < length:
                    body += conn.recv(65536)
                ports.append(address[1])
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", ports
    stop.set()
    thread.join()
    listener.close()


def test_an_idle_connection_the_server_closed_is_not_reused(
    closes_after_each_answer: tuple[str, list[int]],
) -> None:
    url, ports = closes_after_each_answer
    emitter = Emitter(url, buffer_size=1)
    for _ in range(3):
        _track_one(emitter)
    stats = emitter.stats()
    assert (stats.sent, stats.failed, stats.retried, stats.attempts) == (3, 0, 0, 3)
    assert len(set(ports)) == 3
    emitter.close()


def test_an_answer_sent_before_the_body_was_read_is_seen() -> None:
    """A server that refuses a large body at once (413) and closes mid-upload."""
    listener = socket.create_server(("127.0.0.1", 0))

    def refuse() -> None:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head = b"HTTP/1.1 413 Too Large\r\nContent-Length: 3\r\nConnection: close\r\n"
            conn.sendall(head + b"\r\nbig")

    thread = threading.Thread(target=refuse, daemon=True)
    thread.start()
    drops: list[str] = []
    emitter = Emitter(
        f"http://127.0.0.1:{listener.getsockname()[1]}",
        buffer_size=1,
        on_drop=lambda reason, events: drops.append(reason),
    )
    tracker = Tracker("ns", emitter)
    tracker.track_self_describing_event(
        SelfDescribingJson("iglu:com.acme/big/jsonschema/1-0-0", {"blob": "x" * 8_000_000})
    )
    thread.join(timeout=10)
    listener.close()
    stats = emitter.stats()
    assert drops == ["too_large"]
    assert stats.attempts == 1 and "HTTP 413" in (stats.last_error or "")
    emitter.close(timeout=0)


def test_a_redirect_is_followed_through_requests(recorder: Recorder) -> None:
    moved = Answer(307, {"Location": f"{recorder.url}/moved"})
    recorder.answer_next(moved, moved)  # the short way's answer, then requests' own
    emitter = Emitter(recorder.url, buffer_size=1)
    _track_one(emitter)
    paths = [r.path for r in recorder.wait_for(3)]
    assert paths[-1] == "/moved"
    assert recorder.requests[-1].method == "POST" and len(recorder.requests[-1].events()) == 1
    assert emitter.stats().sent == 1
    emitter.close()


def test_read_timeout_bounds_a_silent_server(recorder: Recorder) -> None:
    recorder.answer_next(Answer(delay=2.0))
    emitter = Emitter(recorder.url, buffer_size=1, request_timeout=(1.0, 0.2))
    _track_one(emitter)
    stats = emitter.stats()
    assert stats.sent == 0 and stats.attempts == 1
    assert "timed out" in (stats.last_error or "")
    emitter.close(timeout=0)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1"
    command += " -addext subjectAltName=IP:127.0.0.1"
    subprocess.run(
        [*command.split(), "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_recorder(certificate: tuple[Path, Path]) -> Iterator[Recorder]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    with recording_server(tls=context) as server:
        yield server


def test_https_verifies_against_the_configured_bundle(
    tls_recorder: Recorder, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
    emitter = AsyncEmitter(tls_recorder.url, batch_size=1)
    Tracker("ns", emitter).track_struct_event("cat", "act")
    assert emitter.flush(timeout=10).sent == 1
    assert tls_recorder.wait_for(1)[0].path == "/com.snowplowanalytics.snowplow/tp2"
    emitter.close()


def test_https_refuses_an_unknown_certificate(
    tls_recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    emitter = Emitter(tls_recorder.url, buffer_size=1)
    _track_one(emitter)
    stats = emitter.stats()
    assert stats.sent == 0 and "CERTIFICATE_VERIFY_FAILED" in (stats.last_error or "")
    assert tls_recorder.requests == []
    emitter.close(timeout=0)
