"""Swagger UI and Redoc from drf-spectacular-sidecar, with a Content-Security-Policy that
keeps the browser on this server: no CDN, no web font, no "powered by" image from outside.
The docs work with no internet."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

OFFLINE_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; worker-src 'self' blob:; "
    "style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; font-src 'self' data:"
)


class _Offline:
    def finalize_response(self, request: Any, response: HttpResponse, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        response["Content-Security-Policy"] = OFFLINE_POLICY
        return response


class OfflineSwaggerView(_Offline, SpectacularSwaggerView):
    pass


class OfflineRedocView(_Offline, SpectacularRedocView):
    pass
