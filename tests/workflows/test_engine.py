"""The engine: steps, retries, never-twice reconciliation, control steps, children."""

from urllib.parse import parse_qsl

import pytest
import requests
import responses

from tests.conftest import ACCOUNT_SID
from workflows.engine import compare
from workflows.models import Run, RunStatus, StepRun, StepStatus, WaitingFor
from workflows.services import run_create, run_execute_inline, runs_recover

MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
CALLS = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
SM = "SM" + "a" * 32
FROM = "+15017122661"
TO = "+14155552671"


def sms_step(name="notify", body="Hi {{ trigger.name }}, your order {{ trigger.order }} shipped.", **extra):
    return dict(
        name=name,
        action="twilio/send-sms",
        inputs={"From": FROM, "To": "{{ trigger.phone }}", "Body": body},
        **extra,
    )


PAYLOAD = {"name": "Ada", "order": "A-17", "phone": TO}


def message(body="Hi Ada, your order A-17 shipped.", sid=SM, **extra):
    from email.utils import format_datetime

    from django.utils import timezone

    return {
        "sid": sid,
        "status": "queued",
        "to": TO,
        "from": FROM,
        "body": body,
        "direction": "outbound-api",
        "date_created": format_datetime(timezone.now()),
        "price": None,
        "error_code": None,
        **extra,
    }


def posts(twilio):
    return [c for c in twilio.calls if c.request.method == "POST"]


def execute(workflow, payload=PAYLOAD, **kwargs):
    run = run_create(workflow=workflow, payload=payload, enqueue=False, **kwargs)
    return run_execute_inline(run.pk)


class TestActions:
    def test_order_shipped_sms_end_to_end(self, make_workflow, twilio):
        workflow = make_workflow(steps=[sms_step()])
        twilio.add(responses.POST, MESSAGES, status=201, json=message())
        run = execute(workflow)
        assert run.status == RunStatus.SUCCEEDED
        assert dict(parse_qsl(twilio.calls[0].request.body))["Body"] == "Hi Ada, your order A-17 shipped."
        step_run = run.step_runs.get()
        assert (step_run.status, step_run.twilio_sid, step_run.attempt) == (StepStatus.SUCCEEDED, SM, 1)
        assert step_run.inputs["To"] == TO
        assert step_run.exchanges[0]["status"] == 201
        assert "Authorization" not in str(step_run.exchanges)
        assert run.context["steps"]["notify"]["sid"] == SM
        assert SM in run.search_text and TO in run.search_text

    def test_outputs_feed_later_steps(self, make_workflow, twilio):
        workflow = make_workflow(
            steps=[
                sms_step(),
                sms_step(name="confirm", body="Ref {{ steps.notify.sid }} ({{ steps.notify.encoding }})"),
            ]
        )
        twilio.add(responses.POST, MESSAGES, status=201, json=message())
        run = execute(workflow)
        assert run.status == RunStatus.SUCCEEDED
        assert dict(parse_qsl(twilio.calls[1].request.body))["Body"] == f"Ref {SM} (GSM-7)"

    def test_undefined_variable_fails_the_step_without_a_request(self, make_workflow, twilio):
        workflow = make_workflow(steps=[sms_step(body="Hi {{ trigger.nmae }}")])
        run = execute(workflow)
        assert run.status == RunStatus.FAILED
        assert run.error_code == "TEMPLATE_ERROR"
        assert "trigger.nmae" in run.error_message and "notify" in run.error_message
        assert len(twilio.calls) == 0

    def test_invalid_rendered_input_is_a_validation_error(self, make_workflow, twilio):
        workflow = make_workflow(steps=[sms_step()])
        run = execute(workflow, payload={**PAYLOAD, "phone": ""})
        assert (run.status, run.error_code) == (RunStatus.FAILED, "VALIDATION_ERROR")
        assert len(twilio.calls) == 0

    def test_429_then_success_retries_after_retry_after(self, make_workflow, twilio, fake_clock):
        workflow = make_workflow(steps=[sms_step()])
        twilio.add(
            responses.POST,
            MESSAGES,
            status=429,
            json={"code": 20429, "message": "Too many"},
            headers={"Retry-After": "2"},
        )
        twilio.add(responses.POST, MESSAGES, status=201, json=message())
        run = execute(workflow)
        assert run.status == RunStatus.SUCCEEDED
        attempts = list(run.step_runs.values_list("attempt", "status", "error_code"))
        assert attempts == [(1, "failed", "RATE_LIMITED"), (2, "succeeded", "")]
        assert fake_clock.slept == [2.0]
        assert len(posts(twilio)) == 2

    def test_long_retry_after_parks_the_run_durably(self, make_workflow, twilio, fake_clock):
        workflow = make_workflow(steps=[sms_step()])
        twilio.add(
            responses.POST,
            MESSAGES,
            status=429,
            json={"code": 20429, "message": "Too many"},
            headers={"Retry-After": "120"},
        )
        twilio.add(responses.POST, MESSAGES, status=201, json=message())
        run = execute(workflow)
        assert (run.status, run.waiting_for) == (RunStatus.WAITING, WaitingFor.RETRY)
        assert fake_clock.slept == []  # no worker held for two minutes
        assert runs_recover()["woken"] == 0  # not yet
        fake_clock.advance(121)
        assert runs_recover()["woken"] == 1
        run = run_execute_inline(run.pk)
        assert run.status == RunStatus.SUCCEEDED
        assert len(posts(twilio)) == 2

    def test_retries_are_bounded(self, make_workflow, twilio, fake_clock):
        workflow = make_workflow(steps=[sms_step(max_retries=2)])
        twilio.add(responses.POST, MESSAGES, body=requests.ConnectTimeout("down"))
        run = execute(workflow)
        assert (run.status, run.error_code) == (RunStatus.FAILED, "CONNECTION_FAILED")
        assert len(posts(twilio)) == 3

    def test_continue_policy_records_the_error_and_goes_on(self, make_workflow, twilio):
        workflow = make_workflow(
            steps=[
                sms_step(on_error="continue"),
                dict(
                    name="after",
                    kind="set_variables",
                    inputs={"variables": {"failed_code": "{{ steps.notify.error.code }}"}},
                ),
            ]
        )
        twilio.add(responses.POST, MESSAGES, status=400, json={"code": 21211, "message": "Invalid To"})
        run = execute(workflow)
        assert run.status == RunStatus.SUCCEEDED
        assert run.context["vars"]["failed_code"] == "VALIDATION_ERROR"


