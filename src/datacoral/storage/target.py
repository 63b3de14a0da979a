"""Where the store is: a SQLite file's path, or a PostgreSQL URL.

``--db`` and ``DATACORAL_DB`` take either. A value that starts with
``postgresql://`` or ``postgres://`` is a :class:`DatabaseURL`; anything else is
a path. A URL's password is a secret: ``str()`` and ``repr()`` show it as
``***`` (in the user part and in a ``password=`` parameter), so a URL can be put
in a message or a log line as it is; only :attr:`DatabaseURL.url` holds the real
text, for the driver.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

URL_SCHEMES = ("postgresql", "postgres")
_HIDDEN = "***"


class DatabaseURL:
    """A PostgreSQL connection URL (libpq's form), shown without its password."""

    __slots__ = ("_shown", "url")

    def __init__(self, url: str) -> None:
        if not is_database_url(url):
            raise ValueError("must start with postgresql:// or postgres:// to be a database URL")
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            raise ValueError(f"is not a valid PostgreSQL URL, got {_redact(url)}") from None
        self.url = url
        self._shown = _redact(url)

    @property
    def host(self) -> str:
        """The server, as a person would name it (``host:port``), for messages."""
        parts = urlsplit(self.url)
        host = parts.hostname or "localhost"
        return f"{host}:{parts.port or 5432}"

    @property
    def database(self) -> str | None:
        """The database name in the URL, if it names one."""
        name = urlsplit(self.url).path.lstrip("/")
        return name or None

    def __str__(self) -> str:
        return self._shown

    def __repr__(self) -> str:
        return f"DatabaseURL({self._shown!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DatabaseURL) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)

    def hide_secret(self, text: str) -> str:
        """``text`` with this URL's password, should it appear there, replaced by ``***``."""
        password = urlsplit(self.url).password
        for param, value in parse_qsl(urlsplit(self.url).query):
            if param == "password":
                password = password or value
        if password:
            text = text.replace(self.url, self._shown).replace(password, _HIDDEN)
        return text


#: What ``--db`` names: a SQLite file or a PostgreSQL database.
Target = Path | DatabaseURL


def is_database_url(text: str) -> bool:
    """True for ``postgresql://...`` and ``postgres://...`` (any case of the scheme)."""
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme.lower() in URL_SCHEMES


def parse_target(value: str | os.PathLike[str] | DatabaseURL) -> Target:
    """A URL for ``postgresql://`` / ``postgres://`` text, else the path it names."""
    if isinstance(value, (Path, DatabaseURL)):
        return value
    text = os.fspath(value)
    if is_database_url(text):
        return DatabaseURL(text)
    return Path(text)


def target_argument(target: Target) -> str:
    """The text to pass on (a command line, an environment variable), password included."""
    return target.url if isinstance(target, DatabaseURL) else os.fspath(target)


def _redact(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:  # unparseable: hide whatever stands before an @
        scheme, sep, rest = url.partition("://")
        _, at, host = rest.rpartition("@")
        return f"{scheme}{sep}{_HIDDEN}@{host}" if at else url
    netloc = parts.netloc
    user, at, host = netloc.rpartition("@")
    if at and ":" in user:
        netloc = f"{user.split(':', 1)[0]}:{_HIDDEN}@{host}"
    query = parts.query
    if "password" in query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(name, _HIDDEN if name == "password" else value) for name, value in pairs],
            safe="*",
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
