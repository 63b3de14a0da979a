"""Phase A's random requests: valid batches and pixels after random mutations, random
bytes and random JSON.

What a mutated or random body must give is read from the body itself, as the
protocol reads it (:func:`~_reliability_requests.parse_body`): an envelope is
answered 200, anything else 400; each event equal to a valid one sent is a good
event, each non-object a bad row, any other object good or bad (``either``).
Requests with such events go to their own environment (``FUZZED``), so that the
other environments' counts are exact.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from _endpoint_payloads import PAYLOAD_DATA, TP2
from _reliability_ledger import Outcome
from _reliability_requests import (
    CUT,
    FUZZED,
    Planner,
    Request,
    envelope,
    judge,
    message,
    parse_body,
)

#: Mutations of a batch, each applied to the JSON texts of its events.
TEXT_MUTATIONS = ["delete a field", "repeat a field", "wrong type", "copy", "shuffle"]
TEXT_MUTATIONS += ["add a non-object", "bytes"]
#: Characters a request line may hold, for changes to a raw query string.
URL_CHARACTERS = "abcdefXYZ0123456789-._~%&=+;:,/!$'()*@?"


def mutated_post(p: Planner) -> Request:
    """A valid batch after one to three mutations of its events' JSON (and of its bytes)."""
    rng, env = p.rng, FUZZED
    events = p.batch(rng.randint(2, 6))
    texts = [json.dumps(event, separators=(",", ":"), ensure_ascii=False) for event in events]
    chosen = [rng.choice(TEXT_MUTATIONS) for _ in range(rng.randint(1, 3))]
    for mutation in chosen:
        texts = mutate(p, texts, mutation)
    body = b'{"schema":"%s","data":[%s]}' % (PAYLOAD_DATA.encode(), ",".join(texts).encode())
    for _ in range(rng.randint(1, 2) if "bytes" in chosen else 0):
        body = mutate_bytes(p, body)
    elements = parse_body(body)
    if elements is None:
        data = message("POST", TP2, p.headers(env), body)
        return p.refused("POST valid batch, mutated", 400, data, env=env, attributable=True)
    originals = {event["eid"]: event for event in events}
    return p.post("POST valid batch, mutated", env, body, judge(elements, originals))


def mutate(p: Planner, texts: list[str], mutation: str) -> list[str]:
    """``texts`` (events' JSON) after ``mutation``, as a new list."""
    rng, texts = p.rng, list(texts)
    index = rng.randrange(len(texts))
    event = json.loads(texts[index]) if texts[index].startswith("{") else None
    if mutation == "copy":
        texts.insert(rng.randrange(len(texts) + 1), texts[index])
    elif mutation == "shuffle":
        rng.shuffle(texts)
    elif mutation == "add a non-object":
        texts.insert(rng.randrange(len(texts) + 1), rng.choice(["42", '"pv"', "null", "[]"]))
    elif not event:
        pass
    elif mutation == "delete a field":
        del event[rng.choice(sorted(event))]
        texts[index] = json.dumps(event)
    elif mutation == "wrong type":
        event[rng.choice(sorted(event))] = rng.choice([12345, None, True, [], {"a": 1}, 1.5])
        texts[index] = json.dumps(event)
    elif mutation == "repeat a field":  # of two equal names, the last wins
        name = rng.choice(sorted(event))
        pair = f'"{name}":{json.dumps(rng.choice(["zz", event[name], ""]))}'
        text = texts[index]
        first = rng.random() < 0.5
        texts[index] = "{" + pair + "," + text[1:] if first else text[:-1] + "," + pair + "}"
    return texts


def mutate_bytes(p: Planner, body: bytes) -> bytes:
    """``body`` with bytes flipped, cut off, cut out or put in."""
    rng, data = p.rng, bytearray(body)
    if not data:
        return rng.randbytes(rng.randint(1, 10))
    where = rng.randrange(len(data))
    how = rng.randrange(4)
    if how == 0:
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] ^= rng.randint(1, 255)
    elif how == 1:
        del data[where:]
    elif how == 2:
        del data[where : where + rng.randint(1, 20)]
    else:
        data[where:where] = rng.randbytes(rng.randint(1, 10))
    return bytes(data)


