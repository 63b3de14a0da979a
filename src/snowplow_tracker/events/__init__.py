"""The event classes: one small module per event type."""

from snowplow_tracker.events.event import Event
from snowplow_tracker.events.page_ping import PagePing
from snowplow_tracker.events.page_view import PageView
from snowplow_tracker.events.screen_view import ScreenView
from snowplow_tracker.events.self_describing import SelfDescribing
from snowplow_tracker.events.structured_event import StructuredEvent

__all__ = ["Event", "PagePing", "PageView", "ScreenView", "SelfDescribing", "StructuredEvent"]
