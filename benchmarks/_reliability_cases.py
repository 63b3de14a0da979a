"""Phase A's mix: valid requests, the same events again, and issue 13's cases.

Each builder takes the client's :class:`~_reliability_requests.Planner` and
returns one request with the statuses right for it and what a 200 stores.
:data:`MIX` weighs them with the random and mutated requests of
``_reliability_mutations.py``.
"""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any
from urllib.parse import urlencode

from _endpoint_payloads import PAYLOAD_DATA, TP2, UNSTRUCT
from _reliability_ledger import Outcome
from _reliability_mutations import mutated_get, mutated_post, random_bodies, random_json
from _reliability_requests import (
    ALLOWED_ORIGIN,
    CUT,
    SCHEMA,
    Builder,
    Planner,
    Request,
    b64,
    contexts_text,
    envelope,
    message,
    nested,
    unstruct_text,
)

#: 36 characters of hex digits and dashes (or braces), none in a UUID's 8-4-4-4-12 form.
NOT_UUIDS = [
    "0123456789abcdef0123456789abcdef----",
    "01234567-89abcdef-0123-4567-89abcdef",
    "{0123456789abcdef0123456789abcdef--}",
    "zzzzzzzz-zzzz-4zzz-8zzz-zzzzzzzzzzzz",
    "01234567-89ab-cdef-0123-456789abcdeg",
]
#: Terminal escapes and other control characters: stored as sent, in good events.
CONTROL = ["\x1b[31mred\x1b[0m", "\x1b]0;pwned\x07", "a\x00b", "\x7f\x9b2J", "t\tn\nr\r", "\u202e"]
#: Where valid batches carry their key, and how they are sent.
VALID_POSTS = ["header key", "path key", "query key", "text/plain", "chunked", "legacy key"]
VALID_POSTS += ["allowed Origin"]
CODINGS = ["gzip", "x-gzip", "deflate", "raw deflate", "gzip, deflate", "identity"]
CODINGS += ["2 gzip members"]
#: Small on the wire, more than the 1 MiB limit once decoded.
BOMBS = {
    "gzip": gzip.compress(b" " * 8_000_000, 9),
    "deflate": zlib.compress(b'{"schema":"' + b"a" * 3_000_000, 9),
}


def valid_post(p: Planner) -> Request:
    """A batch of 1-10 valid events, the key in each place a tracker puts it."""
    env, rng = p.env(), p.rng
    events = p.batch(rng.randint(1, 10))
    key = p.keys[env]
    how = rng.choice(VALID_POSTS)
    target, headers, chunks = TP2, p.headers(env), 0
    if how == "path key":
        target, headers = f"/k/{key}/tp2", p.headers(None)
    elif how == "query key":  # and in the header: the same key twice is fine
        target = f"/tp2?api_key={key}"
    elif how == "text/plain":  # as sendBeacon sends it
        headers = p.headers(env, "text/plain;charset=UTF-8")
    elif how == "chunked":
        chunks = rng.randint(1, 4)
    elif how == "legacy key":  # read, then stripped before the event is stored
        events = [{**event, "x_api_key": key} for event in events]
        headers = p.headers(None)
    elif how == "allowed Origin":
        env, headers = "dev", [*p.headers("dev"), ("Origin", ALLOWED_ORIGIN)]
    body = envelope(events, ascii_only=rng.random() < 0.5)
    data = message("POST", target, headers, body, chunks=chunks)
    request = p.tracked(f"POST valid, {how}", data, env, Outcome(good=len(events)))
    if how == "legacy key":
        request.attributable = False  # a 400 or 413 could not be attributed
    else:
        request.resendable, request.body = events, body
    return request


def valid_get(p: Planner) -> Request:
    """One valid event in the query string of GET or HEAD /i or /ice.png."""
    env, rng = p.env(), p.rng
    key, query = p.keys[env], urlencode(p.event())
    target, headers = rng.choice([("/i", True), ("/ice.png", True), (f"/k/{key}/i", False)])
    method = "HEAD" if rng.random() < 0.2 else "GET"
    data = message(method, f"{target}?{query}", [("X-Api-Key", key)] if headers else [])
    return p.tracked(f"{method} /i valid", data, env, Outcome(good=1), head=method == "HEAD")


