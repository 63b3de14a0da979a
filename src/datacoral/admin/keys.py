"""API keys: generated once, shown once, stored only as a SHA-256 digest.

Keys are 256-bit random tokens, so a plain SHA-256 digest is enough to make the
stored form useless to a reader of the database (no password-style stretching
is needed for high-entropy secrets), and the digest doubles as the lookup index.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

KEY_PREFIX = "dck_"
#: How many leading characters of a key ``key list`` may show.
VISIBLE_PREFIX_LENGTH = 8


def generate_key() -> str:
    """A new random API key, e.g. ``dck_3q2+...`` (URL-safe, 47 characters)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> bytes:
    """The digest stored and looked up for ``key``."""
    return hashlib.sha256(key.encode("utf-8")).digest()


def visible_prefix(key: str) -> str:
    """The first characters of a key, safe to show in listings."""
    return key[:VISIBLE_PREFIX_LENGTH]


def digests_match(a: bytes, b: bytes) -> bool:
    """Constant-time comparison of two key digests."""
    return hmac.compare_digest(a, b)


def new_key_id() -> str:
    """A short public identifier for a key, used by ``key revoke``."""
    return "key_" + secrets.token_hex(6)
