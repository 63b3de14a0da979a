"""Admin tokens: what reads, inspects and administers one environment's events.

API keys write events and are public in web pages; admin tokens are the other side,
never sent by a tracker. Like keys, a token is a 256-bit random secret shown once at
creation and stored only as its SHA-256 digest (enough for a high-entropy secret, and
the digest is the lookup index). A token belongs to exactly one environment, or, as
:data:`ALL_ENVIRONMENTS`, to every one (a server-wide token, which the admin API needs
to create and delete environments and to manage tokens).
"""

from __future__ import annotations

import secrets

from datacoral.admin.keys import hash_key

TOKEN_PREFIX = "dcat_"
#: The environment of a server-wide token: not a valid environment name, so never one.
ALL_ENVIRONMENTS = "*"
#: How many leading characters of a token ``token list`` may show.
VISIBLE_PREFIX_LENGTH = 9


def generate_token() -> str:
    """A new random admin token, e.g. ``dcat_Xq2...`` (URL-safe, 48 characters)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> bytes:
    """The digest stored and looked up for ``token``: the same as an API key's."""
    return hash_key(token)


def visible_prefix(token: str) -> str:
    """The first characters of a token, safe to show in listings."""
    return token[:VISIBLE_PREFIX_LENGTH]


def new_token_id() -> str:
    """A short public identifier for a token, used by ``token revoke``."""
    return "tok_" + secrets.token_hex(6)
