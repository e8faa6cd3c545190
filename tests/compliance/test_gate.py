"""The gate's checks, one by one and in order, called directly (as a campaign will)."""

import datetime as dt
from decimal import Decimal

import pytest

from compliance.gate import REFUSE, SEND, WAIT, send_gate
from compliance.models import ConsentKind, ConsentSource, SendLedger
from compliance.services import consent_record, inbound_message_consent, price_set
from twilioflow.core import errors

FROM, TO, FR = "+15017122661", "+14155552671", "+33612345678"
NY_TO = "+12125550123"  # a New York number (TO is San Francisco)
WA_FROM = "whatsapp:+14155238886"
MG = "MG" + "b" * 32
NOON_NY = dt.datetime(2024, 7, 1, 16, 0, tzinfo=dt.UTC)


def gate(workspace, connection, inputs, slug="twilio/send-sms", **kwargs):
    kwargs.setdefault("now", NOON_NY)
    return send_gate(workspace=workspace, connection=connection, action=slug, inputs=inputs, **kwargs)


def opt_out(workspace, contact=TO, **kwargs):
    kwargs.setdefault("source", ConsentSource.ADMIN)
    return consent_record(workspace=workspace, contact=contact, kind=ConsentKind.OPT_OUT, **kwargs)


def test_a_non_send_passes_untouched(workspace, connection, cleaned):
    inputs = cleaned("twilio/get-message", messageSid="SM" + "a" * 32)
    decision = gate(workspace, connection, inputs, slug="twilio/get-message")
    assert decision.verdict == SEND and decision.channel is None and decision.inputs == inputs


def test_a_plain_sms_passes_and_is_counted(workspace, connection, cleaned):
    decision = gate(workspace, connection, cleaned(From=FROM, To=TO, Body="Hi"), ledger_key="k1")
    assert (decision.verdict, decision.channel, decision.segments, decision.sandbox) == (
        SEND,
        "sms",
        1,
        False,
    )
    assert SendLedger.objects.get().key == "k1"
    gate(workspace, connection, cleaned(From=FROM, To=TO, Body="Hi"), ledger_key="k1")
    assert SendLedger.objects.count() == 1  # the same attempt counts once


class TestSuppression:
    def test_opted_out_of_this_sender(self, workspace, connection, cleaned):
        opt_out(workspace, sender=FROM)
        decision = gate(workspace, connection, cleaned(From=FROM, To=TO, Body="Hi"))
        assert decision.verdict == REFUSE and decision.error.code == errors.OPTED_OUT
        assert not decision.error.retryable and TO in decision.error.message
        other = gate(workspace, connection, cleaned(From="+15017122662", To=TO, Body="Hi"))
        assert other.verdict == SEND  # another sender of the workspace may still write

    def test_workspace_wide_and_channels(self, workspace, connection, cleaned):
        opt_out(workspace, channel="sms")
        assert gate(workspace, connection, cleaned(From=FROM, To=TO, Body="x")).error.code == errors.OPTED_OUT
        call = cleaned("twilio/make-call", From=FROM, To=TO, Url="https://example.com/t")
        assert gate(workspace, connection, call, slug="twilio/make-call").verdict == SEND
        opt_out(workspace, channel="all")
        assert gate(workspace, connection, call, slug="twilio/make-call").error.code == errors.OPTED_OUT

    def test_latest_event_wins(self, workspace, connection, cleaned):
        opt_out(workspace)
        consent_record(workspace=workspace, contact=TO, kind=ConsentKind.OPT_IN, source=ConsentSource.API)
        assert gate(workspace, connection, cleaned(From=FROM, To=TO, Body="x")).verdict == SEND

    def test_suppression_comes_before_every_other_check(self, workspace, connection, cleaned, policy):
        policy.quiet_hours_enabled, policy.max_segments = True, 1
        policy.save()
        opt_out(workspace)
        inputs = cleaned(From="whatsapp:+14155238886", To=TO, Body="x" * 400)
        night = dt.datetime(2024, 7, 1, 6, 0, tzinfo=dt.UTC)
        assert gate(workspace, connection, inputs, now=night).error.code == errors.OPTED_OUT


