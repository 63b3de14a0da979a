"""Which origin a browser request comes from, and which environments allow it.

A request's origin is its ``Origin`` header or, lacking one, the origin of its
``Referer`` (simple ``GET`` pixels from older pages carry only the latter). A
request with neither is not a browser's: servers and the Python and Node trackers
need only a valid key. The allow-lists are read from storage with the rest of the
environments (:class:`~datacoral.collector.environments.EnvironmentCache`), so a
change made with ``datacoral env add-origin`` / ``remove-origin`` reaches a running
server within one second.
"""

from __future__ import annotations

from dataclasses import dataclass

from datacoral.admin.origins import Origin, origin_of_url, parse_origin
from datacoral.collector.protocol import shown


@dataclass(frozen=True, slots=True)
class RequestOrigin:
    """Where a browser request says it comes from.

    ``origin`` is None when the value is ``null`` or unreadable: such a request is
    allowed nowhere. ``header`` is the ``Origin`` header exactly as sent (what a
    CORS answer echoes), or None when the origin came from ``Referer``.
    """

    origin: Origin | None
    header: str | None

    def describe(self) -> str:
        """The origin for an error message: never more than the origin of a Referer."""
        if self.origin is not None:
            return repr(str(self.origin))
        if self.header is not None:
            return f"Origin {shown(self.header, 80)}"
        return "an unreadable Referer"


def request_origin(origin_header: str | None, referer: str | None) -> RequestOrigin | None:
    """The origin of a request with these headers; None when it has neither."""
    if origin_header is not None:
        return RequestOrigin(parse_origin(origin_header), origin_header)
    if referer is not None:
        return RequestOrigin(origin_of_url(referer), None)
    return None