class TestNeverTwice:
    def test_500_on_send_reconciles_and_adopts_the_message(self, make_workflow, twilio):
        workflow = make_workflow(steps=[sms_step()])
        twilio.add(responses.POST, MESSAGES, status=500, json={"code": 20500, "message": "Internal"})
        twilio.add(
            responses.GET,
            MESSAGES,
            json={
                "messages": [message(body="something else", sid="SM" + "b" * 32), message()],
                "next_page_uri": None,
            },
        )
        run = execute(workflow)
        assert run.status == RunStatus.SUCCEEDED
        assert len(posts(twilio)) == 1  # no second send
        step_run = run.step_runs.get()
        assert step_run.reconciled and step_run.twilio_sid == SM
        listed = next(c for c in twilio.calls if c.request.method == "GET")
        assert f"To={TO.replace('+', '%2B')}" in listed.request.url

    def test_read_timeout_with_no_match_is_unknown_and_never_resent(self, make_workflow, twilio):
        workflow = make_workflow(steps=[sms_step(on_error="retry", max_retries=5)])
        twilio.add(responses.POST, MESSAGES, body=requests.ReadTimeout("read timed out"))
        twilio.add(responses.GET, MESSAGES, json={"messages": [], "next_page_uri": None})
        run = execute(workflow)
        assert (run.status, run.error_code) == (RunStatus.FAILED, "OUTCOME_UNKNOWN")
        assert run.step_runs.get().status == StepStatus.UNKNOWN
        assert len(posts(twilio)) == 1

    def test_a_crash_mid_send_is_reconciled_before_any_resend(self, make_workflow, twilio, fake_clock):
        workflow = make_workflow(steps=[sms_step()])
        run = run_create(workflow=workflow, payload=PAYLOAD, enqueue=False)
        # What a worker SIGKILLed during the POST leaves behind:
        Run.objects.filter(pk=run.pk).update(
            status=RunStatus.RUNNING, lease_owner="dead", lease_expires_at=fake_clock.now()
        )
        StepRun.objects.create(
            run=run,
            sequence=1,
            attempt=1,
            step_name="notify",
            kind="action",
            action="twilio/send-sms",
            status=StepStatus.DISPATCHING,
            started_at=fake_clock.now(),
        )
        twilio.add(responses.GET, MESSAGES, json={"messages": [message()], "next_page_uri": None})
        fake_clock.advance(1)
        assert runs_recover()["resumed"] == 1
        run = run_execute_inline(run.pk)
        assert run.status == RunStatus.SUCCEEDED
        assert posts(twilio) == []
        assert run.step_runs.get().reconciled

    def test_a_live_lease_keeps_a_second_worker_out(self, make_workflow, twilio, fake_clock):
        from workflows.engine import run_execute

        workflow = make_workflow(steps=[sms_step()])
        run = run_create(workflow=workflow, payload=PAYLOAD, enqueue=False)
        Run.objects.filter(pk=run.pk).update(
            status=RunStatus.RUNNING,
            lease_owner="alive",
            lease_expires_at=fake_clock.now() + __import__("datetime").timedelta(seconds=60),
        )
        assert run_execute(run.pk) == "not claimed"
        assert len(twilio.calls) == 0

    def test_a_call_outcome_is_reconciled_too(self, make_workflow, twilio):
        workflow = make_workflow(
            steps=[
                dict(
                    name="ring",
                    action="twilio/make-call",
                    inputs={"From": FROM, "To": TO, "Url": "https://example.com/twiml"},
                )
            ]
        )
        from email.utils import format_datetime

        from django.utils import timezone

        call = {
            "sid": "CA" + "c" * 32,
            "status": "queued",
            "to": TO,
            "from": FROM,
            "direction": "outbound-api",
            "date_created": format_datetime(timezone.now()),
        }
        twilio.add(responses.POST, CALLS, status=503, json={"code": 20500, "message": "Unavailable"})
        twilio.add(responses.GET, CALLS, json={"calls": [call], "next_page_uri": None})
        run = execute(workflow)
        assert run.status == RunStatus.SUCCEEDED
        assert run.context["steps"]["ring"]["sid"] == call["sid"]
        assert len(posts(twilio)) == 1

    def test_reconcile_that_cannot_reach_twilio_waits_instead_of_guessing(self, make_workflow, twilio):
        workflow = make_workflow(steps=[sms_step()])
        twilio.add(responses.POST, MESSAGES, status=500, json={"code": 20500, "message": "Internal"})
        twilio.add(responses.GET, MESSAGES, body=requests.ConnectTimeout("down"))
        run = execute(workflow)
        assert (run.status, run.waiting_for) == (RunStatus.WAITING, WaitingFor.RETRY)
        assert run.step_runs.get().status == StepStatus.DISPATCHING


