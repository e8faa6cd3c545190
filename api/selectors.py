"""The API's reads: every queryset scoped to the caller's workspaces."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from triggers.models import Trigger
from triggers.numbers import trigger_webhook_url
from twilioflow.core.errors import TwilioFlowError
from workflows.models import Run


def runs_filtered(queryset: QuerySet[Run], filters: dict[str, Any]) -> QuerySet[Run]:
    """The runs list's filters (validated by RunFilterSerializer)."""
    if "workflow" in filters:
        queryset = queryset.filter(workflow_id=filters["workflow"])
    if "status" in filters:
        queryset = queryset.filter(status=filters["status"])
    if "source" in filters:
        queryset = queryset.filter(source=filters["source"])
    if "created_after" in filters:
        queryset = queryset.filter(created_at__gte=filters["created_after"])
    if "created_before" in filters:
        queryset = queryset.filter(created_at__lt=filters["created_before"])
    if filters.get("phone_number"):
        queryset = queryset.filter(search_text__contains=filters["phone_number"].strip())
    if filters.get("twilio_sid"):
        sid = filters["twilio_sid"].strip()
        queryset = queryset.filter(Q(search_text__contains=sid) | Q(step_runs__twilio_sid=sid)).distinct()
    if filters.get("top_level"):
        queryset = queryset.filter(parent__isnull=True)
    return queryset


def trigger_url(trigger: Trigger, request: Any = None) -> str | None:
    """The URL Twilio must call for the trigger (PUBLIC_BASE_URL, else this server's own
    address as the request saw it), or None for a polled kind."""
    try:
        return trigger_webhook_url(trigger)
    except TwilioFlowError:
        if request is None:
            return None
        base = request.build_absolute_uri("/").rstrip("/")
        return trigger_webhook_url(trigger, base_url=base)
