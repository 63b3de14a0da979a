"""The reliability run's requests: bytes on the wire, each with what must come of it.

A :class:`Request` carries the statuses that are right for it and what a 200
stores (an :class:`~_reliability_ledger.Outcome`, counted in events). A
:class:`Planner` makes one client's requests from a seed (every event gets a
fresh id from it, so one seed always makes the same requests) by drawing from a
weighted mix of builders (``_reliability_cases.py``, ``_reliability_mutations.py``).
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson
from _endpoint_payloads import CONTEXTS, PAYLOAD_DATA, TP2, UNSTRUCT, event_fields
from _pyload import uuid4
from _reliability_ledger import Outcome

ALLOWED_ORIGIN = "https://app.example.com"  # the dev environment allows it
#: The environment of requests whose events may be good or bad (mutated, random): in dev
#: and prod, what each event becomes is known.
FUZZED = "stage"
SCHEMA = "iglu:com.acme/step/jsonschema/1-0-0"
CUT = "cat\ud83d"  # text cut inside an emoji, as JSON.stringify sends it


@dataclass
class Request:
    """One request as sent, and what its answer must be."""

    case: str
    data: bytes
    expect: frozenset[int]
    env: str | None = None  # where a 200 stores its events
    events: Outcome = field(default_factory=Outcome)  # what a 200 stores
    attributable: bool = False  # a 400 or 413 stores one bad row in ``env``
    head: bool = False  # HEAD: the answer has no body
    fresh: bool = False  # sent on a connection of its own
    resendable: list[dict[str, Any]] | None = None  # valid events, all stored by a 200
    body: bytes = b""  # the body of a resendable request
    group: str = ""  # the part of the mix it comes from


def message(
    method: str,
    target: str,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes | None = None,
    *,
    chunks: int = 0,
) -> bytes:
    """An HTTP/1.1 request: ``Content-Length``, or ``chunks`` chunks of chunked encoding."""
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers]
    payload = b""
    if body is not None and chunks:
        lines.append("Transfer-Encoding: chunked")
        step = max(1, -(-len(body) // chunks))
        for start in range(0, len(body), step):
            piece = body[start : start + step]
            payload += b"%x\r\n%s\r\n" % (len(piece), piece)
        payload += b"0\r\n\r\n"
    elif body is not None:
        lines.append(f"Content-Length: {len(body)}")
        payload = body
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


def envelope(events: list[Any], *, ascii_only: bool = True) -> bytes:
    """A ``payload_data`` body; lone surrogates as ``\\ud83d`` escapes when ``ascii_only``,
    else as their raw (not UTF-8) bytes."""
    document = {"schema": PAYLOAD_DATA, "data": events}
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=ascii_only)
    return text.encode("utf-8", "surrogatepass")


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def unstruct_text(levels: int) -> str:
    """An ``unstruct_event`` wrapper whose data is arrays ``levels`` deep."""
    wrapper = {"schema": UNSTRUCT, "data": {"schema": SCHEMA, "data": None}}
    return json.dumps(wrapper).replace("null", nested(levels))


def contexts_text(levels: int) -> str:
    """A contexts wrapper whose one context's data is arrays ``levels`` deep."""
    wrapper = {"schema": CONTEXTS, "data": [{"schema": SCHEMA, "data": None}]}
    return json.dumps(wrapper).replace("null", nested(levels))


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("utf-8", "surrogatepass")).decode()


