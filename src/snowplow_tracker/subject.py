"""Who and where an event is about: user ids, device and network details."""

from __future__ import annotations

from snowplow_tracker.constants import SUPPORTED_PLATFORMS
from snowplow_tracker.contracts import greater_than, one_of
from snowplow_tracker.typing import PayloadDict, SupportedPlatform

DEFAULT_PLATFORM = "pc"


class Subject:
    """Fields added to every event of a tracker (or to one event, as an event subject).

    Every setter returns the subject, so calls chain.
    """

    def __init__(self) -> None:
        self.standard_nv_pairs: PayloadDict = {"p": DEFAULT_PLATFORM}

    def set_platform(self, value: SupportedPlatform | str) -> Subject:
        one_of(value, SUPPORTED_PLATFORMS, "platform")
        self.standard_nv_pairs["p"] = value
        return self

    def set_user_id(self, user_id: str) -> Subject:
        self.standard_nv_pairs["uid"] = user_id
        return self

    def set_screen_resolution(self, width: int, height: int) -> Subject:
        greater_than(width, 0, "width")
        greater_than(height, 0, "height")
        self.standard_nv_pairs["res"] = f"{width}x{height}"
        return self

    def set_viewport(self, width: int, height: int) -> Subject:
        greater_than(width, 0, "width")
        greater_than(height, 0, "height")
        self.standard_nv_pairs["vp"] = f"{width}x{height}"
        return self

    def set_color_depth(self, depth: int) -> Subject:
        self.standard_nv_pairs["cd"] = depth
        return self

    def set_timezone(self, timezone: str) -> Subject:
        self.standard_nv_pairs["tz"] = timezone
        return self

    def set_lang(self, lang: str) -> Subject:
        self.standard_nv_pairs["lang"] = lang
        return self

    def set_domain_user_id(self, duid: str) -> Subject:
        self.standard_nv_pairs["duid"] = duid
        return self

    def set_domain_session_id(self, sid: str) -> Subject:
        self.standard_nv_pairs["sid"] = sid
        return self

    def set_domain_session_index(self, vid: int) -> Subject:
        self.standard_nv_pairs["vid"] = vid
        return self

    def set_ip_address(self, ip: str) -> Subject:
        self.standard_nv_pairs["ip"] = ip
        return self

    def set_useragent(self, ua: str) -> Subject:
        self.standard_nv_pairs["ua"] = ua
        return self

    def set_network_user_id(self, nuid: str) -> Subject:
        self.standard_nv_pairs["tnuid"] = nuid
        return self

    def combine_subject(self, subject: Subject | None) -> PayloadDict:
        """``subject``'s fields overlaid with this one's.

        Called on an event subject with the tracker's subject: the event subject wins.
        """
        if subject is None:
            return self.standard_nv_pairs
        return {**subject.standard_nv_pairs, **self.standard_nv_pairs}

    def __repr__(self) -> str:
        return f"Subject({self.standard_nv_pairs!r})"
