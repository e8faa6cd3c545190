"""Campaigns through their services: audience, sending through the engine and the gate,
opt-outs skipped with a reason, quiet hours deferred, pause / resume / cancel, crash and
resume with 0 duplicates, delivery callbacks, export, the command."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.management import call_command

from campaigns.audience import DUPLICATE, INVALID_NUMBER
from campaigns.models import CampaignRecipient, CampaignStatus, RecipientState
from campaigns.selectors import campaign_progress
from campaigns.services import (
    SettleBatch,
    campaign_advance,
    campaign_audience_import_csv,
    campaign_cancel,
    campaign_lane_run,
    campaign_pause,
    campaign_recipients_add_list,
    campaign_results_write,
    campaign_resume,
    campaign_start,
    campaigns_tick,
)
from compliance.models import ConsentKind, ConsentSource, SendLedger
from compliance.selectors import policy_get
from compliance.services import consent_record
from tests.campaigns.conftest import FROM, WorkerKilled, numbers
from twilioflow.core.errors import TwilioFlowError
from workflows.inbound import step_run_track_delivery
from workflows.models import Run, RunStatus, StepRun, StepStatus


def advance_all(campaign, rounds: int = 20) -> str:
    outcome = ""
    for _ in range(rounds):
        outcome = campaign_advance(campaign, budget=30)
        if outcome in ("done", "stopped", "later"):
            return outcome
    return outcome


def test_csv_import_maps_columns_and_reports_every_row_not_taken(make_campaign, workspace):
    consent_record(
        workspace=workspace, contact="+14155550103", kind=ConsentKind.OPT_OUT, source=ConsentSource.ADMIN
    )
    campaign = make_campaign()
    data = (
        b"Name,Mobile,City\n"
        b"Ada,+1 415 555 0101,Paris\n"
        b"Bob,not a number,Rome\n"
        b"Cy,(415) 555-0101,Oslo\n"  # the same number, national format
        b"Di,+14155550103,Lima\n"  # opted out
        b",,\n"  # a blank line is not a row
        b"Ed,,Kyiv\n"
    )
    added = campaign_audience_import_csv(
        campaign=campaign, data=data, phone_column="Mobile", variables="first_name=Name, City"
    )
    assert (added.added, added.opted_out) == (2, 1)
    report = {p.row: p.code for p in added.problems}
    assert report == {3: INVALID_NUMBER, 4: DUPLICATE, 7: INVALID_NUMBER}
    ada = CampaignRecipient.objects.get(phone="+14155550101")
    assert ada.variables == {"first_name": "Ada", "City": "Paris"} and ada.source_row == 2
    di = CampaignRecipient.objects.get(phone="+14155550103")
    assert di.state == RecipientState.OPTED_OUT and di.reason_code == "OPTED_OUT" and "Opted out" in di.reason
    campaign.refresh_from_db()
    assert [p["row"] for p in campaign.import_report] == [3, 4, 7]


def test_csv_with_an_unknown_column_or_unmapped_variable_is_a_field_error(make_campaign):
    campaign = make_campaign()
    with pytest.raises(TwilioFlowError) as caught:
        campaign_audience_import_csv(campaign=campaign, data="phone\n+14155550101\n", phone_column="Mobile")
    assert caught.value.code == "VALIDATION_ERROR" and "phone_column" in caught.value.fields
    with pytest.raises(TwilioFlowError) as caught:  # the body uses {{ first_name }}: no column maps it
        campaign_audience_import_csv(campaign=campaign, data="phone\n+14155550101\n", phone_column="phone")
    assert "variable_columns" in caught.value.fields
    assert not CampaignRecipient.objects.exists()


def test_campaign_sends_once_per_recipient_and_skips_opted_out_with_reason(
    make_campaign, workspace, fake_messages
):
    phones = numbers(5, start=2000)
    consent_record(
        workspace=workspace, contact=phones[2], kind=ConsentKind.OPT_OUT, source=ConsentSource.ADMIN
    )
    campaign = make_campaign()
    campaign_recipients_add_list(
        campaign=campaign,
        items=[{"phone": p, "first_name": f"N{i}"} for i, p in enumerate(phones)] + [phones[0]],
    )
    campaign_start(campaign=campaign)
    assert campaign.status == CampaignStatus.RUNNING and campaign.rate == 1000
    assert advance_all(campaign) == "done"
    assert sorted(fake_messages.to) == sorted(p for p in phones if p != phones[2])
    assert fake_messages.duplicates() == 0
    first = CampaignRecipient.objects.get(phone=phones[0])
    assert first.state == RecipientState.SENT and first.message_sid.startswith("SM")
    assert first.run.source == "campaign" and first.run.status == RunStatus.SUCCEEDED
    sent_body = [m["body"] for m in fake_messages.sent if m["to"] == phones[0]]
    assert sent_body == ["Hi N0, 20% off."]
    opted = CampaignRecipient.objects.get(phone=phones[2])
    assert (opted.state, opted.reason_code, opted.run) == (RecipientState.OPTED_OUT, "OPTED_OUT", None)
    # The spend ledger counts each send once, under the campaign's key.
    keys = set(SendLedger.objects.values_list("key", flat=True))
    assert f"campaign:{campaign.pk}:{first.pk}" in keys and len(keys) == 4
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED
    progress = campaign_progress(campaign)
    assert (progress.total, progress.sent, progress.opted_out, progress.percent) == (5, 4, 1, 100.0)


def texted_stop(workspace, phone: str) -> None:
    consent_record(
        workspace=workspace,
        contact=phone,
        kind=ConsentKind.OPT_OUT,
        source=ConsentSource.KEYWORD,
        keyword="STOP",
    )


def test_opt_out_after_import_is_caught_by_the_gate_at_send_time(make_campaign, workspace, fake_messages):
    phones = numbers(3, start=2100)
    campaign = make_campaign(body="Hello")
    campaign_recipients_add_list(campaign=campaign, items=phones)
    texted_stop(workspace, phones[1])
    campaign_start(campaign=campaign)
    advance_all(campaign)
    recipient = CampaignRecipient.objects.get(phone=phones[1])
    assert recipient.state == RecipientState.OPTED_OUT and "STOP" in recipient.reason
    assert phones[1] not in fake_messages.to and len(fake_messages.sent) == 2


def test_quiet_hours_defer_the_recipient_until_its_window_opens(
    make_campaign, workspace, fake_messages, fake_clock
):
    policy = policy_get(workspace)
    policy.quiet_hours_enabled = True
    policy.save()
    fake_clock.current = dt.datetime(2024, 7, 1, 6, 0, tzinfo=dt.UTC)  # 23:00 in San Francisco
    campaign = make_campaign(body="Hello")
    campaign_recipients_add_list(campaign=campaign, items=numbers(2, start=2200))
    campaign_start(campaign=campaign)
    assert campaign_advance(campaign, budget=5) == "later"
    assert fake_messages.sent == []
    deferred = CampaignRecipient.objects.filter(state=RecipientState.PENDING, reason_code="QUIET_HOURS")
    assert deferred.count() == 2 and all(r.not_before > fake_clock.current for r in deferred)
    assert campaign_progress(campaign).deferred == 2
    fake_clock.current = dt.datetime(2024, 7, 1, 16, 0, tzinfo=dt.UTC)  # 09:00 there
    assert advance_all(campaign) == "done"
    assert len(fake_messages.sent) == 2


def test_pause_resume_and_cancel(make_campaign, fake_messages):
    campaign = make_campaign(body="Hello")
    campaign_recipients_add_list(campaign=campaign, items=numbers(6, start=2300))
    campaign_start(campaign=campaign)
    assert campaign_advance(campaign, limit=2) == "more"
    assert len(fake_messages.sent) == 2
    assert campaign_pause(campaign=campaign) and campaign.status == CampaignStatus.PAUSED
    assert campaign_advance(campaign) == "stopped" and len(fake_messages.sent) == 2
    assert campaign_resume(campaign=campaign) and campaign.status == CampaignStatus.RUNNING
    assert campaign_advance(campaign, limit=1) == "more" and len(fake_messages.sent) == 3
    assert campaign_cancel(campaign=campaign)
    assert campaign_advance(campaign) == "stopped" and len(fake_messages.sent) == 3
    skipped = CampaignRecipient.objects.filter(state=RecipientState.SKIPPED, reason_code="CANCELLED")
    assert skipped.count() == 3
    assert not campaign_resume(campaign=campaign)  # cancelled is final


def test_a_worker_killed_mid_send_resumes_with_exactly_one_attempt_each(
    make_campaign, fake_messages, fake_clock
):
    """The worker dies while Twilio has the 4th message (no answer recorded). The restart
    reconciles that recipient from Twilio's listing instead of resending, then goes on."""
    phones = numbers(10, start=2400)
    campaign = make_campaign(body="Hello")
    campaign_recipients_add_list(campaign=campaign, items=phones)
    campaign_start(campaign=campaign)
    fake_messages.kill_after = 4
    with pytest.raises(WorkerKilled):
        campaign_advance(campaign, budget=30)
    stuck = CampaignRecipient.objects.get(state=RecipientState.SENDING)
    assert StepRun.objects.get(run=stuck.run).status == StepStatus.DISPATCHING
    fake_clock.advance(3600)  # the dead worker's run lease lapses
    assert advance_all(campaign) == "done"
    assert sorted(fake_messages.to) == sorted(phones) and fake_messages.duplicates() == 0
    stuck.refresh_from_db()
    assert stuck.state == RecipientState.SENT and stuck.message_sid == fake_messages.sent[3]["sid"]
    assert StepRun.objects.get(run=stuck.run, status=StepStatus.SUCCEEDED).reconciled
    assert Run.objects.filter(source="campaign").count() == 10


