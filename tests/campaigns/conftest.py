"""A stateful fake Twilio Messages API (through `responses`): every POST gets its own SID and
is remembered, and the listing returns what was sent to a `To`, as Twilio would after the
fact (what the engine's reconciliation reads)."""

from __future__ import annotations

import email.utils
import json
import re
from collections import Counter
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.utils import timezone

from campaigns.services import campaign_create
from tests.conftest import ACCOUNT_SID

MESSAGES_RE = re.compile(rf"https://api\.twilio\.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages\.json.*")
FROM = "+15017122661"


class WorkerKilled(BaseException):
    """Raised from inside a request: nothing in the worker catches it, as with a SIGKILL."""


class FakeMessages:
    def __init__(self, mock: responses.RequestsMock) -> None:
        self.sent: list[dict] = []
        self.kill_after: int | None = None  # raise WorkerKilled once this many were accepted
        mock.add_callback(responses.POST, MESSAGES_RE, callback=self._post)
        mock.add_callback(responses.GET, MESSAGES_RE, callback=self._get)

    def _record(self, form: dict) -> dict:
        sid = f"SM{len(self.sent) + 1:032x}"
        created = email.utils.format_datetime(timezone.now())
        record = {
            "sid": sid,
            "account_sid": ACCOUNT_SID,
            "to": form.get("To"),
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": form.get("Body", ""),
            "direction": "outbound-api",
            "status": "queued",
            "num_segments": "1",
            "num_media": "0",
            "price": None,
            "price_unit": "USD",
            "error_code": None,
            "error_message": None,
            "date_created": created,
            "date_updated": created,
            "date_sent": created,
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
        }
        self.sent.append(record)
        return record

    def _post(self, request):
        form = {k: v[0] for k, v in parse_qs(request.body or "").items()}
        record = self._record(form)
        if self.kill_after is not None and len(self.sent) >= self.kill_after:
            self.kill_after = None
            raise WorkerKilled(f"killed while sending to {record['to']}")
        return (201, {}, json.dumps(record))

    def _get(self, request):
        query = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        found = [m for m in self.sent if m["to"] == query.get("To")]
        return (200, {}, json.dumps({"messages": found[::-1], "next_page_uri": None, "page": 0}))

    @property
    def to(self) -> list[str]:
        return [m["to"] for m in self.sent]

    def duplicates(self) -> int:
        return sum(n - 1 for n in Counter(self.to).values())


@pytest.fixture
def fake_messages(twilio):
    return FakeMessages(twilio)


@pytest.fixture
def make_campaign(workspace, connection):
    def make(**fields):
        values = dict(name="Spring sale", sender=FROM, body="Hi {{ first_name }}, 20% off.", mps=1000)
        values.update(fields)
        return campaign_create(workspace=workspace, connection=connection, **values)

    return make


def numbers(count: int, start: int = 0) -> list[str]:
    """Valid, distinct US numbers."""
    return [f"+1415555{(start + i) % 10000:04d}" for i in range(count)]
