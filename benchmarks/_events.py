"""The event every benchmark tracks: self-describing, with one context entity.

Works with any module that has upstream 1.x's ``SelfDescribing`` and
``SelfDescribingJson`` (ours and upstream's), so both trackers build the same
objects. A new event per call, as application code does.
"""

from __future__ import annotations

from typing import Any


def make_event(module: Any, i: int) -> Any:
    """Event number ``i``: about 0.8 KB on the wire, with one non-ASCII string."""
    return module.SelfDescribing(
        module.SelfDescribingJson(
            "iglu:com.acme/checkout_step/jsonschema/1-0-2",
            {
                "step": i % 7,
                "cart_id": f"cart-{i}",
                "items": 3,
                "total": 42.5,
                "currency": "EUR",
                "coupon": None,
                "note": "café ☕",
            },
        ),
        context=[
            module.SelfDescribingJson(
                "iglu:com.acme/user/jsonschema/1-0-0",
                {"user_id": f"user-{i % 997}", "plan": "pro", "country": "DE", "bucket": i % 4},
            )
        ],
    )
