"""JSON bodies the database can store: a NUL character, a lone surrogate or absurd nesting
is a 400 naming the path, never a database error (PostgreSQL refuses \\u0000 in jsonb)."""

from __future__ import annotations

import io
from typing import Any

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 32


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"
    default_detail = "The request body is too large."


def body_limit() -> int:
    return int(getattr(settings, "DATA_UPLOAD_MAX_MEMORY_SIZE", None) or 2_621_440)


class StrictJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        # DRF streams the body past Django's DATA_UPLOAD_MAX_MEMORY_SIZE check: read at most
        # the limit ourselves, so a huge body costs nothing but a 413.
        limit = body_limit()
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise BodyTooLarge(f"The request body is larger than {limit} bytes.")
        try:
            data = super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        problem = unstorable(data)
        if problem:
            raise ParseError(problem)
        return data


def unstorable(value: Any, path: str = "body", depth: int = 0) -> str | None:
    """Why `value` cannot be stored as JSON text in every database we run on, or None."""
    if depth > MAX_DEPTH:
        return f"{path}: nested more than {MAX_DEPTH} levels."
    if isinstance(value, str):
        return _bad_text(value, path)
    if isinstance(value, float) and value != value:  # NaN
        return f"{path}: NaN is not JSON."
    if isinstance(value, dict):
        for key, item in value.items():
            problem = _bad_text(key, f"{path} key") or unstorable(item, f"{path}.{key}", depth + 1)
            if problem:
                return problem
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problem = unstorable(item, f"{path}.{index}", depth + 1)
            if problem:
                return problem
    return None


def _bad_text(text: str, path: str) -> str | None:
    if "\x00" in text:
        return f"{path}: the NUL character (\\u0000) is not allowed."
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return f"{path}: not valid Unicode (a lone surrogate)."
    return None
