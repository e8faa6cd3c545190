"""Inbound keywords through the real webhook endpoint; randomized STOP/START/HELP/send
sequences never let a message reach an opted-out recipient; CSV import, prices, admin."""

from decimal import Decimal
from urllib.parse import parse_qsl

import pytest
import responses
from django.core.management import call_command
from django.core.management.base import CommandError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compliance.models import ConsentEvent, ConsentSource, PriceEntry
from compliance.selectors import is_opted_out, policy_get
from tests.conftest import ACCOUNT_SID
from tests.triggers.test_webhooks import signed_post
from tests.workflows.test_engine import MESSAGES, message
from workflows.services import action_run_adhoc

OURS, OURS_2, PERSON = "+15017122661", "+15017122662", "+14155552671"
MG = "MG" + "d" * 32


def inbound(client, connection, body, *, sender=PERSON, to=OURS, sid=None, **extra):
    inbound.n = getattr(inbound, "n", 0) + 1
    params = {
        "MessageSid": sid or f"SM{inbound.n:032x}",
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "To": to,
        "Body": body,
        "NumMedia": "0",
        **extra,
    }
    return signed_post(client, connection, "messages", params)


class TestKeywords:
    @pytest.mark.parametrize(
        "body", ["STOP", "  stop ", "Stop.", "unsubscribe please", "QUIT", "end", "Cancel"]
    )
    def test_opt_out_keywords(self, client, connection, workspace, body):
        assert inbound(client, connection, body).status_code == 200
        event = ConsentEvent.objects.get()
        assert (event.contact, event.sender, event.kind, event.source) == (PERSON, OURS, "opt_out", "keyword")
        assert is_opted_out(workspace_id=workspace.pk, contact=PERSON, channel="sms", senders=(OURS,))
        assert not is_opted_out(workspace_id=workspace.pk, contact=PERSON, channel="sms", senders=(OURS_2,))

    def test_not_the_first_word_is_not_a_keyword(self, client, connection):
        inbound(client, connection, "please stop")
        assert not ConsentEvent.objects.exists()

    def test_stopall_opts_out_of_the_workspace_and_start_opts_back_in(self, client, connection, workspace):
        inbound(client, connection, "STOPALL")
        assert is_opted_out(workspace_id=workspace.pk, contact=PERSON, channel="call", senders=(OURS_2,))
        inbound(client, connection, "start")
        assert is_opted_out(workspace_id=workspace.pk, contact=PERSON, channel="sms", senders=(OURS_2,))
        assert not is_opted_out(workspace_id=workspace.pk, contact=PERSON, channel="sms", senders=(OURS,))

    def test_help_answers_the_help_text(self, client, connection, workspace):
        policy = policy_get(workspace)
        policy.help_text = "Acme Dental: call 555-0100. Reply STOP to opt out."
        policy.save()
        response = inbound(client, connection, "help")
        assert (
            "<Message>Acme Dental: call 555-0100. Reply STOP to opt out.</Message>"
            in response.content.decode()
        )
        assert not ConsentEvent.objects.exists()

    def test_extra_keywords_and_advanced_opt_out(self, client, connection, workspace):
        policy = policy_get(workspace)
        policy.opt_out_keywords, policy.help_keywords, policy.help_text = "ARRET, baja", "AIDE", "Aide: 555"
        policy.save()
        inbound(client, connection, "arret")
        assert ConsentEvent.objects.filter(keyword="ARRET").exists()
        assert "Aide: 555" in inbound(client, connection, "aide").content.decode()
        inbound(
            client, connection, "whatever", sender="+14155552672", OptOutType="STOP", MessagingServiceSid=MG
        )
        events = ConsentEvent.objects.filter(contact="+14155552672")
        assert {(e.sender, e.source) for e in events} == {
            (OURS, ConsentSource.ADVANCED_OPT_OUT),
            (MG, ConsentSource.ADVANCED_OPT_OUT),
        }

    def test_a_redelivery_records_nothing_twice(self, client, connection):
        inbound(client, connection, "STOP", sid="SM" + "e" * 32)
        inbound(client, connection, "STOP", sid="SM" + "e" * 32)
        assert ConsentEvent.objects.count() == 1

    def test_whatsapp_stop_is_per_channel(self, client, connection, workspace):
        inbound(client, connection, "STOP", sender="whatsapp:" + PERSON, to="whatsapp:+14155238886")
        assert is_opted_out(
            workspace_id=workspace.pk, contact=PERSON, channel="whatsapp", senders=("+14155238886",)
        )
        assert not is_opted_out(
            workspace_id=workspace.pk, contact=PERSON, channel="sms", senders=("+14155238886",)
        )


ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(
            ["STOP", "stop", "STOPALL", "START", "unstop", "HELP", "hello", "send", "send", "send"]
        ),
        st.sampled_from([OURS, OURS_2]),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=ACTIONS)
