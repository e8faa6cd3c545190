from datetime import timedelta

import pytest
from django.utils import timezone

from twilioflow.workflows.models import Step, Workflow


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
