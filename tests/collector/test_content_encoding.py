"""Content-Encoding: gzip and deflate are decoded within the size limit; others get 415."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator

import pytest
import requests

from tests.collector.builders import TP2, envelope, event, headers
from tests.collector.conftest import Endpoint, create_keys, totals
from tests.collector.stored import bad_rows_after, last_bad_row, times_stored
from tests.support.backends import Targets
from tests.support.server import running_server

LIMIT = 4096


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


ENCODINGS = [
    ("gzip", gzip.compress),
    ("x-gzip", gzip.compress),
    ("GZIP", gzip.compress),
    ("deflate", zlib.compress),  # RFC 9110's deflate: zlib-wrapped
    ("deflate", raw_deflate),  # as some clients send it
    ("identity", lambda data: data),
    ("gzip, deflate", lambda data: zlib.compress(gzip.compress(data))),
    ("gzip, identity", gzip.compress),
]


def post(endpoint: Endpoint, body: bytes, encoding: str) -> requests.Response:
    return endpoint.session.post(
        endpoint.url + TP2,
        data=body,
        headers={**headers(endpoint.keys["dev"]), "Content-Encoding": encoding},
    )


@pytest.mark.parametrize(
    ("encoding", "encode"), ENCODINGS, ids=[f"{e}-{f.__name__}" for e, f in ENCODINGS]
)
def test_compressed_body_is_decoded_and_stored(
    shared_endpoint: Endpoint, encoding: str, encode: object
) -> None:
    sent = [event(aid=f"compressed-{i}", page="Grüße") for i in range(3)]
    body = encode(json.dumps(envelope(*sent)).encode())  # type: ignore[operator]
    response = post(shared_endpoint, body, encoding)
    assert (response.status_code, response.text) == (200, "ok")
    assert times_stored(shared_endpoint, *(e["eid"] for e in sent)) == [1, 1, 1]


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "gzip, br", "bogus"])
def test_unsupported_encoding_is_415_and_stores_nothing(
    shared_endpoint: Endpoint, encoding: str
) -> None:
    before = totals(shared_endpoint)
    response = post(shared_endpoint, json.dumps(envelope(event())).encode(), encoding)
    assert response.status_code == 415
    assert response.text.startswith("415 content-encoding: "), response.text
    assert "not supported; send gzip, deflate or an uncompressed body" in response.text
    assert totals(shared_endpoint) == before


@pytest.fixture(scope="module")
def small_endpoint(module_targets: Targets) -> Iterator[Endpoint]:
    """A server whose bodies may be at most 4 KiB, as sent and as decoded."""
    db = module_targets.new("small")
    keys = create_keys(db)
    with running_server(db, max_body_bytes=LIMIT) as server, requests.Session() as session:
        yield Endpoint(server, db, keys, session)


def padded(size: int) -> bytes:
    """A valid body of exactly ``size`` bytes (JSON allows trailing spaces)."""
    body = json.dumps(envelope(event(aid="padded"))).encode()
    assert len(body) <= size
    return body + b" " * (size - len(body))


def test_the_size_limit_applies_to_the_decoded_body(small_endpoint: Endpoint) -> None:
    mark = last_bad_row(small_endpoint)
    at_limit = gzip.compress(padded(LIMIT))
    assert post(small_endpoint, at_limit, "gzip").status_code == 200

    over = padded(LIMIT + 1)
    compressed = gzip.compress(over)
    assert len(compressed) < LIMIT // 4
    response = post(small_endpoint, compressed, "gzip")
    assert response.status_code == 413
    reason = f"body: {len(compressed)} bytes of gzip decode to more than {LIMIT} bytes"
    assert response.text.strip() == f"413 {reason}"
    (row,) = bad_rows_after(small_endpoint, mark)
    assert (row.kind, row.reason) == ("size_violation", reason)
    assert row.payload == over[:1024].decode()


def test_a_zip_bomb_is_refused_without_being_decoded(shared_endpoint: Endpoint) -> None:
    """50 MB in 50 KB, under the default 1 MiB limit: refused once 1 MiB is decoded."""
    mark = last_bad_row(shared_endpoint)
    bomb = zlib.compress(b" " * 50_000_000, 9)
    assert len(bomb) < 60_000
    response = post(shared_endpoint, bomb, "deflate")
    assert response.status_code == 413
    assert response.text.strip() == (
        f"413 body: {len(bomb)} bytes of deflate decode to more than {1024 * 1024} bytes"
    )
    (row,) = bad_rows_after(shared_endpoint, mark)
    assert row.kind == "size_violation"
    assert row.payload == " " * 1024


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (gzip.compress(b'{"schema": "x", "data": []}')[:-12], "body: gzip data ends early"),
        (b'{"not": "gzip"}', "body: not valid gzip data: "),
        (gzip.compress(b"{}") + b"trailing junk", "body: not valid gzip data: "),
    ],
    ids=["truncated", "not gzip", "junk after the gzip data"],
)
def test_broken_compressed_data_is_400_with_a_bad_row(
    small_endpoint: Endpoint, body: bytes, reason: str
) -> None:
    mark = last_bad_row(small_endpoint)
    response = post(small_endpoint, body, "gzip")
    assert response.status_code == 400
    assert response.text.startswith(f"400 {reason}"), response.text
    (row,) = bad_rows_after(small_endpoint, mark)
    assert row.reason.startswith(reason)