def resend(p: Planner) -> Request:
    """Events stored before: as they were (duplicates), with a new ``stm`` (duplicates),
    with other content (conflicts), or in the other environment (good, once)."""
    if not p.stored:
        return valid_post(p)
    index = p.rng.randrange(len(p.stored))
    env, body, events = p.stored[index]
    n, how = len(events), p.rng.randrange(4)
    if how == 0:
        return p.post("POST resent as it was", env, body, Outcome(duplicate=n))
    if how == 1:
        later = [{**event, "stm": str(int(event["stm"]) + 1000)} for event in events]
        return p.post("POST resent, new stm", env, envelope(later), Outcome(duplicate=n))
    if how == 2:
        other = [{**event, "url": "https://shop.example.com/changed"} for event in events]
        return p.post("POST same ids, other content", env, envelope(other), Outcome(conflict=n))
    del p.stored[index]
    return p.post("POST same ids, other environment", p.other(env), body, Outcome(good=n))


def lone_surrogates(p: Planner) -> Request:
    """A lone surrogate in a field, a field name, or the JSON of ``ue_pr`` / ``ue_px``, as
    an escape or as raw bytes: that event is a bad row, the batch is stored."""
    event = p.event("se")
    inner = {"schema": UNSTRUCT, "data": {"schema": SCHEMA, "data": {"name": CUT}}}
    changes: list[dict[str, str]] = [
        {"se_ca": CUT},
        {"page": "\ude00 dog"},
        {"se\ud83d": "x"},
        {"e": "ue", "ue_pr": json.dumps(inner, ensure_ascii=False)},
        {"e": "ue", "ue_pr": json.dumps(inner)},  # an escape the inner parser meets
        {"e": "ue", "ue_px": b64(json.dumps(inner))},
    ]
    event |= p.rng.choice(changes)
    return p.with_faults("POST lone surrogate", [event], ascii_only=p.rng.random() < 0.5)


def deep_json(p: Planner) -> Request:
    """``ue_pr``, ``ue_px``, ``cx``, ``co`` or a field nested 300-3000 deep (a bad row), or
    a batch whose body nests 300-4000 deep (a bad event, or past 1024 levels a 400).
    Never 1001-1099: orjson reads 1024 levels, the standard parser gives up after ~990
    depending on the stack, so which one reads such a body decides."""
    rng = p.rng
    levels = rng.choice((rng.randint(300, 1000), rng.randint(1100, 3000)))
    where = rng.choice(("ue_pr", "ue_px", "cx", "co", "se_ca", "body"))
    if where == "body":
        env, valid = p.env(), json.dumps(p.event()).encode()
        deep = nested(levels).encode()
        body = b'{"schema":"%s","data":[%s,%s]}' % (PAYLOAD_DATA.encode(), deep, valid)
        if levels <= 1000:
            return p.post("POST body nested 300-1000 deep", env, body, Outcome(good=1, bad=1))
        data = message("POST", TP2, p.headers(env), body)
        case = "POST body nested 1100-3000 deep"
        return p.refused(case, 400, data, env=env, attributable=True)
    event = p.event("ue")
    del event["ue_px"]
    if where == "ue_pr":
        event["ue_pr"] = unstruct_text(levels)
    elif where == "ue_px":
        event["ue_px"] = b64(unstruct_text(levels))
    elif where == "cx":
        event["cx"] = b64(contexts_text(levels))
    elif where == "co":
        del event["cx"]  # cx wins over co
        event["co"] = contexts_text(levels)
    else:  # JSON where text belongs
        event["se_ca"] = json.loads(nested(min(levels, 800)))
    return p.with_faults(f"POST {where} nested 300-3000 deep", [event])


def compressed(p: Planner) -> Request:
    """A valid batch, gzip, deflate (with or without its zlib wrapper), both, or
    ``identity``: stored as if sent plain."""
    env, rng = p.env(), p.rng
    events = p.batch(rng.randint(1, 10))
    body = envelope(events)
    coding = rng.choice(CODINGS)
    if coding in ("gzip", "x-gzip"):
        sent = gzip.compress(body)
    elif coding == "deflate":
        sent = zlib.compress(body)
    elif coding == "raw deflate":
        squeezer = zlib.compressobj(wbits=-15)
        sent, coding = squeezer.compress(body) + squeezer.flush(), "deflate"
    elif coding == "gzip, deflate":
        sent = zlib.compress(gzip.compress(body))
    elif coding == "2 gzip members":
        half = len(body) // 2
        sent, coding = gzip.compress(body[:half]) + gzip.compress(body[half:]), "gzip"
    else:
        sent = body
    headers = [*p.headers(env), ("Content-Encoding", coding)]
    return p.post("POST gzip/deflate, valid", env, sent, Outcome(good=len(events)), headers)


