"""DRF error shape, one everywhere: `{"code", "message", "fields": {path: [messages]}}`
with the engine's stable codes (twilioflow.core.errors), never a bare 500 for bad input."""

from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from twilioflow.core import errors

_STATUS_FOR_CODE = {
    errors.VALIDATION_ERROR: status.HTTP_400_BAD_REQUEST,
    errors.NOT_FOUND: status.HTTP_404_NOT_FOUND,
    errors.AUTH_EXPIRED: status.HTTP_424_FAILED_DEPENDENCY,
    errors.RATE_LIMITED: status.HTTP_429_TOO_MANY_REQUESTS,
    errors.FORBIDDEN_ENDPOINT: status.HTTP_403_FORBIDDEN,
    errors.CONFIGURATION_ERROR: status.HTTP_422_UNPROCESSABLE_ENTITY,
    errors.CONFLICT: status.HTTP_409_CONFLICT,
    errors.IDEMPOTENCY_KEY_REUSED: status.HTTP_422_UNPROCESSABLE_ENTITY,
    **dict.fromkeys(errors.GATE_CODES, status.HTTP_422_UNPROCESSABLE_ENTITY),
}
# DRF's codes in the engine's vocabulary.
_DRF_CODES = {
    "not_authenticated": "NOT_AUTHENTICATED",
    "authentication_failed": "NOT_AUTHENTICATED",
    "permission_denied": "PERMISSION_DENIED",
    "not_found": errors.NOT_FOUND,
    "throttled": errors.RATE_LIMITED,
    "parse_error": errors.VALIDATION_ERROR,
    "method_not_allowed": "METHOD_NOT_ALLOWED",
    "unsupported_media_type": "UNSUPPORTED_MEDIA_TYPE",
    "not_acceptable": "NOT_ACCEPTABLE",
    "request_too_large": "REQUEST_TOO_LARGE",
}


def error_body(
    code: str, message: str, fields: dict[str, list[str]] | None = None, **extra: Any
) -> dict[str, Any]:
    return {"code": code, "message": message, "fields": fields or {}, **extra}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, errors.TwilioFlowError):
        data = exc.as_dict()
        data.setdefault("fields", {})
        return Response(data, status=_STATUS_FOR_CODE.get(exc.code, status.HTTP_502_BAD_GATEWAY))
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response(error_body(errors.VALIDATION_ERROR, "Some fields are invalid.", fields), status=400)
    if isinstance(exc, RequestDataTooBig):
        return Response(
            error_body("REQUEST_TOO_LARGE", "The request body is too large."),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, SuspiciousOperation):  # too many fields, a malformed request…
        return Response(error_body(errors.VALIDATION_ERROR, "The request is malformed."), status=400)
    if isinstance(exc, (ProtectedError, RestrictedError)):
        return Response(
            error_body(errors.CONFLICT, "Still in use (runs, steps, triggers or events refer to it)."),
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, IntegrityError):
        return Response(
            error_body(errors.CONFLICT, "Conflicts with another record (a name already taken?)."),
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, DataError):
        # The database refused a value (out of range, not storable): bad input, not a crash.
        return Response(
            error_body(errors.VALIDATION_ERROR, "A value is out of range or cannot be stored."), status=400
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = error_body(errors.VALIDATION_ERROR, "Some fields are invalid.", _flatten(detail))
    elif isinstance(exc, exceptions.ParseError):
        response.data = error_body(errors.VALIDATION_ERROR, str(exc.detail), {"body": [str(exc.detail)]})
    else:
        code = _DRF_CODES.get(str(getattr(exc, "default_code", "")), "ERROR")
        message = str(getattr(exc, "detail", exc))
        wait = getattr(exc, "wait", None) if isinstance(exc, exceptions.Throttled) else None
        extra = {"retry_after": wait} if wait else {}
        response.data = error_body(code, message, **extra)
    return response


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as {"steps.0.name": ["…"]}: one path per field."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(detail, list) and any(isinstance(item, (dict, list)) for item in detail):
        for index, value in enumerate(detail):
            if value:
                out.update(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
    else:
        items = detail if isinstance(detail, list) else [detail]
        out[prefix or "non_field_errors"] = [str(item) for item in items]
    return out