class TestQuietHours:
    @pytest.fixture(autouse=True)
    def _quiet(self, policy):
        policy.quiet_hours_enabled = True
        policy.save()

    NIGHT_NY = dt.datetime(2024, 7, 1, 3, 0, tzinfo=dt.UTC)  # 23:00 in New York

    def test_waits_until_the_window_opens(self, workspace, connection, cleaned):
        decision = gate(workspace, connection, cleaned(From=FROM, To=NY_TO, Body="x"), now=self.NIGHT_NY)
        assert decision.verdict == WAIT and decision.error.code == errors.QUIET_HOURS
        assert decision.wait_until == dt.datetime(2024, 7, 1, 12, 0, tzinfo=dt.UTC)  # 08:00 EDT
        assert not SendLedger.objects.exists()

    def test_fail_when_the_step_says_so(self, workspace, connection, cleaned):
        inputs = cleaned(From=FROM, To=NY_TO, Body="x", quiet_hours="fail")
        decision = gate(workspace, connection, inputs, now=self.NIGHT_NY)
        assert decision.verdict == REFUSE and decision.error.code == errors.QUIET_HOURS

    def test_the_recipient_zone_decides(self, workspace, connection, cleaned):
        # 03:00 UTC is 05:00 in Paris: still quiet there, until 08:00 CEST = 06:00 UTC.
        decision = gate(workspace, connection, cleaned(From=FROM, To=FR, Body="x"), now=self.NIGHT_NY)
        assert decision.wait_until == dt.datetime(2024, 7, 1, 6, 0, tzinfo=dt.UTC)

    def test_transactional_and_replies_are_exempt(self, workspace, connection, cleaned):
        inputs = cleaned(From=FROM, To=NY_TO, Body="Your code is 1234", transactional=True)
        assert gate(workspace, connection, inputs, now=self.NIGHT_NY).verdict == SEND

        class Reply:
            workflow_id, parent, context = None, None, {}
            trigger_payload = {"From": NY_TO, "Body": "Are you open?"}

        inputs = cleaned(From=FROM, To=NY_TO, Body="Yes until 22:00")
        assert gate(workspace, connection, inputs, now=self.NIGHT_NY, run=Reply()).verdict == SEND

    def test_per_workflow_override(self, workspace, connection, cleaned, policy):
        policy.workflow_overrides = {"7": {"quiet_hours_enabled": False}, "8": {"quiet_start": "23:30"}}
        policy.full_clean()
        policy.save()
        inputs = cleaned(From=FROM, To=NY_TO, Body="x")
        assert gate(workspace, connection, inputs, now=self.NIGHT_NY, workflow_id=7).verdict == SEND
        assert gate(workspace, connection, inputs, now=self.NIGHT_NY, workflow_id=8).verdict == SEND
        assert gate(workspace, connection, inputs, now=self.NIGHT_NY, workflow_id=9).verdict == WAIT


class TestWhatsappWindow:
    def wrote(self, connection, at, fake_clock):
        fake_clock.current = at
        inbound_message_consent(
            connection=connection, payload={"From": "whatsapp:" + TO, "To": WA_FROM, "Body": "hello"}
        )

    @pytest.mark.parametrize(
        "elapsed,verdict",
        [
            (dt.timedelta(hours=23, minutes=59), SEND),
            (dt.timedelta(hours=24, minutes=1), REFUSE),
            (dt.timedelta(hours=24), REFUSE),
        ],
    )
    def test_edges(self, workspace, connection, cleaned, fake_clock, elapsed, verdict):
        self.wrote(connection, NOON_NY - elapsed, fake_clock)
        inputs = cleaned("twilio/send-whatsapp", From=WA_FROM, To=TO, Body="Your table is ready")
        decision = gate(workspace, connection, inputs, slug="twilio/send-whatsapp")
        assert decision.verdict == verdict
        if verdict == REFUSE:
            assert decision.error.code == errors.WHATSAPP_WINDOW_CLOSED
            assert "ContentSid" in decision.error.message and "ContentVariables" in decision.error.message

    def test_never_wrote_and_templates(self, workspace, connection, cleaned):
        inputs = cleaned("twilio/send-whatsapp", From=WA_FROM, To=TO, Body="hi")
        assert (
            gate(workspace, connection, inputs, slug="twilio/send-whatsapp").error.code
            == errors.WHATSAPP_WINDOW_CLOSED
        )
        template = cleaned(
            "twilio/send-whatsapp",
            From=WA_FROM,
            To=TO,
            ContentSid="HX" + "1" * 32,
            ContentVariables={"1": "12/1"},
        )
        assert gate(workspace, connection, template, slug="twilio/send-whatsapp").verdict == SEND

    def test_the_window_is_per_sender(self, workspace, connection, cleaned, fake_clock):
        self.wrote(connection, NOON_NY - dt.timedelta(hours=1), fake_clock)
        inputs = cleaned("twilio/send-whatsapp", From="whatsapp:+14155238887", To=TO, Body="hi")
        assert gate(workspace, connection, inputs, slug="twilio/send-whatsapp").verdict == REFUSE


