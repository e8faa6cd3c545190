"""Twilio webhook endpoints: one URL per connection and purpose, signed with that
connection's Auth Token. Thin: verify, read (`triggers.inbound`), hand to
`triggers.events` (or `triggers.continuations` for a call's gathered input), answer."""

from __future__ import annotations

import logging

from django.http import HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from rest_framework.views import APIView

from connections.services import webhook_rejection_record
from connections.webhook_urls import ENDPOINT_PURPOSES, WEBHOOK
from triggers import signatures
from triggers.continuations import run_continue
from triggers.events import webhook_receive
from triggers.inbound import PayloadRefused, clean_params, inbound_read
from triggers.kinds.base import Answer
from triggers.models import Trigger
from triggers.routing import routing_for

security_log = logging.getLogger("twilioflow.security")


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"code": code, "message": message}, status=status)


def _params(request) -> dict[str, list[str]]:
    source = request.POST if request.method == "POST" else request.GET
    return {key: source.getlist(key) for key in source}


def _answer(answer: Answer) -> HttpResponse:
    return HttpResponse(answer.body, content_type=answer.content_type, status=answer.status)


def _refused(request, connection, reason: str) -> None:
    """Count the refusal (per connection, or globally for an unknown one): time, method, path
    and reason, never the body or a header."""
    webhook_rejection_record(
        connection=connection, method=request.method or "", path=request.path, reason=reason
    )


def _base_url(request) -> str:
    url = signatures.public_url(request)
    return url[: url.index("/hooks/twilio/")] if "/hooks/twilio/" in url else ""


@method_decorator(csrf_exempt, name="dispatch")
class TwilioWebhookApi(APIView):
    """POST (or GET) /hooks/twilio/<connection uuid>/<purpose>"""

    authentication_classes: list = []
    permission_classes: list = []

    def get(self, request, *args, **kwargs):
        return self._receive(request._request, **kwargs)

    def post(self, request, *args, **kwargs):
        return self._receive(request._request, **kwargs)

    def _connection(self, request, public_id):
        routing = routing_for(public_id)
        if routing is None:
            _refused(request, None, "UNKNOWN_CONNECTION")
            return None, _error(404, "NOT_FOUND", "No such webhook URL.")
        request.twilioflow_routing = routing  # read by _receive: the triggers come with it
        connection = routing.connection
        if not connection.auth_token:
            security_log.warning(
                "Webhook for connection %s refused: it has no Auth Token to check signatures",
                connection.pk,
            )
            _refused(request, connection, "WEBHOOK_AUTH_TOKEN_MISSING")
            return None, _error(
                403,
                "WEBHOOK_AUTH_TOKEN_MISSING",
                "This connection has no Auth Token, so Twilio's signature "
                "cannot be checked. Add the Auth Token to the connection.",
            )
        if not signatures.verify(request, connection.auth_token):
            security_log.warning(
                "Webhook refused: bad or missing X-Twilio-Signature (connection %s, %s %s, from %s)",
                connection.pk,
                request.method,
                request.path,
                request.META.get("REMOTE_ADDR"),
            )
            _refused(request, connection, "INVALID_SIGNATURE")
            return None, _error(403, "INVALID_SIGNATURE", "The X-Twilio-Signature is missing or wrong.")
        return connection, None

    def _receive(self, request, public_id, purpose, trigger_id=None):
        if purpose not in ENDPOINT_PURPOSES:
            return _error(404, "NOT_FOUND", "No such webhook URL.")
        connection, refusal = self._connection(request, public_id)
        if refusal is not None:
            return refusal
        trigger = None
        if purpose == WEBHOOK:  # a trigger's own URL: the trigger must be this connection's
            trigger = Trigger.objects.filter(public_id=trigger_id, connection=connection).first()
            if trigger is None:
                _refused(request, connection, "UNKNOWN_TRIGGER")
                return _error(404, "NOT_FOUND", "No such webhook URL.")
        try:
            inbound = inbound_read(request, purpose)
        except PayloadRefused as refused:
            security_log.info(
                "Signed %s webhook on connection %s refused: %s", purpose, connection.pk, refused.reason
            )
            return JsonResponse(
                {"code": "VALIDATION_ERROR", "reason": refused.reason, "message": refused.message}, status=400
            )
        return _answer(
            webhook_receive(
                connection=connection,
                purpose=purpose,
                inbound=inbound,
                trigger=trigger,
                base_url=_base_url(request),
                routing=request.twilioflow_routing,
            )
        )


@method_decorator(csrf_exempt, name="dispatch")
class TwilioGatherApi(APIView):
    """POST /hooks/twilio/<connection uuid>/voice/gather/<run id>: the caller's input."""

    authentication_classes: list = []
    permission_classes: list = []

    def post(self, request, public_id, run_id):
        django_request = request._request
        connection, refusal = TwilioWebhookApi()._connection(django_request, public_id)
        if refusal is not None:
            return refusal
        # The run and its voice answer are looked up within this connection only; the
        # digits are sanitised like every webhook's params (they land in the run's payload).
        return _answer(
            run_continue(connection=connection, run_id=run_id, params=clean_params(_params(django_request)))
        )