def test_randomized_keywords_and_sends_never_reach_an_opted_out_recipient(
    client, connection, workspace, steps
):
    ConsentEvent.objects.all().delete()
    # The model of Twilio's rules: per sender, STOPALL for all; START/UNSTOP undo on that sender.
    opted: dict[str, bool] = {OURS: False, OURS_2: False}
    everything = False
    with responses.RequestsMock(assert_all_requests_are_fired=False) as twilio:
        twilio.add(responses.POST, MESSAGES, json=message(body="Hi"), status=201)
        for index, (word, sender) in enumerate(steps):
            if word == "send":
                before = len(twilio.calls)
                action_run_adhoc(
                    slug="twilio/send-sms",
                    connection=connection,
                    inputs={"From": sender, "To": PERSON, "Body": "Hi"},
                )
                sent = [dict(parse_qsl(c.request.body)) for c in twilio.calls[before:]]
                blocked = everything or opted[sender]
                assert len(sent) == (0 if blocked else 1), (steps, index)
            else:
                inbound(client, connection, word, to=sender)  # a new MessageSid each time
                if word.upper() == "STOPALL":
                    everything = True
                elif word.upper() == "STOP":
                    opted[sender] = True
                elif word.upper() in ("START", "UNSTOP"):
                    # The latest event covering the send wins: an opt-in on this sender is
                    # newer than any workspace-wide opt-out before it.
                    opted[sender] = False
                    if everything:
                        everything = False
                        opted = {s: s != sender for s in opted}


class TestImportPricesAdmin:
    def test_consent_import_all_or_nothing(self, workspace, tmp_path):
        good = tmp_path / "ok.csv"
        good.write_text("phone,channel,note\n+14155552671,sms,paper form\n(415) 555-2672,,\n")
        call_command("consent_import", "acme", str(good))
        assert ConsentEvent.objects.filter(source="csv").count() == 2
        assert is_opted_out(workspace_id=workspace.pk, contact="+14155552672", channel="call")
        bad = tmp_path / "bad.csv"
        bad.write_text("phone\n+14155552673\nnot-a-number\n")
        with pytest.raises(CommandError, match="Nothing imported"):
            call_command("consent_import", "acme", str(bad))
        assert ConsentEvent.objects.count() == 2

    def test_refresh_prices_through_the_client(self, connection, twilio):
        twilio.add(
            responses.GET,
            "https://pricing.twilio.com/v1/Messaging/Countries/FR",
            json={
                "country": "France",
                "iso_country": "FR",
                "price_unit": "USD",
                "outbound_sms_prices": [
                    {
                        "carrier": "Orange",
                        "mcc": "208",
                        "mnc": "01",
                        "prices": [
                            {"number_type": "mobile", "base_price": "0.0798", "current_price": "0.0798"}
                        ],
                    },
                    {
                        "carrier": "SFR",
                        "mcc": "208",
                        "mnc": "10",
                        "prices": [
                            {"number_type": "mobile", "base_price": "0.0850", "current_price": "0.0850"}
                        ],
                    },
                ],
            },
        )
        call_command("refresh_prices", "FR", connection="main")
        entry = PriceEntry.objects.get()
        assert (entry.country, entry.channel, entry.price, entry.source) == (
            "FR",
            "sms",
            Decimal("0.0850"),
            "twilio",
        )
        assert twilio.calls[0].request.headers["Authorization"].startswith("Basic ")

    def test_admin_adds_an_opt_out_and_never_edits_one(self, client, workspace, make_staff):
        user = make_staff("op", workspace)
        client.force_login(user)
        response = client.post(
            "/admin/compliance/consentevent/add/",
            {
                "workspace": workspace.pk,
                "contact": "(415) 555-2671",
                "channel": "sms",
                "sender": "",
                "kind": "opt_out",
                "note": "asked on the phone",
            },
        )
        assert response.status_code == 302, response.content.decode()[:2000]
        event = ConsentEvent.objects.get()
        assert (event.contact, event.source, event.user) == ("+14155552671", "admin", user)
        change = client.get(f"/admin/compliance/consentevent/{event.pk}/change/")
        assert change.status_code == 200 and b'name="_save"' not in change.content
        assert client.post(f"/admin/compliance/consentevent/{event.pk}/delete/").status_code == 403

    def test_sandbox_banner(self, client, workspace, make_staff):
        from django.contrib.auth import get_user_model

        admin = get_user_model().objects.create_superuser("root", password="pw")
        policy = policy_get(workspace)
        policy.sandbox = True
        policy.save()
        client.force_login(admin)
        page = client.get(f"/admin/compliance/sendpolicy/{policy.pk}/change/", follow=True)
        assert b"sandbox mode" in page.content