class TestSender:
    def test_whatsapp_sender_on_send_sms_is_refused_not_stripped(self, workspace, connection, cleaned):
        inputs = cleaned(From=WA_FROM, To=TO, Body="x")
        assert inputs["From"] == WA_FROM
        decision = gate(workspace, connection, inputs)
        assert decision.error.code == errors.SENDER_INVALID and "send-whatsapp" in decision.error.message

    @pytest.mark.parametrize(
        "sender,to,ok",
        [
            ("12345", TO, True),
            ("AcmeDental", FR, True),
            ("AcmeDental", TO, False),
            (MG, TO, True),
            ("+18005550199", TO, True),
        ],
    )
    def test_kinds(self, workspace, connection, cleaned, sender, to, ok):
        decision = gate(workspace, connection, cleaned(From=sender, To=to, Body="x"))
        assert (decision.verdict == SEND) is ok
        if not ok:
            assert decision.error.code == errors.SENDER_INVALID


class TestCostAndSize:
    def test_segment_cap(self, workspace, connection, cleaned, policy):
        policy.max_segments = 2
        policy.save()
        assert gate(workspace, connection, cleaned(From=FROM, To=TO, Body="a" * 306)).verdict == SEND
        decision = gate(workspace, connection, cleaned(From=FROM, To=TO, Body="a" * 307))
        assert decision.error.code == errors.SEND_CAP_REACHED and decision.error.details["segments"] == 3

    def test_daily_spend_cap_in_the_workspace_day(self, workspace, connection, cleaned, policy):
        workspace.time_zone = "America/New_York"
        workspace.save()
        price_set(workspace=workspace, country="US", channel="sms", price="0.0079")
        policy.daily_spend_cap = Decimal("0.02")
        policy.save()
        body = "a" * 200  # 2 segments: 0.0158
        first = gate(workspace, connection, cleaned(From=FROM, To=TO, Body=body), ledger_key="a")
        assert first.verdict == SEND and first.estimated_cost == Decimal("0.0158")
        second = gate(workspace, connection, cleaned(From=FROM, To=TO, Body=body), ledger_key="b")
        assert second.error.code == errors.SEND_CAP_REACHED
        # The next day in New York (04:00 UTC is still the same day there; 05:00 the next).
        late = NOON_NY.replace(hour=3, day=2)
        assert (
            gate(
                workspace, connection, cleaned(From=FROM, To=TO, Body=body), now=late, ledger_key="c"
            ).verdict
            == REFUSE
        )
        tomorrow = NOON_NY.replace(hour=5, day=2)
        assert (
            gate(
                workspace, connection, cleaned(From=FROM, To=TO, Body=body), now=tomorrow, ledger_key="d"
            ).verdict
            == SEND
        )


class TestDefaults:
    def test_status_callback_and_shorten_urls(self, workspace, connection, cleaned, policy, settings):
        settings.PUBLIC_BASE_URL = "https://flow.example.com"
        policy.shorten_urls = True
        policy.save()
        decision = gate(workspace, connection, cleaned(From=MG, To=TO, Body="see https://x.example"))
        assert (
            decision.inputs["StatusCallback"]
            == f"https://flow.example.com/hooks/twilio/{connection.public_id}/status"
        )
        assert decision.inputs["ShortenUrls"] is True
        mine = gate(
            workspace,
            connection,
            cleaned(From=FROM, To=TO, Body="x", StatusCallback="https://mine.example/cb"),
        )
        assert mine.inputs["StatusCallback"] == "https://mine.example/cb"
        assert "ShortenUrls" not in mine.inputs or not mine.inputs["ShortenUrls"]  # not via a service

    def test_no_public_base_url_no_callback(self, workspace, connection, cleaned, settings):
        settings.PUBLIC_BASE_URL = ""
        decision = gate(workspace, connection, cleaned(From=FROM, To=TO, Body="x"))
        assert not decision.inputs.get("StatusCallback")
