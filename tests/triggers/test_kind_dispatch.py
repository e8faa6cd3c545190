"""A trigger kind owns its behaviour: the receiving code dispatches through the kind (no slug
comparisons), the endpoint purposes are defined once, and the triggers change runs only
through workflow services (`workflows.inbound`), never by writing workflow tables."""

import ast
from pathlib import Path

import pytest

from connections.webhook_urls import ENDPOINT_PURPOSES
from tests.conftest import AUTH_TOKEN
from tests.triggers import test_isolation as isolation
from tests.triggers.test_webhooks import signed_post
from triggers.kinds.base import PURPOSES, TriggerKind
from triggers.kinds.registry import answering_kind, trigger_kinds
from workflows.models import ReplyWait, RunStatus, WaitingFor

ROOT = Path(__file__).resolve().parents[2]
# The receiving path: it asks the kind, it never names one.
DISPATCHERS = ("apis.py", "events.py", "continuations.py", "services.py", "inbound.py")
WORKFLOW_TABLES = {"Run", "StepRun", "ReplyWait"}
WRITES = {"update", "create", "bulk_create", "bulk_update", "get_or_create", "update_or_create", "delete"}


def _code_strings(tree: ast.AST) -> list[ast.Constant]:
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


@pytest.mark.parametrize("name", DISPATCHERS)
def test_the_receiving_path_names_no_kind(name):
    path = ROOT / "triggers" / name
    tree = ast.parse(path.read_text(encoding="utf-8"))
    slugs = [
        f"{name}:{node.lineno} {node.value!r}"
        for node in _code_strings(tree)
        if node.value.startswith("twilio/") or node.value in trigger_kinds()
    ]
    assert not slugs, "Dispatch through the kind (triggers/kinds/base.py), not its slug:\n" + "\n".join(slugs)


def test_the_triggers_write_no_workflow_table():
    writes = []
    for path in sorted((ROOT / "triggers").rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            # <Model>.objects…<write>(…), however the queryset in between is built.
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in WRITES
            ):
                continue
            inner = node.func.value
            while isinstance(inner, ast.Call | ast.Attribute | ast.Subscript):
                if (
                    isinstance(inner, ast.Attribute)
                    and inner.attr == "objects"
                    and isinstance(inner.value, ast.Name)
                    and inner.value.id in WORKFLOW_TABLES
                ):
                    writes.append(f"{path.relative_to(ROOT)}:{node.lineno} {inner.value.id}…{node.func.attr}")
                    break
                inner = inner.func if isinstance(inner, ast.Call) else inner.value
    assert not writes, "Call a workflow service (workflows/inbound.py) instead:\n" + "\n".join(writes)


def test_every_kind_arrives_on_known_endpoints_and_every_endpoint_has_a_kind():
    kinds = trigger_kinds().values()
    for kind in kinds:
        assert kind.purpose in PURPOSES
        assert set(kind.endpoints) <= set(ENDPOINT_PURPOSES), kind.slug
    assert {endpoint for kind in kinds for endpoint in kind.endpoints} == set(ENDPOINT_PURPOSES)
    assert [kind.slug for kind in kinds if not kind.endpoints] == ["twilio/new-messages"]


def test_a_request_no_kind_recognised_is_answered_by_the_contract_defaults():
    assert answering_kind("unrecognised") is TriggerKind
    assert answering_kind("unrecognised").empty_answer().body.endswith("<Response />")


def test_a_gather_post_does_not_continue_a_run_another_kind_started(client, connection):
    """Only the call kind continues a run from /voice/gather/<run id>: a run an inbound SMS
    started, waiting for a reply, stays waiting for that reply."""
    run = isolation.TestWaitForReply()._waiting_run(client, connection, AUTH_TOKEN)
    path = f"/hooks/twilio/{connection.public_id}/voice/gather/{run.pk}"
    response = signed_post(client, connection, None, {"Digits": "1"}, path=path)
    assert response.status_code == 200 and "<Say" not in response.content.decode()
    run.refresh_from_db()
    assert (run.status, run.waiting_for) == (RunStatus.WAITING, WaitingFor.REPLY)
    assert "gather" not in run.trigger_payload
    assert ReplyWait.objects.get(run=run).status == "open"
