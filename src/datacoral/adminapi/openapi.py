"""The OpenAPI 3.1 document of the admin API, written from the operations table.

Served at ``/admin/v1/openapi.json`` without a token (it holds no data), so that
tools (schemathesis, client generators, Swagger UI) can read it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from typing import Any

from datacoral import __version__
from datacoral.adminapi.models import Error
from datacoral.adminapi.operations import NDJSON, OPERATIONS, PREFIX, Operation, Param
from datacoral.adminapi.schema import JSONSchema, schema_of

DOCUMENT_PATH = f"{PREFIX}/openapi.json"
_SECURITY_SCHEME = "adminToken"
#: Every operation may answer these (a body adds 413).
_ERRORS = {
    400: "The parameters or the body are not what the operation takes.",
    401: "No admin token, or an unknown or revoked one.",
    403: "The token does not cover the environment, or the operation needs a server-wide token.",
    404: "No such environment, key, token or path.",
    409: "The store's state refuses the request (exists already, still has keys or events).",
    503: "Storage is unavailable; retry after the Retry-After seconds.",
}
_TOO_LARGE = "The body is larger than the admin API takes."
# OpenAPI 3.1 has no keyword for the items of a sequence; as is usual (and as 3.2's
# itemSchema later made explicit), the schema of an NDJSON answer is that of each line.
_STREAMED = (
    "Streamed as it is read: one JSON object per line (NDJSON), each matching the schema;"
    " chunked, without a Content-Length. An answer cut short (the connection closed"
    " before the last chunk) is incomplete."
)
_PARAM_TYPES = {str: "string", int: "integer", bool: "boolean"}


def build_document(operations: Iterable[Operation] = OPERATIONS) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``operations``."""
    components: dict[str, JSONSchema] = {}
    error = schema_of(Error, components)
    paths: dict[str, dict[str, Any]] = {}
    tags: list[str] = []
    for operation in operations:
        item = paths.setdefault(PREFIX + operation.path, {})
        item[operation.method.lower()] = _operation(operation, components, error)
        if operation.tag not in tags:
            tags.append(operation.tag)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Datacoral admin API",
            "version": __version__,
            "description": (
                "Administer a Datacoral Events endpoint: environments, origins, API keys,"
                " admin tokens, rate limits, validation modes, and the stored events."
                " Every operation needs an admin token (`datacoral token create`) as"
                " `Authorization: Bearer <token>`; a token covers one environment, or all"
                " (`--all`). Errors are JSON objects with `error` and `detail`."
            ),
        },
        "tags": [{"name": tag} for tag in tags],
        "security": [{_SECURITY_SCHEME: []}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {
                _SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An admin token, dcat_... (`datacoral token create`).",
                }
            },
        },
    }


@functools.lru_cache(maxsize=1)
def document_bytes() -> bytes:
    """The document as the endpoint serves it (built once)."""
    return json.dumps(build_document(), indent=1).encode()


def _operation(
    operation: Operation, components: dict[str, JSONSchema], error: JSONSchema
) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if operation.response is None:
        responses[str(operation.status)] = {"description": "Done."}
    else:
        schema = schema_of(operation.response, components)
        responses[str(operation.status)] = {
            "description": _STREAMED if operation.media_type == NDJSON else "Done.",
            "content": {operation.media_type: {"schema": schema}},
        }
    errors = dict(_ERRORS)
    if operation.body is not None:
        errors[413] = _TOO_LARGE
    for status, description in sorted(errors.items()):
        responses[str(status)] = {
            "description": description,
            "content": {"application/json": {"schema": error}},
        }
    found: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "tags": [operation.tag],
        "responses": responses,
    }
    if operation.description is not None:
        found["description"] = operation.description
    if operation.params:
        found["parameters"] = [_param(param) for param in operation.params]
    if operation.body is not None:
        found["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schema_of(operation.body, components)}},
        }
    return found


def _param(param: Param) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": _PARAM_TYPES[param.kind]}
    if param.minimum is not None:
        schema["minimum"] = param.minimum
    if param.maximum is not None:
        schema["maximum"] = param.maximum
    if param.default is not None:
        schema["default"] = param.default
    if param.kind is str:
        schema["minLength"] = 1
    return {
        "name": param.name,
        "in": param.where,
        "required": param.required or param.where == "path",
        "description": param.description,
        "schema": schema,
    }
