import os

import requests
from django.utils import timezone

from bench.baseline.models import Hook

_session = requests.Session()
ACCOUNT = "AC" + "0" * 32


def send(hook_id: int) -> str:
    hook = Hook.objects.get(pk=hook_id)
    response = _session.post(
        f"{os.environ['TWILIO_API_BASE']}/2010-04-01/Accounts/{ACCOUNT}/Messages.json",
        data={
            "To": hook.payload.get("From", ""),
            "From": hook.payload.get("To", ""),
            "Body": hook.payload.get("Body", ""),
        },
        auth=(ACCOUNT, "0f1e2d3c4b5a69788796a5b4c3d2e1f0"),
        timeout=(5, 30),
    )
    response.raise_for_status()
    Hook.objects.filter(pk=hook_id).update(sent_sid=response.json()["sid"], done_at=timezone.now())
    return "sent"
