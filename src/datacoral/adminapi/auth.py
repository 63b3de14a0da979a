"""Who calls the admin API, and what the caller's admin token may touch.

Every operation needs ``Authorization: Bearer <admin token>`` (401 without one, or with
an unknown or revoked one: :mod:`datacoral.collector.admin_auth` looks tokens up,
hashed, through a cache of half a second). A token belongs to one environment, and
then reads and administers that environment alone (403 for any other, listings show
only it); a server-wide token (``datacoral token create --all``) covers every
environment and alone may create and delete environments and manage admin tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

from datacoral.admin.tokens import ALL_ENVIRONMENTS
from datacoral.adminapi.errors import Forbidden, Unauthorized
from datacoral.collector import errors as collector_errors
from datacoral.collector.admin_auth import TokenResolver, bearer_token
from datacoral.collector.request import Request


@dataclass(frozen=True, slots=True)
class Caller:
    """The admin token of a request: its id and the environment it covers (``*``: all)."""

    token_id: str
    environment: str

    @property
    def server_wide(self) -> bool:
        return self.environment == ALL_ENVIRONMENTS

    @property
    def only(self) -> str | None:
        """The one environment the caller sees, or None when it sees all."""
        return None if self.server_wide else self.environment

    def covers(self, environment: str | None) -> bool:
        """Whether the token may read and administer ``environment``."""
        return self.server_wide or environment == self.environment

    def require(self, environment: str) -> None:
        """403 unless the token covers ``environment``."""
        if not self.covers(environment):
            raise Forbidden(
                f"the admin token {self.token_id} is for environment {self.environment!r},"
                f" not {environment!r}"
            )

    def require_server_wide(self, what: str) -> None:
        """403 unless the token covers every environment; ``what`` the caller asked for."""
        if not self.server_wide:
            raise Forbidden(
                f"{what} needs a server-wide admin token (`datacoral token create --all`);"
                f" {self.token_id} is for environment {self.environment!r} only"
            )


class Authenticator:
    """Turns a request's bearer token into its :class:`Caller`, or 401."""

    def __init__(self, tokens: TokenResolver) -> None:
        self._tokens = tokens

    async def caller(self, request: Request) -> Caller:
        try:
            token = bearer_token(request)
        except collector_errors.Unauthorized as exc:
            raise Unauthorized(exc.reason) from None
        record = await self._tokens.record(token)
        if record is None:
            raise Unauthorized("unknown admin token")
        if record.revoked:
            raise Unauthorized("revoked admin token")
        return Caller(record.token_id, record.environment)
