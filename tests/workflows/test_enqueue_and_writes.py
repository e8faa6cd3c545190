"""Handing runs to workers, and SQLite's writers (issue 10): the task row of the ORM broker
is written in the run's own transaction, so it can neither outlive a rolled-back run nor
reach a worker before the run is committed; and the threads of a process queue for SQLite's
write lock on a mutex that is held exactly while the lock is."""

import threading
import time

import pytest
from django.db import connection as db
from django.db import connections, transaction
from django_q.brokers.orm import ORM
from django_q.models import OrmQ

from workflows.models import Run
from workflows.runs import task_broker
from workflows.services import run_create

STEPS = [dict(name="note", kind="set_variables", inputs={"variables": {"x": "1"}})]


@pytest.mark.django_db
def test_with_the_orm_broker_the_task_is_written_with_the_run(make_workflow):
    if not isinstance(task_broker(), ORM):
        pytest.skip("another broker is sent to after commit")
    workflow = make_workflow(steps=STEPS)
    before = OrmQ.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        run = run_create(workflow=workflow, payload={})
        assert OrmQ.objects.count() == before + 1  # inside the run's transaction
        raise RuntimeError("rolled back")
    assert OrmQ.objects.count() == before and not Run.objects.filter(pk=run.pk).exists()
    kept = run_create(workflow=workflow, payload={})
    assert OrmQ.objects.count() == before + 1 and kept.enqueued_at is not None


@pytest.mark.django_db
def test_another_broker_is_sent_to_only_after_commit(
    make_workflow, monkeypatch, django_capture_on_commit_callbacks
):
    if isinstance(task_broker(), ORM):
        pytest.skip("the ORM broker writes its task in the run's transaction")
    sent = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, run_id, **kw: sent.append(run_id))
    workflow = make_workflow(steps=STEPS)
    with django_capture_on_commit_callbacks(execute=True):
        run = run_create(workflow=workflow, payload={})
        assert sent == []
    assert sent == [run.pk]


@pytest.mark.django_db(transaction=True)
def test_sqlite_writers_of_one_process_queue_on_a_mutex_always_released():
    if db.vendor != "sqlite":
        pytest.skip("SQLite only")
    from twilioflow.core.sqlite import base

    with transaction.atomic():
        assert base._writer.locked()
    assert not base._writer.locked()
    with pytest.raises(RuntimeError), transaction.atomic():
        raise RuntimeError("rolled back")
    assert not base._writer.locked()

    order = []

    def second_writer():
        with transaction.atomic():
            order.append("second")
        connections.close_all()

    with transaction.atomic():
        other = threading.Thread(target=second_writer)
        other.start()
        time.sleep(0.2)
        order.append("first")  # the other thread still waits for this transaction
    other.join(10)
    assert order == ["first", "second"] and not base._writer.locked()
