"""POST /hooks/twilio/<connection>/voice/live/<session>?turn=<n>: a live call's callbacks
(the caller's gathered input, a recording, a dial's end, a hold coming back). Signed like
every webhook (the connection's Auth Token); the turn is stored (`CallTurn`) before we
answer. An unknown or finished call gets a polite goodbye, never an error page."""

from __future__ import annotations

import logging

from django.http import HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from rest_framework.views import APIView

from triggers.apis import TwilioWebhookApi, _params
from triggers.inbound import clean_params
from voice import twiml
from voice.live import call_continue

logger = logging.getLogger(__name__)
XML = "application/xml"


@method_decorator(csrf_exempt, name="dispatch")
class LiveCallApi(APIView):
    authentication_classes: list = []
    permission_classes: list = []

    def get(self, request, public_id, session_id):
        return self.post(request, public_id, session_id)

    def post(self, request, public_id, session_id):
        django_request = request._request
        connection, refusal = TwilioWebhookApi()._connection(django_request, public_id)
        if refusal is not None:
            return refusal
        try:
            turn = int(django_request.GET.get("turn", ""))
        except ValueError:
            return HttpResponse(twiml.goodbye(), content_type=XML)
        try:
            body = call_continue(
                connection=connection,
                session_id=session_id,
                turn=turn,
                hold=django_request.GET.get("hold") == "1",
                params=clean_params(_params(django_request)),
            )
        except Exception:
            # The caller must hear something sensible, whatever broke: a goodbye, and the
            # error in the log (the turn row is already stored).
            logger.exception("Live call turn failed (session %s, turn %s)", session_id, turn)
            body = twiml.goodbye()
        return HttpResponse(body, content_type=XML)