class TestControlSteps:
    @pytest.mark.parametrize(
        ("left", "operator", "right", "expected"),
        [
            ("yes", "equals", "yes", True),
            ("Yes", "equals", "yes", False),
            ("10", "equals", 10.0, True),
            ("a", "not_equals", "b", True),
            ("a", "not_equals", "a", False),
            ("STOP now", "contains", "STOP", True),
            (["a", "b"], "contains", "b", True),
            ("hello", "contains", "x", False),
            ("hello", "not_contains", "x", True),
            ("hello", "not_contains", "ell", False),
            ("+1415", "starts_with", "+1", True),
            ("+44", "starts_with", "+1", False),
            ("order A-17", "matches", r"A-\d+", True),
            ("order", "matches", r"^\d+$", False),
            ("10", "greater_than", "9", True),
            ("9", "greater_than", "10", False),
            ("2", "less_than", "10", True),
            ("b", "less_than", "a", False),
            ("", "is_empty", None, True),
            (None, "is_empty", None, True),
            ([], "is_empty", None, True),
            ("x", "is_empty", None, False),
            ("x", "is_not_empty", None, True),
            ("", "is_not_empty", None, False),
        ],
    )
    def test_branch_operator_matrix(self, left, operator, right, expected):
        assert compare(left, operator, right) is expected

    def test_branch_routes_to_named_steps(self, make_workflow):
        steps = [
            dict(
                name="route",
                kind="branch",
                inputs={
                    "cases": [
                        {
                            "left": "{{ trigger.Body|lower }}",
                            "operator": "equals",
                            "right": "stop",
                            "goto": "opt_out",
                        },
                        {
                            "left": "{{ trigger.Body }}",
                            "operator": "matches",
                            "right": "^[0-9]+$",
                            "goto": "number",
                        },
                    ],
                    "default": "other",
                },
            ),
            dict(name="opt_out", kind="end", inputs={"status": "succeeded", "output": {"route": "stop"}}),
            dict(name="number", kind="end", inputs={"output": {"route": "number"}}),
            dict(name="other", kind="end", inputs={"output": {"route": "other"}}),
        ]
        workflow = make_workflow(steps=steps)
        for body, route in (("STOP", "stop"), ("42", "number"), ("hello", "other")):
            run = execute(workflow, payload={"Body": body})
            assert run.status == RunStatus.SUCCEEDED
            assert run.result == {"route": route}

    def test_set_variables_and_end_with_failure(self, make_workflow):
        workflow = make_workflow(
            steps=[
                dict(
                    name="setup",
                    kind="set_variables",
                    inputs={"variables": {"greeting": "Hi {{ trigger.name }}"}},
                ),
                dict(
                    name="stop", kind="end", inputs={"status": "failed", "message": "{{ vars.greeting }}: no"}
                ),
            ]
        )
        run = execute(workflow)
        assert (run.status, run.error_code, run.error_message) == (RunStatus.FAILED, "ENDED", "Hi Ada: no")

    def test_delay_sleeps_in_the_database(self, make_workflow, fake_clock):
        workflow = make_workflow(
            steps=[
                dict(name="wait", kind="delay", inputs={"seconds": 3600}),
                dict(name="done", kind="set_variables", inputs={"variables": {"ok": "yes"}}),
            ]
        )
        run = execute(workflow)
        assert (run.status, run.waiting_for) == (RunStatus.WAITING, WaitingFor.DELAY)
        fake_clock.advance(1800)
        assert runs_recover()["woken"] == 0
        fake_clock.advance(1801)
        assert runs_recover()["woken"] == 1
        run = run_execute_inline(run.pk)
        assert run.status == RunStatus.SUCCEEDED and run.context["vars"]["ok"] == "yes"
        assert fake_clock.slept == []