def parse_body(body: bytes) -> list[Any] | None:
    """The events of a body as the protocol reads it (JSON, lone surrogates allowed, at
    most 1024 levels), or None when it is not a ``payload_data`` envelope (a 400)."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            text = body.decode("utf-8", "surrogatepass")
            document = json.loads(text, parse_constant=_refuse)
        except (ValueError, RecursionError):
            return None
    if not isinstance(document, dict):
        return None
    schema, data = document.get("schema"), document.get("data")
    if not isinstance(schema, str) or not schema.startswith(PAYLOAD_DATA[:-1]):
        return None
    return data if isinstance(data, list) and data else None


def _refuse(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def judge(elements: list[Any], originals: dict[str, dict[str, Any]]) -> Outcome:
    """What a batch that may have been changed stores: an event equal to a valid one sent
    is good (a duplicate when it came earlier in the batch), a non-object is bad, any other
    object either; ``unknown`` when its id came earlier in the batch with other content."""
    out = Outcome()
    seen: dict[str, dict[str, Any] | None] = {}  # id (lowercase) -> the good event, or None
    for element in elements:
        if not isinstance(element, dict):
            out.bad += 1
            continue
        eid = element.get("eid")
        key = eid.lower() if isinstance(eid, str) else None
        if key is not None and key in seen:
            # The very same event again is a duplicate; with any change (even to ``stm``,
            # which the duplicate rule ignores but which may now be invalid), unknown.
            same = seen[key] == element
            out.duplicate += same
            out.unknown += not same
            continue
        original = originals.get(eid) if isinstance(eid, str) else None
        if original is None or element != original:
            original = None
            out.either += 1
        else:
            out.good += 1
        if key is not None:
            seen[key] = original
    return out


Builder = Callable[["Planner"], Request]


class Planner:
    """One client's requests, drawn from a weighted ``mix`` of builders with a seeded
    generator; remembers batches answered 200 to send them again."""

    def __init__(
        self, seed: str, keys: dict[str, str], mix: Sequence[tuple[int, str, Builder]] = ()
    ) -> None:
        self.rng = random.Random(seed)
        self.keys = keys
        self.mix = [(group, builder) for _, group, builder in mix]
        self.weights = [weight for weight, _, _ in mix]
        self.stored: list[tuple[str, bytes, list[dict[str, Any]]]] = []

    def next(self) -> Request:
        group, builder = self.rng.choices(self.mix, self.weights)[0]
        request = builder(self)
        request.group = group
        return request

    def answered(self, request: Request, status: int) -> None:
        if status == 200 and request.resendable is not None and request.env is not None:
            self.stored.append((request.env, request.body, request.resendable))
            del self.stored[:-64]

    # Events

    def eid(self) -> str:
        return uuid4(self.rng)

    def event(self, kind: str | None = None) -> dict[str, Any]:
        """A valid event: self-describing (base64, with a context, as the endpoint
        benchmarks send it), page view, structured event or page ping."""
        rng = self.rng
        kind = kind or rng.choice(("ue", "ue", "pv", "se", "pp"))
        number = rng.randrange(1000)
        made: dict[str, Any]
        if kind == "ue":
            made = event_fields(number)
        else:
            made = {"e": kind, "tv": "js-3.24.2", "tna": "sp1", "aid": "shop-web", "p": "web"}
            made["dtm"] = str(1_764_150_000_000 + number)
            made["stm"] = str(1_764_150_000_500 + number)
            made["url"] = f"https://shop.example.com/p/{number}?q=caf%C3%A9"
            if kind == "pv":
                made["page"] = rng.choice(("Home", "Café ☕", "Каталог", "商品 🛒"))
            elif kind == "se":
                made |= {"se_ca": "checkout", "se_ac": "click", "se_va": str(number / 8)}
            else:
                made |= {"pp_mix": "0", "pp_max": str(number), "pp_miy": "0", "pp_may": "900"}
        made["eid"] = self.eid()
        return made

    def batch(self, size: int) -> list[dict[str, Any]]:
        return [self.event() for _ in range(size)]

    # Requests

    def env(self) -> str:
        return "dev" if self.rng.random() < 0.7 else "prod"

    @staticmethod
    def other(env: str) -> str:
        return "prod" if env == "dev" else "dev"

    def headers(self, env: str | None, content_type: str = "application/json") -> list[Any]:
        sent = [("Content-Type", content_type)] if content_type else []
        return [*sent, ("X-Api-Key", self.keys[env])] if env else sent

    def tracked(self, case: str, data: bytes, env: str, events: Outcome, **more: Any) -> Request:
        """A request answered 200 that stores ``events`` in ``env``."""
        return Request(case, data, frozenset({200}), env, events, attributable=True, **more)

    def refused(self, case: str, status: int, data: bytes, **more: Any) -> Request:
        """A request answered ``status``, which stores nothing (or, for a 400 or 413 with
        ``env`` and ``attributable``, one bad row)."""
        return Request(case, data, frozenset({status}), **more)

    def post(
        self,
        case: str,
        env: str,
        body: bytes,
        events: Outcome | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> Request:
        """A POST with ``env``'s key: 200 storing ``events``, or (None) what the body
        implies: 200 for an envelope, else 400 and a bad row."""
        status = 200
        if events is None:
            elements = parse_body(body)
            events = judge(elements, {}) if elements is not None else Outcome()
            status = 200 if elements is not None else 400
        data = message("POST", TP2, self.headers(env) if headers is None else headers, body)
        return Request(case, data, frozenset({status}), env, events, attributable=True)

    def with_faults(self, case: str, faults: list[Any], ascii_only: bool = True) -> Request:
        """A batch with ``faults`` (each a bad row) among valid events."""
        goods = self.batch(self.rng.randint(0, 4))
        sent = goods + faults
        self.rng.shuffle(sent)
        body = envelope(sent, ascii_only=ascii_only)
        return self.post(case, self.env(), body, Outcome(good=len(goods), bad=len(faults)))

    def probe(self) -> Request:
        """A normal GET /i on a connection of its own (phases B and C time it)."""
        env = self.env()
        data = message("GET", "/i?" + urlencode(self.event()), [("X-Api-Key", self.keys[env])])
        return self.tracked("GET /i probe", data, env, Outcome(good=1), fresh=True)
