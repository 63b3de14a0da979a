"""One request's records as one JetStream message, and back.

A message is JSON: ``[1, [good row, ...], [bad row, ...]]``. The leading 1 is the
format version; a row is its record's values in the order of :data:`GOOD_FIELDS`
or :data:`BAD_FIELDS` (never reordered: a new field means a new version, and a
loader refuses versions it does not know). ``fingerprint`` travels as hex. Text
holding a lone surrogate, which orjson refuses, travels as a ``\\u`` escape, and
the stdlib decoder restores it.

Its id (the ``Nats-Msg-Id`` header) is a digest of what a retry of the same request
repeats: each good event's environment, id and fingerprint, and each bad row's
content with ``stm`` (the tracker's send time, new on every attempt) left out. A
request retried within the stream's duplicate window is therefore one message.
Times of arrival are not part of it.

A message larger than the server's limit (``max_payload``, 1 MB by default) is
split into parts, each its own message with the id ``<digest>.<part>-<parts>``; a
single record too large even alone is kept as a ``size_violation`` bad row holding
its first KiB, as the endpoint keeps a body over ``max_body_bytes``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from hashlib import blake2b
from typing import Any

import orjson

from datacoral.storage.base import BadRow, GoodEvent
from datacoral.storage.duplicates import event_json

FORMAT_VERSION = 1
#: Version 1's good row: :class:`GoodEvent`'s fields in this order.
GOOD_FIELDS = (
    "event_id environment fingerprint platform event collector_tstamp derived_tstamp app_id"
    " name_tracker v_tracker event_vendor event_name event_format event_version"
    " dvce_created_tstamp dvce_sent_tstamp true_tstamp user_id domain_userid network_userid"
    " domain_sessionid domain_sessionidx user_ipaddress useragent page_url page_title"
    " page_referrer se_category se_action se_label se_property se_value tr_orderid"
    " tr_affiliation tr_total tr_tax tr_shipping tr_city tr_state tr_country tr_currency"
    " ti_orderid ti_sku ti_name ti_category ti_price ti_quantity ti_currency unstruct_event"
    " contexts schema_validated extra"
).split()
#: Version 1's bad row.
BAD_FIELDS = ("reason", "payload", "received_tstamp", "environment", "event_id", "kind")
_FINGERPRINT = GOOD_FIELDS.index("fingerprint")
#: What a record keeps of itself when it is too large for any message.
_KEPT_BYTES = 1024
#: Room left in a message for its headers and the JSON around the rows.
_HEADROOM = 1024
_STM = re.compile(r'"stm"\s*:\s*"[^"]*"')


class MessageFormatError(ValueError):
    """Bytes that are not a message of a version this datacoral reads."""


@dataclasses.dataclass(frozen=True, slots=True)
class Message:
    """What is published: the message id and the encoded records."""

    message_id: str
    data: bytes


def encode(good: list[GoodEvent], bad: list[BadRow]) -> bytes:
    """The records as one message body."""
    body = [FORMAT_VERSION, [_good_row(event) for event in good], [_bad_row(row) for row in bad]]
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError:  # a lone surrogate somewhere: escaped by the stdlib
        return json.dumps(body, separators=(",", ":")).encode()


def decode(data: bytes) -> tuple[list[GoodEvent], list[BadRow]]:
    """The records of a message body; :class:`MessageFormatError` when it is not one."""
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        try:
            body = json.loads(data)
        except ValueError as exc:
            raise MessageFormatError(f"not JSON: {exc}") from None
    if not isinstance(body, list) or len(body) != 3 or body[0] != FORMAT_VERSION:
        version = body[0] if isinstance(body, list) and body else None
        raise MessageFormatError(f"not a version {FORMAT_VERSION} message (version {version!r})")
    try:
        good = [_good_event(row) for row in body[1]]
        bad = [BadRow(**dict(zip(BAD_FIELDS, row, strict=True))) for row in body[2]]
    except (TypeError, ValueError) as exc:
        raise MessageFormatError(f"malformed rows: {exc}") from None
    return good, bad


def message_id(good: list[GoodEvent], bad: list[BadRow]) -> str:
    """The digest of what a retry of the same request repeats (see the module's text)."""
    digest = blake2b(digest_size=16)

    def add(text: str | None) -> None:
        raw = b"\xff" if text is None else text.encode("utf-8", "surrogatepass")
        digest.update(len(raw).to_bytes(8, "big"))
        digest.update(raw)

    for event in good:
        add(event.environment)
        add(event.event_id)
        add(event.fingerprint.hex())
    add("|")
    for row in bad:
        add(row.environment)
        add(row.kind)
        add(row.reason)
        add(row.event_id)
        add(_STM.sub("", row.payload))
    return digest.hexdigest()


def messages(good: list[GoodEvent], bad: list[BadRow], limit: int) -> list[Message]:
    """One message for the records, or several parts when they exceed ``limit`` bytes."""
    data = encode(good, bad)
    if len(data) + _HEADROOM <= limit:
        return [Message(message_id(good, bad), data)]
    parts = list(_parts(good, bad, limit - _HEADROOM))
    digest = message_id(good, bad)
    return [
        Message(f"{digest}.{index + 1}-{len(parts)}", encode(part_good, part_bad))
        for index, (part_good, part_bad) in enumerate(parts)
    ]


def _parts(
    good: list[GoodEvent], bad: list[BadRow], limit: int
) -> Iterator[tuple[list[GoodEvent], list[BadRow]]]:
    """Halves until each part fits; a record alone too large becomes a small bad row."""
    if len(encode(good, bad)) <= limit:
        yield good, bad
        return
    if len(good) + len(bad) == 1:
        if good:
            yield [], [_too_large_event(good[0], limit)]
        else:
            yield [], [_too_large_bad_row(bad[0], limit)]
        return
    records: list[Any] = [*good, *bad]
    middle = len(records) // 2
    for half in (records[:middle], records[middle:]):
        yield from _parts(
            [r for r in half if isinstance(r, GoodEvent)],
            [r for r in half if isinstance(r, BadRow)],
            limit,
        )


def _too_large_event(event: GoodEvent, limit: int) -> BadRow:
    text = event_json(event)
    return BadRow(
        reason=(
            f"eid {event.event_id}: {len(text.encode('utf-8', 'surrogatepass'))} bytes as"
            f" stored, more than the stream's message limit ({limit} bytes); its first KiB is kept"
        ),
        payload=text[:_KEPT_BYTES],
        received_tstamp=event.collector_tstamp,
        environment=event.environment,
        event_id=event.event_id,
        kind="size_violation",
    )


def _too_large_bad_row(row: BadRow, limit: int) -> BadRow:
    return dataclasses.replace(
        row,
        reason=f"{row.reason} (payload cut to its first KiB: the bad row was more than the"
        f" stream's message limit of {limit} bytes)",
        payload=row.payload[:_KEPT_BYTES],
    )


def _good_row(event: GoodEvent) -> list[Any]:
    row = [getattr(event, name) for name in GOOD_FIELDS]
    row[_FINGERPRINT] = event.fingerprint.hex()
    return row


def _good_event(row: list[Any]) -> GoodEvent:
    values = dict(zip(GOOD_FIELDS, row, strict=True))
    values["fingerprint"] = bytes.fromhex(values["fingerprint"])
    return GoodEvent(**values)


def _bad_row(row: BadRow) -> list[Any]:
    return [getattr(row, name) for name in BAD_FIELDS]
