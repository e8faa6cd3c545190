"""Polling triggers (twilio/new-messages) against a fake Messages.json: paging, the cap and
the cursor, exactly-once delivery by SID, errors, the django-q2 schedule and `poll_now`."""

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from io import StringIO
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_q.models import Schedule

from tests.conftest import ACCOUNT_SID, API, AUTH_TOKEN
from triggers import polling
from triggers.models import MatchStatus, Trigger, TriggerEvent
from triggers.polling import poll_schedule_sync, poll_trigger, poll_trigger_task
from workflows.models import Run, RunStatus
from workflows.services import run_execute_inline

BASE = datetime(2024, 8, 24, 18, 0, tzinfo=UTC)
PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
OURS, ADA = "+15017122661", "+14155550123"


def message(n: int, *, minutes: float | None = None, sent: bool = True, **extra) -> dict:
    """Message number n, sent `minutes` (default n) after BASE, as Twilio lists it."""
    sid = f"SM{n:032x}"
    moment = BASE + timedelta(minutes=n if minutes is None else minutes)
    return {
        "sid": sid,
        "account_sid": ACCOUNT_SID,
        "api_version": "2010-04-01",
        "from": ADA,
        "to": OURS,
        "body": f"message {n}",
        "status": "received" if sent else "queued",
        "direction": "inbound",
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "error_code": None,
        "error_message": None,
        "messaging_service_sid": None,
        "date_created": format_datetime(moment),
        "date_updated": format_datetime(moment),
        "date_sent": format_datetime(moment) if sent else None,
        "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
        **extra,
    }


