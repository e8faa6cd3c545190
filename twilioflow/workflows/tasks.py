"""Old task paths for django-q2 (see this package's docstring); nothing else imports this."""

from workflows.tasks import run_execute_task, runs_recover_task

__all__ = ["run_execute_task", "runs_recover_task"]
