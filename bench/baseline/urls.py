"""`/hook/<anything>`: verify, insert, answer TwiML. `/hook-q/<anything>`: the same, then
enqueue `bench.baseline.tasks.send` on commit (one broker per process)."""

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from twilio.request_validator import RequestValidator

from bench.baseline.models import Hook

TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
VALIDATOR = RequestValidator(TOKEN)
_broker = None


def broker():
    global _broker
    if _broker is None:
        from django_q.brokers import get_broker

        _broker = get_broker()
    return _broker


def _receive(request: HttpRequest, enqueue: bool) -> HttpResponse:
    params = request.POST.dict()
    if not VALIDATOR.validate(
        request.build_absolute_uri(), params, request.headers.get("X-Twilio-Signature", "")
    ):
        return HttpResponse(status=403)
    try:
        with transaction.atomic():
            hook = Hook.objects.create(sid=params.get("MessageSid", ""), payload=params)
            if enqueue:
                from django_q.tasks import async_task

                transaction.on_commit(
                    lambda: async_task("bench.baseline.tasks.send", hook.pk, broker=broker())
                )
    except IntegrityError:
        pass  # a retry: answered again, stored once
    return HttpResponse("<Response/>", content_type="text/xml")


@csrf_exempt
def hook(request: HttpRequest, key: str) -> HttpResponse:
    return _receive(request, enqueue=False)


@csrf_exempt
def hook_q(request: HttpRequest, key: str) -> HttpResponse:
    return _receive(request, enqueue=True)


urlpatterns = [path("hook/<str:key>", hook), path("hook-q/<str:key>", hook_q)]