def bad_compressed(p: Planner) -> Request:
    """A zip bomb (413, a size-violation bad row), broken gzip (400, a bad row), or a
    coding the endpoint does not decode (415, nothing stored)."""
    env, rng = p.env(), p.rng
    how = rng.choice(("bomb", "br", "truncated", "junk after"))
    if how == "br":
        coding = rng.choice(("br", "zstd", "compress", "gzip, br"))
        headers = [*p.headers(env), ("Content-Encoding", coding)]
        data = message("POST", TP2, headers, envelope(p.batch(2)))
        return p.refused("POST Content-Encoding br, zstd", 415, data)
    coding = rng.choice(sorted(BOMBS)) if how == "bomb" else "gzip"
    headers = [*p.headers(env), ("Content-Encoding", coding)]
    if how == "bomb":
        data = message("POST", TP2, headers, BOMBS[coding])
        return p.refused("POST zip bomb", 413, data, env=env, attributable=True)
    whole = gzip.compress(envelope(p.batch(3)))
    body = whole[: rng.randrange(len(whole))] if how == "truncated" else whole + b"junk"
    data = message("POST", TP2, headers, body)
    return p.refused("POST broken gzip", 400, data, env=env, attributable=True)


def wrong_keys(p: Planner) -> Request:
    """Two different keys (401), no key or an unknown one (401), another environment or
    an origin it does not allow (403): nothing stored."""
    env, rng = p.env(), p.rng
    other, events, headers = p.keys[p.other(env)], p.batch(2), p.headers(env)
    query = "/i?" + urlencode(p.event())
    other_legacy = [{**events[0], "x_api_key": rng.choice([other, "k\ud83d"])}]
    unknown_legacy = [{**events[0], "x_api_key": rng.choice(["dck_x", "k\ud83d"])}]
    claim, origin = ("X-Datacoral-Environment", "stage"), ("Origin", "https://evil.example")
    legacy_claim = [{**events[0], "x_datacoral_environment": "stage"}]
    cases: list[tuple[str, int, str, str, list[Any], list[Any] | None]] = [
        ("two keys", 401, "POST", f"{TP2}?api_key={other}", headers, events),
        ("two keys", 401, "POST", f"/k/{other}/tp2", headers, events),
        ("two keys", 401, "POST", TP2, headers, other_legacy),
        ("two keys", 401, "GET", f"{query}&api_key={other}", headers, None),
        ("two keys", 401, "GET", f"/k/{other}{query}", headers, None),
        ("no key", 401, "POST", TP2, p.headers(None), events),
        ("no key", 401, "GET", query, [], None),
        ("unknown key", 401, "POST", TP2, [("X-Api-Key", rng.choice(("", "dck_x")))], events),
        ("unknown key", 401, "POST", TP2, p.headers(None), unknown_legacy),
        ("other environment", 403, "POST", TP2, [*headers, claim], events),
        ("other environment", 403, "POST", TP2, headers, legacy_claim),
        ("other environment", 403, "GET", f"{query}&env={p.other(env)}", headers, None),
        ("origin not allowed", 403, "POST", TP2, [*headers, origin], events),
    ]
    name, status, method, target, sent_headers, sent = rng.choice(cases)
    body = None if sent is None else envelope(sent)
    return p.refused(f"{method} {name}", status, message(method, target, sent_headers, body))


def several_faults(p: Planner) -> Request:
    """Three to six different faults in one batch of valid events: each its own bad row."""
    rng = p.rng
    faults: list[Any] = [
        {**p.event(), "e": "zz"},
        {k: v for k, v in p.event().items() if k != "e"},
        {**p.event(), "p": "moon"},
        {**p.event(), "dtm": "yesterday"},
        {**p.event(), "dtm": 1764150000000},
        {**p.event(), "aid": None},
        {**p.event("ue"), "ue_px": "not base64!"},
        {**p.event("se"), "se_va": "NaN"},
        {**p.event(), "vid": "1.5"},
        {**p.event(), "eid": rng.choice(NOT_UUIDS)},
        {**p.event(), "se_ca": CUT},
        {**p.event("pv"), "co": contexts_text(400)},
        rng.choice(["pv", 42, None, [], True]),
    ]
    return p.with_faults("POST several faults in one batch", rng.sample(faults, rng.randint(3, 6)))


def non_uuids(p: Planner) -> Request:
    """Event ids of 36 characters that are not UUIDs: bad rows."""
    faults = [{**p.event(), "eid": p.rng.choice(NOT_UUIDS)} for _ in range(2)]
    return p.with_faults("POST 36-character non-UUID eid", faults)


