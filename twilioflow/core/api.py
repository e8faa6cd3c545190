"""DRF error shape: `{"code", "message", "fields"?}` with a stable code, never a bare 500."""

from typing import Any

from django.core.exceptions import PermissionDenied
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
}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, errors.TwilioFlowError):
        return Response(exc.as_dict(), status=_STATUS_FOR_CODE.get(exc.code, 502))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = {
            "code": errors.VALIDATION_ERROR,
            "message": "Some fields are invalid.",
            "fields": detail,
        }
    else:
        code = getattr(exc, "default_code", "error")
        response.data = {"code": str(code).upper(), "message": str(getattr(exc, "detail", exc))}
    return response