class TestChildren:
    def test_run_workflow_waits_for_the_sub_workflow_result(self, make_workflow):
        make_workflow(
            name="child",
            steps=[
                dict(
                    name="double",
                    kind="set_variables",
                    inputs={"variables": {"n": "{{ vars.n }}{{ vars.n }}"}},
                ),
                dict(name="out", kind="end", inputs={"output": {"doubled": "{{ vars.n }}"}}),
            ],
        )
        parent = make_workflow(
            name="parent",
            steps=[
                dict(
                    name="call",
                    kind="run_workflow",
                    inputs={"workflow": "child", "inputs": {"n": "{{ trigger.n }}"}},
                ),
                dict(
                    name="use",
                    kind="set_variables",
                    inputs={"variables": {"got": "{{ steps.call.result.doubled }}"}},
                ),
            ],
        )
        run = execute(parent, payload={"n": "7"})
        assert (run.status, run.waiting_for) == (RunStatus.WAITING, WaitingFor.CHILDREN)
        child = run.children.get()
        assert run_execute_inline(child.pk).status == RunStatus.SUCCEEDED
        run.refresh_from_db()
        assert run.status == RunStatus.PENDING  # woken by the child
        run = run_execute_inline(run.pk)
        assert run.status == RunStatus.SUCCEEDED
        assert run.context["vars"]["got"] == "77"

    def test_for_each_1000_items_honours_rate_and_concurrency(self, make_workflow, fake_clock):
        make_workflow(
            name="per_item",
            steps=[
                dict(name="mark", kind="set_variables", inputs={"variables": {"who": "{{ item.name }}"}}),
            ],
        )
        parent = make_workflow(
            name="blast",
            steps=[
                dict(
                    name="each",
                    kind="for_each",
                    inputs={
                        "items": "{{ trigger.recipients }}",
                        "workflow": "per_item",
                        "concurrency": 20,
                        "rate_per_second": 10,
                    },
                ),
            ],
        )
        recipients = [{"name": f"r{i}"} for i in range(1000)]
        run = execute(parent, payload={"recipients": recipients})
        assert run.status == RunStatus.WAITING
        children = Run.objects.filter(parent=run).order_by("id")
        assert children.count() == 1000
        start = fake_clock.now()
        wakes = list(children.values_list("wake_at", flat=True))
        assert wakes[0] == start and (wakes[10] - start).total_seconds() == pytest.approx(1.0)
        assert (wakes[-1] - start).total_seconds() == pytest.approx(99.9)
        # Only what is due within the 5 s inline window was handed to workers, ≤ concurrency.
        enqueued = children.filter(enqueued_at__isnull=False).count()
        assert enqueued == 20
        # Run the workers: each child is claimed no earlier than its slot.
        started_at = []
        while True:
            batch = list(
                children.filter(status=RunStatus.PENDING, enqueued_at__isnull=False).values_list(
                    "pk", flat=True
                )
            )
            if not batch:
                break
            for child_id in batch:
                child = run_execute_inline(child_id)
                assert child.status == RunStatus.SUCCEEDED
                started_at.append(child.started_at)
                assert children.filter(status__in=["running", "waiting"]).count() == 0
        assert len(started_at) == 1000
        for i, moment in enumerate(sorted(started_at)):
            assert (moment - start).total_seconds() >= i / 10 - 1e-6  # never faster than 10/s
        run.refresh_from_db()
        assert run.status == RunStatus.PENDING
        run = run_execute_inline(run.pk)
        assert run.status == RunStatus.SUCCEEDED
        assert run.context["steps"]["each"]["succeeded"] == 1000
        assert run.context["steps"]["each"]["total"] == 1000

    def test_for_each_without_waiting_goes_on(self, make_workflow):
        make_workflow(
            name="per_item", steps=[dict(name="x", kind="set_variables", inputs={"variables": {"a": "1"}})]
        )
        parent = make_workflow(
            name="p",
            steps=[
                dict(
                    name="each",
                    kind="for_each",
                    inputs={"items": ["a", "b"], "workflow": "per_item", "wait": False},
                ),
            ],
        )
        run = execute(parent)
        assert run.status == RunStatus.SUCCEEDED
        assert run.children.count() == 2


