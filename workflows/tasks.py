"""django-q2 task entry points: thin, by id, the work is in the services."""


def run_execute_task(run_id: int) -> str:
    from workflows.engine import run_execute

    return run_execute(run_id)


def runs_recover_task() -> dict[str, int]:
    from workflows.services import runs_recover

    return runs_recover()
