"""Shared fixtures. No test reaches the internet: sockets may only connect to loopback."""

import ipaddress
import socket
from datetime import timedelta

import pytest
import responses as responses_lib
from django.utils import timezone

from connections.models import Connection
from connections.services import connection_create
from workflows.models import Step, Workflow
from workspaces.models import Membership, Role, Workspace

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
API_KEY_SID = "SK" + "fedcba9876543210" * 2
API_KEY_SECRET = "s3cr3tApiKeySecretValue0123456789"
API = "https://api.twilio.com"

_real_connect = socket.socket.connect


def _loopback_only(sock, address):
    host = address[0] if isinstance(address, tuple) else None
    if host is not None:
        try:
            allowed = ipaddress.ip_address(host).is_loopback
        except ValueError:
            allowed = host == "localhost"
        if not allowed:
            raise OSError(f"Tests may not reach the network ({host}); mock it with responses.")
    return _real_connect(sock, address)


def pytest_configure(config):
    socket.socket.connect = _loopback_only


@pytest.fixture(autouse=True)
def _forget_secrets_after_each_test():
    """Secrets are remembered process-wide (redaction by value); one test's fake token must
    not mask another test's data (e.g. a token of 32 "b"s and a SID ending in them)."""
    import copy

    from twilioflow.core import redaction

    before = copy.deepcopy(redaction._known)
    yield
    with redaction._known_lock:
        redaction._known = before


@pytest.fixture(autouse=True)
def _forget_engine_caches():
    """Per-process caches are keyed by primary keys and `updated_at`; rolled-back tests reuse
    both (SQLite ids, frozen clocks), so each test starts without them."""
    from compliance.policy_cache import policy_cache_forget
    from workflows.engine.plan import plan_forget

    plan_forget()
    policy_cache_forget()


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    """The manifest storage needs `collectstatic`; tests render pages without running it."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def twilio():
    """`responses` for every Twilio call in the test; unmatched requests fail loudly."""
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def workspace(db):
    return Workspace.objects.create(name="Acme Dental", slug="acme", default_country="US")


@pytest.fixture
def other_workspace(db):
    return Workspace.objects.create(name="Bistro Nord", slug="bistro", default_country="DE")


@pytest.fixture
def make_connection(workspace):
    def make(**overrides) -> Connection:
        values = dict(workspace=workspace, name="main", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
        values.update(overrides)
        return connection_create(**values)

    return make


@pytest.fixture
def connection(make_connection):
    return make_connection()


@pytest.fixture
def make_staff(db, django_user_model):
    def make(username: str, workspace=None, role: str = Role.OPERATOR):
        user = django_user_model.objects.create_user(
            username=username, password="pw-" + username, is_staff=True
        )
        if workspace is not None:
            Membership.objects.create(user=user, workspace=workspace, role=role)
        return user

    return make


def account_url(resource: str = "") -> str:
    suffix = f"/{resource}" if resource else ".json"
    return f"{API}/2010-04-01/Accounts/{ACCOUNT_SID}{suffix}"


def account_body(**extra) -> dict:
    return {"sid": ACCOUNT_SID, "friendly_name": "Acme Dental", "status": "active", **extra}


class FakeClock:
    """Time that only moves when a test (or the engine's sleep) moves it."""

    def __init__(self):
        self.current = timezone.now()
        self.slept: list[float] = []

    def now(self):
        return self.current

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.slept.append(round(seconds, 3))
            self.current += timedelta(seconds=seconds)

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


@pytest.fixture
def fake_clock(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr("twilioflow.core.clock.now", clock.now)
    monkeypatch.setattr("twilioflow.core.clock.sleep", clock.sleep)
    return clock


@pytest.fixture
def make_workflow(workspace, connection):
    """make_workflow("name", [dict(name=..., kind=..., action=..., inputs=...), ...])"""

    def make(name="flow", steps=(), **values):
        workflow = Workflow.objects.create(workspace=workspace, name=name, **values)
        for position, spec in enumerate(steps):
            spec = dict(spec)
            if spec.get("kind", "action") == "action":
                spec.setdefault("connection", connection)
            step = Step(workflow=workflow, position=position, **spec)
            step.full_clean()
            step.save()
        return workflow

    return make