def mutated_get(p: Planner) -> Request:
    """A valid GET /i whose parameters were deleted, repeated, added, changed or emptied,
    and sometimes its raw query too: 200, the event good or bad."""
    rng, env = p.rng, FUZZED
    pairs = list(p.event().items())
    for _ in range(rng.randint(1, 3)):
        index = rng.randrange(len(pairs))
        name, value = pairs[index]
        how = rng.randrange(5)
        if how == 0 and len(pairs) > 1:
            del pairs[index]
        elif how == 1:
            pairs.append((name, rng.choice(["zz", "", "1.5", "\x1b"])))
        elif how == 2:
            pairs.append((rng.choice(["zz", "e", "eid", "dtm", "ue_px", "vid"]), "0"))
        elif how == 3 and value:
            at = rng.randrange(len(value))
            pairs[index] = (name, value[:at] + chr(rng.randint(1, 0x2FFF)) + value[at + 1 :])
        else:
            pairs[index] = (name, "")
    query = list(urlencode(pairs))
    if rng.random() < 0.3:
        for _ in range(rng.randint(1, 3)):
            query[rng.randrange(len(query))] = rng.choice(URL_CHARACTERS)
    data = message("GET", "/i?" + "".join(query), [("X-Api-Key", p.keys[env])])
    return p.tracked("GET /i mutated query", data, env, Outcome(either=1))


def random_bodies(p: Planner) -> Request:
    """Random bytes as a body (400, a bad row) or as a whole request (uvicorn's 400), or a
    body past 1 MiB, with its length given or chunked (413, a size-violation bad row)."""
    rng, env = p.rng, p.env()
    how = rng.randrange(10)
    if how < 7:
        return p.post("POST random bytes", env, rng.randbytes(rng.randrange(3000)))
    if how < 9:
        data = rng.randbytes(rng.randint(1, 500)) + b"\r\n\r\n"
        return p.refused("random bytes as a request", 400, data, fresh=True)
    body = envelope([{**p.event(), "url": "x" * 1_050_000}])
    data = message("POST", TP2, p.headers(env), body, chunks=rng.choice((0, 8)))
    return p.refused("POST body over 1 MiB", 413, data, env=env, attributable=True)


def random_json(p: Planner) -> Request:
    """A random JSON document, or an envelope of random values (often with another schema)."""
    rng = p.rng
    values = [random_value(p, rng.randint(0, 4)) for _ in range(rng.randint(1, 6))]
    document: Any = {"schema": PAYLOAD_DATA, "data": values}
    if rng.random() < 0.2:
        document["schema"] = rng.choice((PAYLOAD_DATA.replace("1-0-4", "2-0-0"), "x", None))
    elif rng.random() < 0.3:
        document = rng.choice(values)
    return p.post("POST random JSON", FUZZED, json.dumps(document).encode())


def random_value(p: Planner, depth: int) -> Any:
    """A random JSON value ``depth`` levels deep at most, made of tracker-like pieces."""
    rng = p.rng
    how = rng.randrange(4 if depth else 2)
    if how == 0:
        return rng.choice([None, True, 0, -1, 1.5, 10**20])
    if how == 1:
        return rng.choice(["pv", "web", "", "1764150000000", CUT, "\x1b[2J", p.eid()])
    if how == 2:
        return [random_value(p, depth - 1) for _ in range(rng.randint(0, 3))]
    names = ["e", "p", "tv", "eid", "dtm", "ue_pr", "cx", "se_va", "vid", "aid", "zz"]
    return {rng.choice(names): random_value(p, depth - 1) for _ in range(rng.randint(0, 6))}
