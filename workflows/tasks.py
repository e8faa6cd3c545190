"""django-q2 task entry points: thin, by id, the work is in the services.

django-q2 stores each task's result (and a failure's traceback) in its own tables and admin,
so both are redacted on the way out."""

from twilioflow.core.redaction import redacted_task


@redacted_task
def run_execute_task(run_id: int) -> str:
    from workflows.engine import run_execute

    return run_execute(run_id)


@redacted_task
def runs_recover_task() -> dict[str, int]:
    from workflows.services import runs_recover

    return runs_recover()