class FakeMessages:
    """Twilio's Messages.json list: newest first (unsent first), `DateSent>` on whole UTC days,
    From/To filters, PageSize and next_page_uri. Every request's query is kept."""

    def __init__(self, mock):
        self.messages: list[dict] = []
        self.requests: list[dict[str, str]] = []
        self.fail_on: dict[int, tuple[int, dict]] = {}  # request number → (status, body)
        mock.add_callback("GET", f"{API}{PATH}", callback=self._answer)

    def _answer(self, request):
        query = dict(parse_qsl(urlsplit(request.url).query))
        self.requests.append(query)
        if len(self.requests) in self.fail_on:
            status, body = self.fail_on[len(self.requests)]
            return status, {"Content-Type": "application/json"}, json.dumps(body)
        found = self.messages
        if "DateSent>" in query:
            day = query["DateSent>"]
            found = [m for m in found if not m["date_sent"] or sent_day(m) >= day]
        for name, field in (("From", "from"), ("To", "to")):
            if name in query:
                found = [m for m in found if m[field] == query[name]]
        found = [m for m in found if not m["date_sent"]] + sorted(
            (m for m in found if m["date_sent"]), key=sent_key, reverse=True
        )
        size, page = int(query.get("PageSize", 50)), int(query.get("Page", 0))
        chunk = found[page * size : (page + 1) * size]
        following = {k: v for k, v in query.items() if k not in ("Page", "PageToken")}
        following.update(Page=str(page + 1), PageToken=f"PA{page + 1}")
        body = {
            "messages": chunk,
            "page": page,
            "page_size": size,
            "start": page * size,
            "end": page * size + len(chunk) - 1,
            "uri": f"{PATH}?{urlencode(query)}",
            "next_page_uri": f"{PATH}?{urlencode(following)}" if len(found) > (page + 1) * size else None,
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(body)


def sent_key(record):
    return parsed(record["date_sent"])


def sent_day(record):
    return parsed(record["date_sent"]).astimezone(UTC).date().isoformat()


def parsed(value):
    from email.utils import parsedate_to_datetime

    return parsedate_to_datetime(value)


@pytest.fixture
def fake(twilio):
    return FakeMessages(twilio)


@pytest.fixture
def make_poller(workspace, connection, make_workflow):
    def make(workflow=None, created_at=BASE - timedelta(minutes=1), **values):
        workflow = workflow or make_workflow(
            name=f"wf-{Trigger.objects.count()}",
            steps=[
                dict(
                    name="note",
                    kind="set_variables",
                    inputs={
                        "variables": {
                            "count": "{{ trigger.created|length }}",
                            "first": "{{ trigger.created.0.body }}",
                        }
                    },
                )
            ],
        )
        trigger = Trigger(
            workspace=workspace,
            workflow=workflow,
            connection=connection,
            name=f"poll-{Trigger.objects.count()}",
            kind="twilio/new-messages",
            **values,
        )
        trigger.full_clean()
        trigger.save()
        Trigger.objects.filter(pk=trigger.pk).update(created_at=created_at)
        trigger.refresh_from_db()
        return trigger

    return make


def polls():
    """The polling schedules (the migrations also create the run sweeper's)."""
    return Schedule.objects.filter(func="triggers.polling.poll_trigger_task")


def runs(trigger):
    return list(Run.objects.filter(trigger=trigger).order_by("id"))


def sids(run):
    return [m["sid"] for m in run.trigger_payload["created"]]


# --- fetching ------------------------------------------------------------------------------
class TestFetching:
    def test_follows_next_page_uri_through_three_pages(self, fake, make_poller, monkeypatch):
        monkeypatch.setattr(polling, "PAGE_SIZE", 2)
        fake.messages = [message(n) for n in range(1, 6)]
        trigger = make_poller(poll_from=ADA, poll_to=OURS)

        result = poll_trigger(trigger=trigger)

        assert len(fake.requests) == 3
        assert fake.requests[0] == {"DateSent>": "2024-08-24", "PageSize": "2", "From": ADA, "To": OURS}
        assert [q.get("Page") for q in fake.requests] == [None, "1", "2"]
        assert all(q["From"] == ADA and q["To"] == OURS for q in fake.requests)
        assert result == {
            "fetched": 5,
            "created": 5,
            "cursor": "2024-08-24T18:05:00+00:00",
            "capped": False,
            "run_id": runs(trigger)[0].pk,
        }

    def test_one_run_per_poll_with_created_oldest_first_and_updated_empty(self, fake, make_poller):
        fake.messages = [message(n) for n in (1, 2, 3)]
        trigger = make_poller()
        poll_trigger(trigger=trigger)

        [run] = runs(trigger)
        payload = run.trigger_payload
        assert set(payload) == {"created", "updated", "cursor"}
        assert isinstance(payload["created"], list) and payload["updated"] == []
        assert sids(run) == [f"SM{n:032x}" for n in (1, 2, 3)]
        assert payload["created"][0] == message(1)  # the record exactly as Twilio listed it
        assert payload["cursor"] == "2024-08-24T18:03:00+00:00"
        assert (run.source, run.trigger_id, run.workflow_id) == ("trigger", trigger.pk, trigger.workflow_id)

        run = run_execute_inline(run.pk)
        assert run.status == RunStatus.SUCCEEDED
        assert run.context["vars"]["count"] in (3, "3")
        assert run.context["vars"]["first"] == "message 1"

    def test_each_message_is_recorded_as_an_event(self, fake, make_poller, connection):
        fake.messages = [message(1), message(2)]
        trigger = make_poller()
        poll_trigger(trigger=trigger)
        events = TriggerEvent.objects.filter(trigger=trigger).order_by("sid")
        assert [e.dedupe_key for e in events] == [f"poll:{trigger.pk}:SM{n:032x}" for n in (1, 2)]
        assert {(e.purpose, e.kind, e.match_status, e.from_number, e.to_number) for e in events} == {
            ("poll", "twilio/new-messages", MatchStatus.MATCHED, ADA, OURS)
        }
        assert events[0].payload == message(1)

    def test_nothing_new_starts_no_run(self, fake, make_poller):
        trigger = make_poller()
        result = poll_trigger(trigger=trigger)
        assert result == {"fetched": 0, "created": 0, "cursor": None, "capped": False, "run_id": None}
        assert runs(trigger) == [] and TriggerEvent.objects.count() == 0
        trigger.refresh_from_db()
        assert trigger.last_polled_at is not None and trigger.last_poll_error == ""

    def test_first_poll_starts_at_the_triggers_creation(self, fake, make_poller):
        fake.messages = [message(1, minutes=-30), message(2, minutes=-1), message(3, minutes=2)]
        trigger = make_poller(created_at=BASE)
        result = poll_trigger(trigger=trigger)
        assert result["created"] == 1 and sids(runs(trigger)[0]) == [f"SM{3:032x}"]

    def test_queued_messages_wait_for_a_later_poll(self, fake, make_poller):
        fake.messages = [message(1), message(2, sent=False)]
        trigger = make_poller()
        assert poll_trigger(trigger=trigger)["created"] == 1

        fake.messages = [message(1), message(2, minutes=3)]  # now sent
        assert poll_trigger(trigger=trigger)["created"] == 1
        assert [sids(run) for run in runs(trigger)] == [[f"SM{1:032x}"], [f"SM{2:032x}"]]


# --- the cursor and exactly-once ---------------------------------------------------------------
class TestCursor:
    def test_cursor_persists_between_polls(self, fake, make_poller):
        fake.messages = [message(1), message(2)]
        trigger = make_poller()
        poll_trigger(trigger=trigger)
        stored = Trigger.objects.get(pk=trigger.pk)
        assert stored.poll_cursor == BASE + timedelta(minutes=2)

        fake.messages.append(message(3))
        result = poll_trigger(trigger=stored)  # a fresh instance reads the stored cursor
        assert result["created"] == 1 and result["cursor"] == "2024-08-24T18:03:00+00:00"
        assert Trigger.objects.get(pk=trigger.pk).poll_cursor == BASE + timedelta(minutes=3)
        assert fake.requests[-1]["DateSent>"] == "2024-08-24"

    def test_date_filter_follows_the_cursor_by_day(self, fake, make_poller):
        trigger = make_poller()
        Trigger.objects.filter(pk=trigger.pk).update(poll_cursor=datetime(2024, 9, 2, 0, 3, tzinfo=UTC))
        trigger.refresh_from_db()
        poll_trigger(trigger=trigger)
        # Five minutes of overlap behind the cursor reach back into the previous day.
        assert fake.requests[-1]["DateSent>"] == "2024-09-01"

    def test_duplicates_across_polls_are_not_re_emitted(self, fake, make_poller):
        fake.messages = [message(1), message(2)]
        trigger = make_poller()
        poll_trigger(trigger=trigger)
        again = poll_trigger(trigger=trigger)
        assert again["fetched"] == 2 and again["created"] == 0 and again["run_id"] is None
        assert len(runs(trigger)) == 1 and TriggerEvent.objects.count() == 2

    def test_a_late_message_behind_the_cursor_is_still_delivered_once(self, fake, make_poller):
        fake.messages = [message(1), message(5)]
        trigger = make_poller()
        poll_trigger(trigger=trigger)
        fake.messages.append(message(3))  # listed late, sent before the cursor
        assert poll_trigger(trigger=trigger)["created"] == 1
        assert poll_trigger(trigger=trigger)["created"] == 0
        delivered = [sid for run in runs(trigger) for sid in sids(run)]
        assert sorted(delivered) == [f"SM{n:032x}" for n in (1, 3, 5)]

    def test_two_polling_triggers_each_get_every_message(self, fake, make_poller):
        fake.messages = [message(1)]
        first, second = make_poller(), make_poller()
        assert poll_trigger(trigger=first)["created"] == 1
        assert poll_trigger(trigger=second)["created"] == 1

    def test_a_capped_poll_keeps_the_cursor_and_the_next_takes_the_rest(self, fake, make_poller):
        # Five messages ten minutes apart; a poll may take only three unseen ones.
        fake.messages = [message(n, minutes=10 * n) for n in range(1, 6)]
        trigger = make_poller()

        first = poll_trigger(trigger=trigger, cap=3)
        assert first["capped"] is True and (first["fetched"], first["created"]) == (3, 3)
        assert first["cursor"] is None  # capped: the cursor stays where it was
        assert fake.requests[0]["PageSize"] == "3"
        assert sids(runs(trigger)[0]) == [f"SM{n:032x}" for n in (3, 4, 5)]

        # The next poll reads the same window, skips what it delivered, takes the rest:
        # messages already delivered do not count toward the cap.
        second = poll_trigger(trigger=trigger, cap=3)
        assert (second["fetched"], second["created"], second["capped"]) == (5, 2, False)
        assert second["cursor"] == "2024-08-24T18:50:00+00:00"
        assert sids(runs(trigger)[1]) == [f"SM{n:032x}" for n in (1, 2)]

        fake.messages.append(message(6, minutes=60))
        third = poll_trigger(trigger=trigger)
        assert third["created"] == 1 and sids(runs(trigger)[2]) == [f"SM{6:032x}"]
        delivered = [sid for run in runs(trigger) for sid in sids(run)]
        assert len(delivered) == len(set(delivered)) == 6

    def test_a_poll_that_takes_exactly_the_cap_and_nothing_is_left_is_not_capped(self, fake, make_poller):
        fake.messages = [message(n) for n in range(1, 4)]
        trigger = make_poller()
        first = poll_trigger(trigger=trigger, cap=3)
        assert (first["fetched"], first["created"], first["capped"]) == (3, 3, False)
        assert first["cursor"] == "2024-08-24T18:03:00+00:00"
        again = poll_trigger(trigger=trigger, cap=3)
        assert (again["created"], again["capped"]) == (0, False)

    def test_capped_polls_deliver_a_backlog_in_full_cap_per_poll(self, fake, make_poller):
        fake.messages = [message(n) for n in range(1, 6)]
        trigger = make_poller()
        assert poll_trigger(trigger=trigger, cap=3)["capped"] is True
        second = poll_trigger(trigger=trigger, cap=3)
        assert (second["fetched"], second["created"], second["capped"]) == (5, 2, False)
        assert second["cursor"] == "2024-08-24T18:05:00+00:00"
        third = poll_trigger(trigger=trigger, cap=3)
        assert (third["fetched"], third["created"], third["capped"]) == (5, 0, False)
        assert [sids(run) for run in runs(trigger)] == [
            [f"SM{n:032x}" for n in (3, 4, 5)],
            [f"SM{n:032x}" for n in (1, 2)],
        ]


# --- errors ----------------------------------------------------------------------------------
class TestErrors:
    def test_twilio_error_keeps_the_cursor_and_records_the_error(self, fake, make_poller):
        fake.messages = [message(1)]
        trigger = make_poller()
        poll_trigger(trigger=trigger)
        fake.messages.append(message(2))
        fake.fail_on[2] = (500, {"code": 20500, "message": "Internal Server Error", "status": 500})

        result = poll_trigger(trigger=trigger)

        assert result["error"] == "PROVIDER_ERROR: Internal Server Error"
        assert (result["created"], result["cursor"]) == (0, "2024-08-24T18:01:00+00:00")
        stored = Trigger.objects.get(pk=trigger.pk)
        assert stored.poll_cursor == BASE + timedelta(minutes=1)
        assert stored.last_poll_error == "PROVIDER_ERROR: Internal Server Error"
        assert AUTH_TOKEN not in stored.last_poll_error
        assert len(runs(trigger)) == 1

        # The next good poll delivers the message and clears the error.
        assert poll_trigger(trigger=stored)["created"] == 1
        assert Trigger.objects.get(pk=trigger.pk).last_poll_error == ""

    def test_an_error_on_a_later_page_records_nothing(self, fake, make_poller, monkeypatch):
        monkeypatch.setattr(polling, "PAGE_SIZE", 2)
        fake.messages = [message(n) for n in range(1, 6)]
        fake.fail_on[2] = (429, {"code": 20429, "message": "Too Many Requests", "status": 429})
        trigger = make_poller()
        result = poll_trigger(trigger=trigger)
        assert result["error"].startswith("RATE_LIMITED")
        assert TriggerEvent.objects.count() == 0 and runs(trigger) == []
        assert poll_trigger(trigger=trigger)["created"] == 5  # at-least-once: all delivered later

    def test_bad_credentials_are_recorded_without_secrets(self, fake, make_poller):
        fake.fail_on[1] = (401, {"code": 20003, "message": "Authenticate", "status": 401})
        trigger = make_poller()
        result = poll_trigger(trigger=trigger)
        assert result["error"] == "AUTH_EXPIRED: Authenticate"
        trigger.refresh_from_db()
        assert trigger.poll_cursor is None and trigger.last_polled_at is not None
        assert AUTH_TOKEN not in trigger.last_poll_error

    def test_disabled_workflow_is_not_polled(self, fake, make_poller):
        trigger = make_poller()
        trigger.workflow.enabled = False
        trigger.workflow.save()
        assert poll_trigger(trigger=trigger)["skipped"] == "disabled"
        assert fake.requests == []

    def test_a_webhook_trigger_cannot_be_polled(self, connection, workspace, make_workflow):
        from twilioflow.core.errors import TwilioFlowError

        trigger = Trigger.objects.create(
            workspace=workspace,
            workflow=make_workflow(),
            connection=connection,
            name="sms",
            kind="twilio/incoming-sms",
        )
        with pytest.raises(TwilioFlowError) as caught:
            poll_trigger(trigger=trigger)
        assert caught.value.code == "VALIDATION_ERROR"


# --- the schedule ------------------------------------------------------------------------------
class TestSchedule:
    def test_saving_a_polling_trigger_creates_its_schedule(self, make_poller):
        trigger = make_poller(poll_interval_minutes=15)
        schedule = polls().get()
        assert (schedule.func, schedule.args, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
            "triggers.polling.poll_trigger_task",
            str(trigger.pk),
            Schedule.MINUTES,
            15,
            -1,
        )
        assert trigger.poll_schedule_id == schedule.pk

    def test_interval_changes_update_the_schedule(self, make_poller):
        trigger = make_poller(poll_interval_minutes=60)
        later = timezone.now() + timedelta(hours=1)
        polls().update(next_run=later)
        trigger.poll_interval_minutes = 5
        trigger.save()
        schedule = polls().get()
        # A shorter interval takes effect now, not after the hour already scheduled.
        assert schedule.minutes == 5 and schedule.next_run <= timezone.now() + timedelta(minutes=5)

    def test_disabling_removes_it_and_enabling_brings_it_back(self, make_poller):
        trigger = make_poller()
        trigger.enabled = False
        trigger.save()
        assert polls().count() == 0
        assert Trigger.objects.get(pk=trigger.pk).poll_schedule_id is None
        trigger.enabled = True
        trigger.save()
        assert polls().get().minutes == 5
        assert Trigger.objects.get(pk=trigger.pk).poll_schedule_id == polls().get().pk

    def test_deleting_the_trigger_or_its_workflow_removes_it(self, make_poller):
        trigger = make_poller()
        other = make_poller()
        assert polls().count() == 2
        trigger.delete()
        assert list(polls().values_list("args", flat=True)) == [str(other.pk)]
        other.workflow.delete()  # cascades to the trigger
        assert polls().count() == 0

    def test_webhook_triggers_have_no_schedule(self, make_poller, connection, workspace, make_workflow):
        Trigger.objects.create(
            workspace=workspace,
            workflow=make_workflow(),
            connection=connection,
            name="sms",
            kind="twilio/incoming-sms",
        )
        assert polls().count() == 0
        trigger = make_poller()
        trigger.kind = "twilio/incoming-sms"
        trigger.save()
        assert polls().count() == 0

    def test_sync_is_idempotent(self, make_poller):
        trigger = make_poller()
        first = poll_schedule_sync(trigger)
        assert poll_schedule_sync(trigger).pk == first.pk and polls().count() == 1

    def test_the_task_polls_by_id(self, fake, make_poller):
        fake.messages = [message(1)]
        trigger = make_poller()
        assert poll_trigger_task(trigger.pk)["created"] == 1
        assert poll_trigger_task(999_999) == {"skipped": "not found"}


# --- poll_now --------------------------------------------------------------------------------
class TestPollNow:
    def test_prints_the_counts(self, fake, make_poller):
        fake.messages = [message(1), message(2)]
        trigger = make_poller()
        out = StringIO()
        call_command("poll_now", trigger.name, stdout=out)
        printed = json.loads(out.getvalue())
        assert printed["trigger"] == trigger.pk
        assert (printed["fetched"], printed["created"], printed["capped"]) == (2, 2, False)
        assert printed["cursor"] == "2024-08-24T18:02:00+00:00"

        out = StringIO()
        call_command("poll_now", str(trigger.pk), stdout=out)
        assert json.loads(out.getvalue())["created"] == 0

    def test_unknown_trigger_is_not_found(self, db):
        with pytest.raises(CommandError, match="NOT_FOUND: No trigger 'nope'"):
            call_command("poll_now", "nope")

    def test_webhook_trigger_is_refused(self, connection, workspace, make_workflow):
        Trigger.objects.create(
            workspace=workspace,
            workflow=make_workflow(),
            connection=connection,
            name="sms",
            kind="twilio/incoming-sms",
        )
        with pytest.raises(CommandError, match="VALIDATION_ERROR"):
            call_command("poll_now", "sms")

    def test_a_twilio_error_fails_the_command(self, fake, make_poller):
        fake.fail_on[1] = (500, {"code": 20500, "message": "Internal Server Error", "status": 500})
        trigger = make_poller()
        with pytest.raises(CommandError, match="PROVIDER_ERROR"):
            call_command("poll_now", trigger.name, stdout=StringIO())
