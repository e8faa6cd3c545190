"""drf-spectacular: the API key security scheme, only /api/v1/ in the schema, and the one
error shape documented on every operation (so a client, and Schemathesis, know every
answer)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

ERROR_STATUSES = {
    "400": "Invalid input (VALIDATION_ERROR, with every field's messages).",
    "401": "No valid API key or session (NOT_AUTHENTICATED).",
    "403": "The key's scope or your role does not allow this (PERMISSION_DENIED).",
    "404": "No such object in your workspaces (NOT_FOUND).",
    "409": "Conflict: in use, already ended, disabled (CONFLICT).",
    "422": "Refused as it stands: Idempotency-Key reused, a send gate code (IDEMPOTENCY_KEY_REUSED…).",
    "429": "Too many requests (RATE_LIMITED); see Retry-After.",
}
ERROR_COMPONENT = "Error"


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "api.auth.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <prefix>.<secret>` (from the admin or `manage.py apikey_create`).",
        }


class StaffSessionScheme(OpenApiAuthenticationExtension):
    target_class = "api.auth.StaffSessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}


def only_api_endpoints(endpoints: list[tuple[Any, ...]], **kwargs: Any) -> list[tuple[Any, ...]]:
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/api/v1/")]


def add_error_responses(result: dict[str, Any], generator: Any, **kwargs: Any) -> dict[str, Any]:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas[ERROR_COMPONENT] = {
        "type": "object",
        "properties": {
            "code": {"type": "string", "description": "Stable: VALIDATION_ERROR, NOT_FOUND, RATE_LIMITED…"},
            "message": {"type": "string"},
            "fields": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
                "description": 'Messages per field path, e.g. {"steps.0.name": ["…"]}.',
            },
        },
        "required": ["code", "message", "fields"],
    }
    ref = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    error = {"content": {"application/json": {"schema": ref}}}
    for path in result.get("paths", {}).values():
        for _method, operation in path.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for code, description in ERROR_STATUSES.items():
                responses.setdefault(code, {"description": description, **error})
            responses.setdefault("default", {"description": "Any other error, same shape.", **error})
    return result
