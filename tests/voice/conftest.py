"""Live calls through the real endpoints: signed incoming-call webhooks and live callbacks
built from tests/fixtures/twilio/incoming-call (the gather/ folder holds the callbacks)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from twilio.request_validator import RequestValidator

from tests.conftest import AUTH_TOKEN
from triggers.models import Trigger

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "twilio" / "incoming-call"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def signed_post(client, path: str, params: dict, *, token: str = AUTH_TOKEN):
    url = f"http://testserver{path}"
    signature = RequestValidator(token).compute_signature(url, params)
    return client.post(
        path,
        data=urlencode(params, doseq=True),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=signature,
    )


def next_url(twiml: str) -> str:
    """The path (with query) the answer tells Twilio to post to next."""
    found = re.search(r'(?:action="|<Redirect method="POST">)(http://testserver[^"<]+)', twiml)
    assert found, f"no callback in {twiml}"
    parts = urlsplit(found.group(1).replace("&amp;", "&"))
    return f"{parts.path}?{parts.query}"


class Caller:
    """A phone call as Twilio makes it: the first webhook, then each answer's callback."""

    def __init__(self, client, connection, call: str = "inbound"):
        self.client, self.connection = client, connection
        self.first = fixture(call)
        self.answer = ""

    def dial(self) -> str:
        response = signed_post(self.client, f"/hooks/twilio/{self.connection.public_id}/voice", self.first)
        assert response.status_code == 200, response.content
        self.answer = response.content.decode()
        if "<Redirect" in self.answer and "turn=0" in self.answer:
            # A live call: the webhook hands over to turn 0, which runs the workflow.
            response = signed_post(self.client, next_url(self.answer), self.first)
            assert response.status_code == 200, response.content
            self.answer = response.content.decode()
        return self.answer

    def respond(self, **given) -> str:
        """The caller's input (SpeechResult, Confidence, Digits) on the current answer."""
        params = {**fixture("gather/no-input"), **{k: str(v) for k, v in given.items()}}
        response = signed_post(self.client, next_url(self.answer), params)
        assert response.status_code == 200, response.content
        self.answer = response.content.decode()
        return self.answer


@pytest.fixture
def live_trigger(workspace, connection):
    def make(workflow, **values) -> Trigger:
        trigger = Trigger(
            workspace=workspace,
            workflow=workflow,
            connection=connection,
            name=f"calls-{Trigger.objects.count()}",
            kind="twilio/incoming-call",
            voice_answer={"action": "workflow"},
            **values,
        )
        trigger.full_clean()
        trigger.save()
        return trigger

    return make


@pytest.fixture
def caller(client, connection):
    return lambda call="inbound": Caller(client, connection, call)