class TestReplayAndCancel:
    def test_replay_links_to_the_original_with_the_same_payload(self, make_workflow, twilio):
        from workflows.services import run_replay

        workflow = make_workflow(steps=[sms_step()])
        twilio.add(responses.POST, MESSAGES, status=201, json=message())
        original = execute(workflow)
        replay = run_replay(run=original)
        assert replay.replay_of == original and replay.trigger_payload == original.trigger_payload
        assert run_execute_inline(replay.pk).status == RunStatus.SUCCEEDED
        assert len(posts(twilio)) == 2

    def test_cancel_stops_a_waiting_run_and_its_children(self, make_workflow):
        from workflows.services import run_cancel

        make_workflow(name="slow", steps=[dict(name="w", kind="delay", inputs={"seconds": 600})])
        parent = make_workflow(
            name="p",
            steps=[dict(name="each", kind="for_each", inputs={"items": ["a", "b"], "workflow": "slow"})],
        )
        run = execute(parent)
        assert run_cancel(run=run)
        run.refresh_from_db()
        assert run.status == RunStatus.CANCELED
        assert set(run.children.values_list("status", flat=True)) == {"canceled"}
        assert not run_cancel(run=run)


class TestCrashWindows:
    """A pass can die between any two writes; the next pass must neither lose nor repeat work."""

    def test_a_finished_for_each_is_not_started_again(self, make_workflow):
        from workflows.engine import run_execute

        make_workflow(
            name="per_item", steps=[dict(name="x", kind="set_variables", inputs={"variables": {"a": "1"}})]
        )
        parent = make_workflow(
            name="p",
            steps=[
                dict(
                    name="each",
                    kind="for_each",
                    inputs={"items": ["a", "b"], "workflow": "per_item", "wait": False},
                ),
                dict(name="after", kind="set_variables", inputs={"variables": {"done": "yes"}}),
            ],
        )
        run = execute(parent)
        assert run.children.count() == 2
        # Rewind the cursor as if the pass died right after recording the step's success.
        Run.objects.filter(pk=run.pk).update(status=RunStatus.PENDING, current_step="each", sequence=0)
        run_execute(run.pk)
        run.refresh_from_db()
        assert run.children.count() == 2
        assert run.status == RunStatus.SUCCEEDED and run.context["vars"]["done"] == "yes"

    def test_a_for_each_interrupted_before_its_children_existed_starts_them(self, make_workflow):
        make_workflow(
            name="per_item", steps=[dict(name="x", kind="set_variables", inputs={"variables": {"a": "1"}})]
        )
        parent = make_workflow(
            name="p",
            steps=[
                dict(
                    name="each",
                    kind="for_each",
                    inputs={"items": ["a", "b", "c"], "workflow": "per_item", "wait": False},
                ),
            ],
        )
        run = run_create(workflow=parent, payload={}, enqueue=False)
        StepRun.objects.create(run=run, sequence=1, attempt=1, step_name="each", kind="for_each")
        run = run_execute_inline(run.pk)
        assert run.status == RunStatus.SUCCEEDED
        assert run.children.count() == 3

    def test_a_recorded_branch_decision_is_followed_not_recomputed(self, make_workflow):
        workflow = make_workflow(
            steps=[
                dict(
                    name="route",
                    kind="branch",
                    inputs={
                        "cases": [
                            {"left": "{{ trigger.x }}", "operator": "equals", "right": "1", "goto": "one"}
                        ],
                        "default": "two",
                    },
                ),
                dict(name="one", kind="end", inputs={"output": {"went": "one"}}),
                dict(name="two", kind="end", inputs={"output": {"went": "two"}}),
            ]
        )
        run = run_create(workflow=workflow, payload={"x": "2"}, enqueue=False)
        StepRun.objects.create(
            run=run,
            sequence=1,
            attempt=1,
            step_name="route",
            kind="branch",
            status=StepStatus.SUCCEEDED,
            output={"matched_case": 0, "goto": "one"},
        )
        run = run_execute_inline(run.pk)
        assert run.result == {"went": "one"}


