"""Gunicorn's access log without the static files (`make run`, `scripts/serve.py`): one line
per admin page or webhook, not twenty per page. `WEB_LOG_STATIC=true` logs them too."""

from __future__ import annotations

import os

from gunicorn.glogging import Logger  # type: ignore[import-untyped]

STATIC_PREFIXES = ("/static/", "/favicon.ico")


class QuietStaticLogger(Logger):
    def access(self, resp, req, environ, request_time):
        log_static = os.environ.get("WEB_LOG_STATIC", "").lower() in ("1", "true", "yes", "on")
        if not log_static and str(environ.get("PATH_INFO", "")).startswith(STATIC_PREFIXES):
            return
        super().access(resp, req, environ, request_time)
