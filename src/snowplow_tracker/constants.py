"""Schema URIs and defaults of the Snowplow tracker protocol."""

from __future__ import annotations

from snowplow_tracker._version import TRACKER_VERSION
from snowplow_tracker.self_describing_json import SelfDescribingJson
from snowplow_tracker.typing import SUPPORTED_PLATFORMS as _SUPPORTED_PLATFORMS

VERSION = TRACKER_VERSION
DEFAULT_ENCODE_BASE64 = True
BASE_SCHEMA_PATH = "iglu:com.snowplowanalytics.snowplow"
MOBILE_SCHEMA_PATH = "iglu:com.snowplowanalytics.mobile"
SCHEMA_TAG = "jsonschema"
CONTEXT_SCHEMA = f"{BASE_SCHEMA_PATH}/contexts/{SCHEMA_TAG}/1-0-1"
UNSTRUCT_EVENT_SCHEMA = f"{BASE_SCHEMA_PATH}/unstruct_event/{SCHEMA_TAG}/1-0-0"
PAYLOAD_DATA_SCHEMA = f"{BASE_SCHEMA_PATH}/payload_data/{SCHEMA_TAG}/1-0-4"
MOBILE_SCREEN_VIEW_SCHEMA = f"{MOBILE_SCHEMA_PATH}/screen_view/{SCHEMA_TAG}/1-0-0"

#: Platforms the protocol knows (``p``).
SUPPORTED_PLATFORMS = _SUPPORTED_PLATFORMS
#: A list of context entities (upstream's alias).
ContextArray = list[SelfDescribingJson]

#: Paths on the endpoint.
POST_PATH = "/com.snowplowanalytics.snowplow/tp2"
DATACORAL_POST_PATH = "/tp2"
GET_PATH = "/i"

#: Headers carrying the Datacoral API key and environment.
API_KEY_HEADER = "X-Api-Key"
ENVIRONMENT_HEADER = "X-Datacoral-Environment"
