"""Failures surface where they happened (issue 11): an instant reply whose template fails is
recorded on the event; an event that started nothing says why for each trigger; refused
webhooks are counted per connection (unknown connections globally) and shown."""

from __future__ import annotations

import pytest
from django.urls import reverse

from connections.models import WebhookRejection, WebhookRejectionCount
from connections.selectors import webhook_rejections_recent
from tests.triggers.test_webhooks import fixture, signed_post
from triggers.models import MatchStatus, TriggerEvent


@pytest.fixture
def superuser_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", password="pw"))
    return client


def event_url(event):
    return reverse("admin:triggers_triggerevent_change", args=[event.pk])


class TestInstantReplyErrors:
    def test_a_failing_reply_template_is_recorded_and_shown(
        self, client, superuser_client, connection, make_trigger
    ):
        make_trigger(reply_message="Hi {{ trigger.Nope }}")
        response = signed_post(client, connection, "messages", fixture("incoming-sms", "plain"))
        assert response.status_code == 200
        assert response.content.decode().endswith("<Response />")
        event = TriggerEvent.objects.get()
        assert event.reply_status == "failed" and event.reply_error_code
        assert "Nope" in event.reply_error_message
        page = superuser_client.get(event_url(event)).content.decode()
        assert "Not sent" in page and "Nope" in page and event.reply_error_code in page
        listing = superuser_client.get(reverse("admin:triggers_triggerevent_changelist")).content.decode()
        assert "Reply failed" in listing

    def test_a_sent_reply_is_marked_sent(self, client, connection, make_trigger):
        make_trigger(reply_message="Got it")
        signed_post(client, connection, "messages", fixture("incoming-sms", "plain"))
        assert TriggerEvent.objects.get().reply_status == "sent"


class TestWhyNothingMatched:
    def test_each_trigger_says_why(self, client, superuser_client, connection, make_trigger):
        params = fixture("incoming-sms", "plain")
        numbers = make_trigger(numbers=["+14155552671"])
        keyword = make_trigger(keywords="STOP, UNSUBSCRIBE")
        sender = make_trigger(from_pattern=r"^\+44")
        off = make_trigger(enabled=False)
        call = make_trigger(kind="twilio/incoming-call")
        signed_post(client, connection, "messages", params)
        event = TriggerEvent.objects.get()
        assert event.match_status == MatchStatus.DISABLED  # `off` matched, but is disabled
        reasons = {row["trigger_id"]: row["reasons"] for row in event.match_reasons}
        assert reasons[numbers.pk] == [f"number filter: To {params['To']} is not one of +14155552671"]
        assert reasons[keyword.pk][0].startswith("keyword: the first word IS is not one of STOP, UNSUBSCRIBE")
        assert reasons[sender.pk] == [f"From pattern: {params['From']} does not match ^\\+44"]
        assert reasons[off.pk] == ["the trigger is disabled"]
        assert reasons[call.pk] == ["listens for twilio/incoming-call, not twilio/incoming-sms"]
        page = superuser_client.get(event_url(event)).content.decode()
        assert "Why nothing started" in page and "the trigger is disabled" in page
        assert "number filter" in page

    def test_no_trigger_at_all(self, client, superuser_client, connection):
        signed_post(client, connection, "messages", fixture("incoming-sms", "plain"))
        event = TriggerEvent.objects.get()
        assert event.match_status == MatchStatus.NO_MATCH and event.match_reasons == []
        assert "no trigger for it" in superuser_client.get(event_url(event)).content.decode()

    def test_a_match_pays_nothing_for_reasons(self, client, connection, make_trigger):
        make_trigger()
        make_trigger(keywords="STOP")
        signed_post(client, connection, "messages", fixture("incoming-sms", "plain"))
        assert TriggerEvent.objects.get().match_reasons == []


class TestRefusedWebhooks:
    def test_bad_signatures_are_counted_and_shown_without_body_or_secret(
        self, client, superuser_client, connection, make_trigger
    ):
        from tests.conftest import AUTH_TOKEN

        make_trigger()
        params = {**fixture("incoming-sms", "plain"), "Body": "very private body"}
        for _ in range(3):
            assert signed_post(client, connection, "messages", params, token="f" * 32).status_code == 403
        total, rows = webhook_rejections_recent(connection=connection)
        assert total == 3 and len(rows) == 3
        assert rows[0].reason == "INVALID_SIGNATURE"
        assert rows[0].path == f"/hooks/twilio/{connection.public_id}/messages"
        page = superuser_client.get(reverse("admin:connections_connection_change", args=[connection.pk]))
        html = page.content.decode()
        assert "3 request(s) refused" in html and "INVALID_SIGNATURE" in html
        assert "very private body" not in html and AUTH_TOKEN not in html and "f" * 32 not in html

    def test_missing_auth_token_is_counted(self, client, make_connection):
        from tests.conftest import API_KEY_SECRET, API_KEY_SID

        keyed = make_connection(
            name="keyed",
            kind="api_key",
            auth_token=None,
            api_key_sid=API_KEY_SID,
            api_key_secret=API_KEY_SECRET,
        )
        assert (
            client.post(f"/hooks/twilio/{keyed.public_id}/messages", data={"From": "+1"}).status_code == 403
        )
        assert WebhookRejection.objects.get().reason == "WEBHOOK_AUTH_TOKEN_MISSING"

    def test_unknown_connections_are_counted_globally(self, client, superuser_client, db):
        for _ in range(2):
            response = client.post(
                "/hooks/twilio/00000000-0000-0000-0000-000000000000/messages", data={"x": "1"}
            )
            assert response.status_code == 404
        counter = WebhookRejectionCount.objects.get(scope="unknown")
        assert counter.count == 2 and counter.connection is None
        assert not WebhookRejection.objects.exists()
        listing = superuser_client.get(reverse("admin:connections_connection_changelist")).content.decode()
        assert "2 webhook request(s) named no connection" in listing

    def test_a_failing_count_never_turns_the_403_into_a_500(self, client, connection, monkeypatch):
        def broken(*args, **kwargs):
            raise RuntimeError("database says no")

        monkeypatch.setattr(WebhookRejectionCount.objects, "filter", broken)
        params = fixture("incoming-sms", "plain")
        assert signed_post(client, connection, "messages", params, token="f" * 32).status_code == 403

    def test_only_the_last_few_are_kept(self, client, connection):
        from connections.services import REJECTIONS_KEPT

        params = fixture("incoming-sms", "plain")
        for _ in range(REJECTIONS_KEPT + 15):
            signed_post(client, connection, "messages", params, token="f" * 32)
        total, _ = webhook_rejections_recent(connection=connection)
        assert total == REJECTIONS_KEPT + 15
        assert WebhookRejection.objects.count() < REJECTIONS_KEPT + 10