def control_characters(p: Planner) -> Request:
    """Terminal escapes and control characters in fields: good events, kept as sent."""
    env, rng = p.env(), p.rng
    event = p.event()
    for name in rng.sample(["se_ca", "page", "url", "aid", "note", "ua"], 3):
        event[name] = rng.choice(CONTROL) + rng.choice(CONTROL)
    if rng.random() < 0.3:
        data = message("GET", "/i?" + urlencode(event), [("X-Api-Key", p.keys[env])])
        return p.tracked("GET /i control characters", data, env, Outcome(good=1))
    return p.post("POST control characters", env, envelope([event]), Outcome(good=1))


def head_limits(p: Planner) -> Request:
    """A huge header or 70 KB of header lines (431), a long URL (414), each on a connection
    of its own; a 56 KB head, under the limits, is served."""
    env = p.env()
    key = [("X-Api-Key", p.keys[env])]
    target = "/i?" + urlencode(p.event())
    how = p.rng.randrange(4)
    if how == 0:
        data = message("GET", target, [*key, ("X-Big", "a" * 70_000)])
        return p.refused("GET huge header", 431, data, fresh=True)
    if how == 1:
        data = message("GET", target, [*key, *[("X-Line", "b" * 1000)] * 70])
        return p.refused("GET 70 header lines of 1 KB", 431, data, fresh=True)
    if how == 2:
        data = message("GET", target + "&pad=" + "u" * 8200, key)
        return p.refused("GET long URL", 414, data, fresh=True)
    data = message("GET", target, [*key, *[("X-Line", "b" * 1000)] * 55])
    return p.tracked("GET 56 KB head (under the limit)", data, env, Outcome(good=1))


def routes_and_types(p: Planner) -> Request:
    """Wrong methods and routes (405, 404), preflights (204, 403), health, and bodies of a
    type not accepted (400), of none given (200) or empty (400)."""
    env, rng = p.env(), p.rng
    body = envelope(p.batch(1))
    wrong = [("PUT", TP2, 405), ("GET", TP2, 405), ("POST", "/i", 405), ("GET", "/nope", 404)]
    how = rng.randrange(len(wrong) + 6)
    if how < len(wrong):
        method, target, status = wrong[how]
        data = message(method, target, p.headers(env), body if method != "GET" else None)
        return p.refused("wrong method or route", status, data)
    how -= len(wrong)
    if how < 3:
        origin = [None, "https://evil.example", ALLOWED_ORIGIN][how]
        headers = [("Origin", origin), ("Access-Control-Request-Method", "POST")] if origin else []
        data = message("OPTIONS", TP2, headers)
        return p.refused("OPTIONS preflight", 403 if how == 1 else 204, data)
    if how == 3:
        data = message("GET", rng.choice(("/health", "/ready")))
        return p.refused("GET /health, /ready", 200, data)
    if how == 4:
        return p.post("POST no Content-Type", env, body, Outcome(good=1), p.headers(env, ""))
    headers, body = rng.choice([(p.headers(env, "image/png"), body), (p.headers(env), b" \n")])
    data = message("POST", TP2, headers, body)
    case = "POST wrong Content-Type or empty body"
    return p.refused(case, 400, data, env=env, attributable=True)


def bad_http(p: Planner) -> Request:
    """What the HTTP parser refuses: a terminal escape in a header, a control character in
    the URL (uvicorn's 400 on a connection of its own; nothing stored)."""
    key = [("X-Api-Key", p.keys[p.env()])]
    if p.rng.random() < 0.5:
        data = message("GET", "/i?e=pv", [*key, ("X-Note", "\x1b[2J")])
    else:
        data = message("GET", "/i?e=pv&x=\x01", key)
    return p.refused("escape in a header or the URL", 400, data, fresh=True)


VALID, CASES, RANDOM = "valid", "issue 13 and protocol cases", "random or mutated"
#: Phase A's requests: weight, group, builder.
MIX: list[tuple[int, str, Builder]] = [
    (120, VALID, valid_post),
    (70, VALID, valid_get),
    (60, VALID, resend),
    (30, CASES, lone_surrogates),
    (30, CASES, deep_json),
    (40, CASES, compressed),
    (25, CASES, bad_compressed),
    (45, CASES, wrong_keys),
    (25, CASES, several_faults),
    (20, CASES, non_uuids),
    (20, CASES, control_characters),
    (15, CASES, head_limits),
    (40, CASES, routes_and_types),
    (8, CASES, bad_http),
    (30, RANDOM, random_bodies),
    (30, RANDOM, random_json),
    (230, RANDOM, mutated_post),
    (80, RANDOM, mutated_get),
]
