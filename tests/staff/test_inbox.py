"""The inbox merge: inbound events and our runs' sends, one thread per contact and number,
in order; unread counts, filters, the conversation page and replies through the gate."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl

import pytest
import responses
from django.urls import reverse
from django.utils import timezone

from compliance.models import ConsentEvent, ContactActivity
from staff.selectors.inbox import conversation_list, conversation_messages
from tests.conftest import ACCOUNT_SID
from tests.staff.conftest import ALICE, BOB, OUR, at, inbound, outbound
from workflows.models import Run, RunStatus, StepStatus

pytestmark = pytest.mark.django_db


def test_one_thread_per_contact_and_number_inbound_and_outbound_in_order(connection, django_user_model):
    user = django_user_model.objects.create_user("u")
    inbound(connection, contact=ALICE, body="first", when=at(2, 9))
    outbound(connection, contact=ALICE, body="second", when=at(2, 10))
    inbound(connection, contact=ALICE, body="third", when=at(2, 11), whatsapp=True)
    inbound(connection, contact=BOB, body="bob writes", when=at(1, 9))
    inbound(connection, contact=ALICE, number="+15017122662", body="other line", when=at(3, 9))

    conversations, more = conversation_list(workspace_id=connection.workspace_id, user=user)
    assert not more
    keys = [(c.contact, c.number) for c in conversations]
    assert keys == [(BOB, OUR), (ALICE, OUR), (ALICE, "+15017122662")]  # newest first
    alice = conversations[1]
    assert (alice.count, alice.unread, alice.last_body, alice.last_channel) == (3, 2, "third", "whatsapp")
    assert alice.needs_reply

    thread = conversation_messages(workspace_id=connection.workspace_id, contact=ALICE, number=OUR)
    assert [(m.direction, m.body) for m in thread] == [("in", "first"), ("out", "second"), ("in", "third")]
    assert thread[1].tick[1] == "queued"


def test_filters_search_channel_number_needs_reply(connection, django_user_model):
    user = django_user_model.objects.create_user("u")
    inbound(connection, contact=ALICE, body="Where is my parcel?", when=at(1))
    outbound(connection, contact=BOB, body="Your code is 1234", when=at(1))
    inbound(connection, contact="+14155550103", body="hola", whatsapp=True, when=at(1))
    ws = connection.workspace_id

    def contacts(**filters):
        return [c.contact for c in conversation_list(workspace_id=ws, user=user, **filters)[0]]

    assert contacts(search="parcel") == [ALICE]
    assert contacts(search="0102") == [BOB]
    assert contacts(channel="whatsapp") == ["+14155550103"]
    assert set(contacts(channel="sms")) == {ALICE, BOB}
    assert set(contacts(needs_reply=True)) == {ALICE, "+14155550103"}
    assert contacts(number="+15550000000") == []


def test_opening_a_conversation_marks_it_read(connection, seat_client):
    client = seat_client("operator")
    inbound(connection, contact=ALICE, body="one")
    inbound(connection, contact=ALICE, body="two")
    page = client.get(reverse("staff:inbox")).content.decode()
    assert 'aria-label="2 unread"' in page
    response = client.get(reverse("staff:conversation", kwargs={"number": OUR, "contact": ALICE}))
    assert response.status_code == 200
    assert "one" in response.content.decode() and "two" in response.content.decode()
    assert "unread" not in client.get(reverse("staff:inbox")).content.decode().split("tf-conversations")[1]


def test_another_workspaces_conversation_is_a_404(connection, other_workspace, make_staff, client):
    inbound(connection, contact=ALICE, body="secret of acme")
    stranger = make_staff("stranger", other_workspace, "owner")
    client.force_login(stranger)
    url = reverse("staff:conversation", kwargs={"number": OUR, "contact": ALICE})
    assert client.get(url).status_code == 404
    assert client.get(url + "thread/").status_code == 404
    assert client.post(url + "estimate/", {"body": "hi", "channel": "sms"}).status_code == 404
    response = client.post(url + "reply/", {"body": "hi", "channel": "sms"})
    assert response.status_code == 404
    assert "secret of acme" not in client.get(reverse("staff:inbox")).content.decode()
    assert not Run.objects.exists()


def test_a_viewer_cannot_reply(connection, seat_client):
    client = seat_client("viewer")
    inbound(connection, contact=ALICE, body="hello")
    url = reverse("staff:conversation", kwargs={"number": OUR, "contact": ALICE})
    page = client.get(url).content.decode()
    assert "Send reply" not in page and "viewer" in page
    assert client.post(url + "reply/", {"body": "hi", "channel": "sms"}).status_code == 403
    assert not Run.objects.exists()


@responses.activate
def test_a_reply_is_a_one_step_inbox_run_through_the_gate(connection, seat_client):
    client = seat_client("operator")
    inbound(connection, contact=ALICE, body="Are you open?")
    responses.post(
        f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
        json={"sid": "SM" + "f" * 32, "status": "queued", "from": OUR, "to": ALICE, "num_segments": "1"},
        status=201,
    )
    url = reverse("staff:conversation", kwargs={"number": OUR, "contact": ALICE})
    response = client.post(url + "reply/", {"body": "Yes, until 6pm.", "channel": "sms"})
    assert response.status_code == 302
    run = Run.objects.get()
    assert (run.source, run.status, run.workflow_id) == ("inbox", RunStatus.SUCCEEDED, None)
    assert (
        run.trigger_payload["Body"] == "Are you open?"
        and run.trigger_payload["answered_by"] == "user-operator"
    )
    step = run.step_runs.get()
    assert step.inputs["To"] == ALICE and step.twilio_sid == "SM" + "f" * 32
    assert len(responses.calls) == 1
    thread = client.get(url + "thread/").content.decode()
    assert "Yes, until 6pm." in thread and "queued" in thread


def test_an_opted_out_contact_is_refused_by_the_gate(connection, seat_client):
    client = seat_client("operator")
    inbound(connection, contact=ALICE, body="STOP")
    ConsentEvent.objects.create(
        workspace=connection.workspace,
        contact=ALICE,
        channel="sms",
        kind="opt_out",
        source="keyword",
        keyword="STOP",
    )
    url = reverse("staff:conversation", kwargs={"number": OUR, "contact": ALICE})
    assert "Opted out of SMS" in client.get(url).content.decode()
    with responses.RequestsMock() as mock:  # nothing may reach Twilio
        response = client.post(url + "reply/", {"body": "Please come back", "channel": "sms"})
        assert not mock.calls
    assert response.status_code == 400
    assert "OPTED_OUT" in response.content.decode()
    run = Run.objects.get()
    assert (run.source, run.status, run.error_code) == ("inbox", RunStatus.FAILED, "OPTED_OUT")
    assert run.step_runs.get().status == StepStatus.FAILED


def test_the_estimate_shows_segments_cost_and_a_closed_whatsapp_window(connection, seat_client):
    from compliance.models import PriceEntry

    client = seat_client("operator")
    inbound(connection, contact=ALICE, body="hi", whatsapp=True)
    PriceEntry.objects.create(workspace=connection.workspace, country="US", channel="sms", price="0.0079")
    url = reverse("staff:estimate", kwargs={"number": OUR, "contact": ALICE})
    text = client.post(url, {"body": "x" * 161, "channel": "sms"}).content.decode()
    assert "161 characters" in text and "2 segments (GSM-7)" in text and "0.0158 USD" in text
    text = client.post(url, {"body": "é✓", "channel": "sms"}).content.decode()
    assert "1 segment (UCS-2)" in text
    # No inbound WhatsApp activity recorded: the window is closed, the gate would refuse.
    text = client.post(url, {"body": "hello", "channel": "whatsapp"}).content.decode()
    assert "Would not be sent" in text and "24 hours" in text
    page = client.get(
        reverse("staff:conversation", kwargs={"number": OUR, "contact": ALICE})
    ).content.decode()
    assert "WhatsApp window: closed" in page and "templates only" in page
    ContactActivity.objects.create(
        workspace=connection.workspace,
        channel="whatsapp",
        contact=ALICE,
        sender=OUR,
        last_inbound_at=timezone.now() - dt.timedelta(hours=1),
    )
    page = client.get(
        reverse("staff:conversation", kwargs={"number": OUR, "contact": ALICE})
    ).content.decode()
    assert "WhatsApp window: open until" in page
    text = client.post(url, {"body": "hello", "channel": "whatsapp"}).content.decode()
    assert "Would not be sent" not in text


def test_whatsapp_replies_free_form_in_the_window_and_templates_outside(connection, seat_client):
    client = seat_client("operator")
    inbound(
        connection,
        contact=ALICE,
        body="photo attached",
        whatsapp=True,
        media=["https://media.example/cat.jpg"],
    )
    url = reverse("staff:conversation", kwargs={"number": OUR, "contact": ALICE})
    thread = client.get(url + "thread/").content.decode()
    assert '<img class="tf-media" src="https://media.example/cat.jpg"' in thread  # media shown
    messages_url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    with responses.RequestsMock() as mock:
        # The window is closed (no inbound recorded by the gate): free text is refused unsent.
        response = client.post(url + "reply/", {"body": "hello", "channel": "whatsapp"})
        assert response.status_code == 400 and "WHATSAPP_WINDOW_CLOSED" in response.content.decode()
        assert not mock.calls
        # A template may be sent at any time.
        mock.post(messages_url, json={"sid": "SM" + "a" * 32, "status": "queued"}, status=201)
        content_sid = "HX" + "b" * 32
        response = client.post(
            url + "reply/",
            {"channel": "whatsapp", "content_sid": content_sid, "content_variables": '{"1": "Ada"}'},
        )
        assert response.status_code == 302
        sent = dict(parse_qsl(mock.calls[0].request.body))
        assert sent["To"] == "whatsapp:" + ALICE and sent["From"] == "whatsapp:" + OUR
        assert sent["ContentSid"] == content_sid and "Body" not in sent
    page = client.get(url).content.decode()
    assert content_sid in page  # offered again next time the window is closed
    statuses = list(Run.objects.order_by("id").values_list("source", "status", "error_code"))
    assert statuses == [("inbox", "failed", "WHATSAPP_WINDOW_CLOSED"), ("inbox", "succeeded", "")]


def test_the_thread_reads_old_sends_from_the_index_and_new_ones_directly(connection):
    from staff.models import SentIndexState, SentMessage
    from staff.selectors.inbox import sent_index_refresh

    old = outbound(connection, contact=ALICE, body="last week", when=at(7))
    other = outbound(connection, contact=BOB, body="not alice", when=at(7))
    new = outbound(connection, contact=ALICE, body="just now")  # younger than the index's lag
    through = sent_index_refresh()
    assert old.pk <= through < new.pk
    assert set(SentMessage.objects.values_list("step_run_id", "contact")) == {
        (old.pk, ALICE),
        (other.pk, BOB),
    }
    thread = conversation_messages(workspace_id=connection.workspace_id, contact=ALICE, number=OUR)
    assert [m.body for m in thread] == ["last week", "just now"]
    assert sent_index_refresh() == through  # nothing new: nothing re-read
    assert SentIndexState.objects.get().through_pk == through
    # A pruned step run leaves the index with it.
    old.run.delete()
    assert not SentMessage.objects.filter(step_run_id=old.pk).exists()
