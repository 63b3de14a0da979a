"""Which answers are retried, and how long to wait before the next attempt."""

from __future__ import annotations

import random
from collections.abc import Mapping

#: Answers that mean "do not send this again" to every Snowplow tracker.
PERMANENT_STATUSES = frozenset({400, 401, 403, 410, 422})


class RetryPolicy:
    """Retry everything but 2xx and :data:`PERMANENT_STATUSES`, with capped full-jitter backoff.

    ``custom_retry_codes`` maps a status to True (retry) or False (give up) and
    wins over the defaults; each policy keeps its own copy. The wait after the
    n-th consecutive failure is uniform in ``[min_delay, min(max_delay,
    base_delay * 2**n)]``, and never shorter than the endpoint's ``Retry-After``.
    ``min_delay`` keeps a dead endpoint from being hammered.
    """

    __slots__ = ("base_delay", "custom_retry_codes", "max_delay", "min_delay")

    def __init__(
        self,
        custom_retry_codes: Mapping[int, bool] | None = None,
        *,
        max_delay: float = 60.0,
        base_delay: float = 0.5,
        min_delay: float = 0.1,
    ) -> None:
        codes = dict(custom_retry_codes or {})
        for status, retry in codes.items():
            if isinstance(status, bool) or not isinstance(status, int):
                raise TypeError(f"custom_retry_codes keys must be int statuses, got {status!r}")
            if 200 <= status < 300:
                raise ValueError(
                    f"custom_retry_codes cannot make a 2xx status ({status}) retryable"
                )
            if not isinstance(retry, bool):
                raise TypeError(f"custom_retry_codes[{status}] must be True or False")
        if max_delay <= 0:
            raise ValueError(f"max_retry_delay_seconds must be positive, got {max_delay}")
        self.custom_retry_codes = codes
        self.max_delay = float(max_delay)
        self.base_delay = base_delay
        self.min_delay = min(min_delay, self.max_delay)

    def should_retry(self, status: int) -> bool:
        """True when a batch answered with ``status`` (-1: no answer) should be sent again."""
        if 200 <= status < 300:
            return False
        if status in self.custom_retry_codes:
            return self.custom_retry_codes[status]
        return status not in PERMANENT_STATUSES

    def delay(self, consecutive_failures: int, retry_after: float | None = None) -> float:
        """Seconds to wait after ``consecutive_failures`` (>= 1) failures in a row."""
        exponent = min(max(consecutive_failures - 1, 0), 30)
        ceiling = min(self.max_delay, self.base_delay * (2**exponent))
        wait = random.uniform(self.min_delay, max(ceiling, self.min_delay))
        if retry_after is not None:
            wait = max(wait, retry_after)
        return wait

    def __repr__(self) -> str:
        return (
            f"RetryPolicy(custom_retry_codes={self.custom_retry_codes!r}, "
            f"max_delay={self.max_delay})"
        )