def test_delivery_callbacks_move_the_recipient_forward_never_back(make_campaign, connection, fake_messages):
    campaign = make_campaign(body="Hello")
    campaign_recipients_add_list(campaign=campaign, items=numbers(2, start=2500))
    campaign_start(campaign=campaign)
    advance_all(campaign)
    first, second = CampaignRecipient.objects.order_by("id")
    assert step_run_track_delivery(connection=connection, sid=first.message_sid, status="delivered")
    assert step_run_track_delivery(connection=connection, sid=first.message_sid, status="sent")  # late
    assert step_run_track_delivery(
        connection=connection, sid=second.message_sid, status="undelivered", error_code=30005
    )
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.state == RecipientState.DELIVERED
    assert (second.state, second.reason_code) == (RecipientState.FAILED, "TWILIO_30005")


def test_export_lists_every_recipient_and_every_row_not_taken(make_campaign, fake_messages):
    campaign = make_campaign()
    campaign_audience_import_csv(
        campaign=campaign,
        data="phone,first_name\n+14155552601,=cmd()\nbad,Bo\n",
        phone_column="phone",
        variables="first_name",
    )
    campaign_start(campaign=campaign)
    advance_all(campaign)
    out = io.StringIO()
    campaign_results_write(campaign, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [(r["phone"], r["state"]) for r in rows] == [("+14155552601", "sent"), ("bad", "not_imported")]
    assert rows[0]["first_name"] == "'=cmd()" and rows[0]["message_sid"].startswith("SM")
    assert rows[1]["reason_code"] == "INVALID_NUMBER"


def test_start_refuses_an_empty_audience_and_a_bad_sender(make_campaign):
    campaign = make_campaign(body="Hello")
    with pytest.raises(TwilioFlowError) as caught:
        campaign_start(campaign=campaign)
    assert "audience" in caught.value.fields
    with pytest.raises(TwilioFlowError) as caught:
        make_campaign(sender="not a sender!!")
    assert "sender" in caught.value.fields


def test_campaign_send_command_inline_and_export(make_campaign, fake_messages, tmp_path):
    campaign = make_campaign(body="Hello")
    campaign_recipients_add_list(campaign=campaign, items=numbers(3, start=2600))
    out = io.StringIO()
    call_command("campaign_send", str(campaign.pk), "--inline", "--interval", "0.01", stdout=out)
    text = out.getvalue()
    assert "3/3 (100%): sent 3" in text and "Status: completed." in text
    assert len(fake_messages.sent) == 3
    target = tmp_path / "results.csv"
    call_command("campaign_send", str(campaign.pk), "--export", str(target), stderr=io.StringIO())
    assert target.read_text().count("sent") == 3


def test_workflow_campaign_runs_the_workflow_per_recipient(make_campaign, make_workflow, fake_messages):
    flow = make_workflow(
        "welcome",
        [
            dict(
                name="hello",
                action="twilio/send-sms",
                inputs={
                    "From": "{{ trigger.From }}",
                    "To": "{{ trigger.To }}",
                    "Body": "Hi {{ vars.first_name }}",
                },
            )
        ],
    )
    campaign = make_campaign(body="", workflow=flow)
    campaign_recipients_add_list(campaign=campaign, items=[{"phone": "+14155552701", "first_name": "Ada"}])
    campaign_start(campaign=campaign)
    assert advance_all(campaign) == "done"
    assert [(m["to"], m["body"], m["from"]) for m in fake_messages.sent] == [("+14155552701", "Hi Ada", FROM)]
    recipient = CampaignRecipient.objects.get()
    assert recipient.state == RecipientState.SENT and recipient.run.workflow == flow


def test_scheduled_campaign_starts_on_the_tick_and_lanes_split_the_work(
    make_campaign, fake_messages, fake_clock, django_capture_on_commit_callbacks
):
    campaign = make_campaign(body="Hello", workers=2, start_at=fake_clock.current + dt.timedelta(hours=1))
    phones = numbers(6, start=2800)
    campaign_recipients_add_list(campaign=campaign, items=phones)
    campaign_start(campaign=campaign)
    assert campaign.status == CampaignStatus.SCHEDULED
    assert campaigns_tick() == {"started": 0, "lanes": 0}
    fake_clock.advance(2 * 3600)
    with django_capture_on_commit_callbacks() as enqueued:
        assert campaigns_tick()["started"] == 1
    assert len(enqueued) == 2  # one task per lane
    assert campaign_lane_run(campaign.pk, 0) == "more"  # its half is sent; lane 1's is not
    lane0 = {r.phone for r in CampaignRecipient.objects.all() if r.pk % 2 == 0}
    assert set(fake_messages.to) == lane0
    assert campaign_lane_run(campaign.pk, 1) == "done"
    assert sorted(fake_messages.to) == sorted(phones) and fake_messages.duplicates() == 0
    assert campaign_lane_run(campaign.pk, 0) == "stopped"


def test_a_scheduled_campaign_that_cannot_start_is_paused_with_the_reason(make_campaign, fake_clock):
    campaign = make_campaign(body="Hello", start_at=fake_clock.current + dt.timedelta(minutes=5))
    campaign_recipients_add_list(campaign=campaign, items=numbers(1, start=2900))
    campaign_start(campaign=campaign)
    CampaignRecipient.objects.all().delete()
    fake_clock.advance(600)
    assert campaigns_tick()["started"] == 0
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED and "no recipients" in campaign.note


def test_opt_out_during_a_slice_is_caught_by_the_engine_gate(make_campaign, workspace, fake_messages):
    """The slice's pre-check reads the gate's versions every half second; an opt-out that
    arrives meanwhile (here: while the first message is being sent) is still refused at
    send time by the engine's own gate, and the recipient is `opted_out` with the reason."""
    phones = numbers(3, start=2700)
    campaign = make_campaign(body="Hello")
    campaign_recipients_add_list(campaign=campaign, items=phones)
    record = fake_messages._record

    def record_then_opt_out(form: dict) -> dict:
        sent = record(form)
        if len(fake_messages.sent) == 1:
            texted_stop(workspace, phones[1])
        return sent

    fake_messages._record = record_then_opt_out
    campaign_start(campaign=campaign)
    assert advance_all(campaign) == "done"
    assert fake_messages.to == [phones[0], phones[2]]
    opted = CampaignRecipient.objects.get(phone=phones[1])
    assert (opted.state, opted.reason_code) == (RecipientState.OPTED_OUT, "OPTED_OUT")
    assert "STOP" in opted.reason


def test_settled_in_batches_a_delivery_callback_is_never_moved_back(
    make_campaign, connection, fake_messages, monkeypatch
):
    """Recipients are settled in batches after their sends; a callback that arrives first
    (delivered) wins over the batch's `sent`."""
    campaign = make_campaign(body="Hello")
    campaign_recipients_add_list(campaign=campaign, items=numbers(2, start=2800))
    campaign_start(campaign=campaign)
    real_add, seen = SettleBatch.add, []

    def add(self, recipient_id, state, values):
        if not seen:  # the first send's callback lands before its batch is written
            step_run_track_delivery(connection=connection, sid=values["message_sid"], status="delivered")
        seen.append(recipient_id)
        real_add(self, recipient_id, state, values)

    monkeypatch.setattr(SettleBatch, "add", add)
    assert advance_all(campaign) == "done"
    first, second = CampaignRecipient.objects.order_by("id")
    assert first.state == RecipientState.DELIVERED and first.message_sid
    assert second.state == RecipientState.SENT and second.message_sid
    assert len(fake_messages.sent) == 2 and len(seen) == 2


def test_statements_per_recipient_stay_few(make_campaign, fake_messages, django_assert_max_num_queries):
    """Issue 12's profile: ~22 statements per recipient (gate asked twice, workspace and
    connection read per run, the run read back, one settle each). The slice holds what it
    can and settles in batches; what is left is the never-twice path itself."""
    campaign = make_campaign(body="Hello")
    campaign_recipients_add_list(campaign=campaign, items=numbers(20, start=2900))
    campaign_start(campaign=campaign)
    with django_assert_max_num_queries(20 * 17 + 20):
        assert campaign_advance(campaign, budget=60) == "done"
    assert len(fake_messages.sent) == 20 and fake_messages.duplicates() == 0
