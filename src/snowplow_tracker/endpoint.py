"""Where an emitter sends: the base URL and the POST / GET paths.

Accepted endpoint forms: ``host``, ``host:port``, ``[v6addr]:port``, or a full URL
``http(s)://host[:port][/prefix]``. The ``protocol`` and ``port`` arguments apply
only when the endpoint has no scheme / no port of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from urllib.parse import urlsplit

from snowplow_tracker.constants import DATACORAL_POST_PATH, GET_PATH, POST_PATH


@dataclass(frozen=True)
class Endpoint:
    """A parsed endpoint: ``base`` is ``scheme://host[:port][/prefix]`` without a trailing /."""

    base: str
    post_path: str = POST_PATH

    @property
    def post_url(self) -> str:
        return self.base + self.post_path

    @property
    def get_url(self) -> str:
        return self.base + GET_PATH

    @cached_property
    def post_target(self) -> str:
        """The request target (path) of POST requests."""
        return urlsplit(self.post_url).path

    @cached_property
    def get_target(self) -> str:
        """The request target (path, without the query) of GET requests."""
        return urlsplit(self.get_url).path


def parse_endpoint(
    endpoint: str,
    protocol: str = "https",
    port: int | None = None,
    post_path: str | None = None,
) -> Endpoint:
    """Build an :class:`Endpoint`, or raise ValueError saying what is wrong."""
    if not isinstance(endpoint, str):
        raise TypeError(f"endpoint must be a string, got {type(endpoint).__name__}")
    text = endpoint.strip()
    if not text:
        raise ValueError("endpoint must not be empty")
    if protocol not in ("http", "https"):
        raise ValueError(f"protocol must be 'http' or 'https', got {protocol!r}")
    if port is not None and (isinstance(port, bool) or not 0 < int(port) < 65536):
        raise ValueError(f"port must be 1-65535, got {port!r}")
    has_scheme = "://" in text
    parts = urlsplit(text if has_scheme else f"{protocol}://{text}")
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"endpoint scheme must be http or https, got {parts.scheme!r}")
    if not parts.hostname:
        raise ValueError(f"endpoint {endpoint!r} has no host")
    if parts.query or parts.fragment:
        raise ValueError(f"endpoint {endpoint!r} must not have a query string or fragment")
    try:
        own_port = parts.port
    except ValueError:
        raise ValueError(f"endpoint {endpoint!r} has an invalid port") from None
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    chosen_port = own_port if own_port is not None else port
    netloc = host if chosen_port is None else f"{host}:{chosen_port}"
    prefix = parts.path.rstrip("/")
    return Endpoint(
        base=f"{scheme}://{netloc}{prefix}",
        post_path=normalize_post_path(post_path),
    )


def normalize_post_path(post_path: str | None) -> str:
    """The POST path: the standard one by default; ``/tp2`` is the Datacoral-style alias."""
    if post_path is None:
        return POST_PATH
    if not isinstance(post_path, str) or not post_path.strip("/"):
        raise ValueError(f"post_path must be a path such as {DATACORAL_POST_PATH!r}")
    return "/" + post_path.strip("/")