def test_every_step_kind_is_one_module_found_by_the_registry():
    from workflows.engine.registry import step_kind_list
    from workflows.models import StepKind

    specs = {spec.kind: spec for spec in step_kind_list()}
    assert set(specs) == set(StepKind.values)
    for kind, spec in specs.items():
        # One module each, in the engine's package or a higher app's (the voice steps).
        assert spec.title and type(spec).__module__ in (
            f"workflows.engine.steps.{kind}",
            f"voice.steps.{kind}",
        )


def test_run_create_writes_every_field_in_one_insert(make_workflow, fake_clock):
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    workflow = make_workflow(steps=[sms_step()])
    wake_at = fake_clock.now()
    with CaptureQueriesContext(db) as queries:
        run = run_create(
            workflow=workflow,
            payload=PAYLOAD,
            source="trigger",
            waiting_for=WaitingFor.REPLY,
            wake_at=wake_at,
        )
    writes = [
        q["sql"].split()[0].upper()
        for q in queries.captured_queries
        if not q["sql"].upper().startswith(("SELECT", "SAVEPOINT", "RELEASE"))
    ]
    assert writes == ["INSERT"]  # waiting runs are not enqueued; nothing is patched afterwards
    run = Run.objects.get(pk=run.pk)
    assert (run.status, run.waiting_for, run.wake_at, run.current_step) == (
        RunStatus.WAITING,
        WaitingFor.REPLY,
        wake_at,
        "notify",
    )
