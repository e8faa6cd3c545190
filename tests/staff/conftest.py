"""Seeding helpers for the staff pages' tests: inbound messages as stored trigger events and
outbound messages as send steps of runs, at chosen times."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from campaigns.models import Campaign, CampaignRecipient
from triggers.models import MatchStatus, TriggerEvent
from workflows.models import Run, RunStatus, StepKind, StepRun, StepStatus

OUR = "+15017122661"
ALICE = "+14155550101"
BOB = "+14155550102"
_ids = itertools.count(1)


def at(days_ago: float = 0, hour: int = 12, now: dt.datetime | None = None) -> dt.datetime:
    base = (now or dt.datetime.now(dt.UTC)).replace(hour=hour, minute=0, second=0, microsecond=0)
    return base - dt.timedelta(days=days_ago)


def inbound(connection, *, contact=ALICE, number=OUR, body="hello", when=None, whatsapp=False, media=()):
    n = next(_ids)
    sid = f"SM{n:032x}"
    prefix = "whatsapp:" if whatsapp else ""
    payload = {
        "MessageSid": sid,
        "From": prefix + contact,
        "To": prefix + number,
        "Body": body,
        "NumMedia": len(media),
        "media": [{"url": url, "content_type": "image/jpeg"} for url in media],
    }
    event = TriggerEvent.objects.create(
        connection=connection,
        purpose="messages",
        kind="twilio/incoming-whatsapp" if whatsapp else "twilio/incoming-sms",
        dedupe_key=f"key:{sid}",
        sid=sid,
        payload=payload,
        params={},
        from_number=prefix + contact,
        to_number=prefix + number,
        match_status=MatchStatus.NO_MATCH,
    )
    if when is not None:
        TriggerEvent.objects.filter(pk=event.pk).update(received_at=when)
        event.received_at = when
    return event


def outbound(
    connection,
    *,
    contact=ALICE,
    number=OUR,
    body="hi back",
    when=None,
    action="twilio/send-sms",
    status=StepStatus.SUCCEEDED,
    delivery="",
    delivery_error=None,
    run_status=RunStatus.SUCCEEDED,
    error_code="",
    source="inbox",
):
    n = next(_ids)
    when = when or dt.datetime.now(dt.UTC)
    run = Run.objects.create(
        workspace_id=connection.workspace_id,
        source=source,
        status=run_status,
        adhoc_steps=[{"name": "send", "kind": "action", "action": action}],
        error_code=error_code,
    )
    Run.objects.filter(pk=run.pk).update(created_at=when)
    step = StepRun.objects.create(
        run=run,
        sequence=1,
        step_name="send",
        kind=StepKind.ACTION,
        action=action,
        status=status,
        inputs={"From": number, "To": contact, "Body": body},
        twilio_sid=f"SM{n:032x}" if status == StepStatus.SUCCEEDED else "",
        connection=connection,
        delivery_status=delivery,
        delivery_error_code=delivery_error,
        error_code=error_code,
        started_at=when,
    )
    return step


def make_campaign(
    workspace, connection, *, name="Spring sale", status="running", seed=(), rate=2.0, **fields
):
    """A campaign with recipients in the given states: `seed` = [(state, how many)], numbered
    +14155550001…; a failed one carries Twilio's 30003."""
    campaign = Campaign.objects.create(
        workspace=workspace,
        connection=connection,
        name=name,
        sender=OUR,
        status=status,
        rate=rate,
        **{"body": "Hi {{ first_name }}", "rate_source": "override", **fields},
    )
    number = 0
    for state, count in seed:
        for _ in range(count):
            number += 1
            CampaignRecipient.objects.create(
                campaign=campaign,
                phone=f"+1415555{number:04d}",
                variables={"first_name": f"P{number}"},
                source_row=number + 1,
                state=state,
                reason_code="TWILIO_30003" if state == "failed" else "",
                reason="Twilio: undelivered." if state == "failed" else "",
            )
    return campaign


@pytest.fixture
def seat_client(client, make_staff, workspace):
    """A logged-in client for a member of `workspace` with a given role."""

    def make(role="operator", username=None):
        user = make_staff(username or f"user-{role}", workspace, role)
        client.force_login(user)
        return client

    return make
