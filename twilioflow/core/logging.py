"""Log filters: a request id on every line, and no secret on any line."""

from __future__ import annotations

import contextvars
import logging

from twilioflow.core.redaction import redact_data, redact_text

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class RedactSecretsFilter(logging.Filter):
    """Masks secrets in the rendered message, its args and any exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not drop the line
            message = str(record.msg)
        record.msg = redact_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
            record.exc_info = None
        for attr in ("request", "data"):
            value = getattr(record, attr, None)
            if isinstance(value, dict):
                setattr(record, attr, redact_data(value))
        return True
