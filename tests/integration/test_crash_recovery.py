"""A real qcluster (or a `run_action` command) is SIGKILLed while a send is in flight; a
qcluster finishes the run.

The fake Twilio holds the POST open until the worker is dead, so the send did reach Twilio
but the worker never learnt its result: the StepRun is left `dispatching`. After the lease
lapses, `recover_runs` re-enqueues the run and the next pass must reconcile (GET the
Messages list, adopt the message) rather than send again.

Broker and database follow the environment, like the CI legs:
- default: SQLite file and django-q2's ORM broker;
- `DATABASE_URL` set (postgres://...): a fresh database is created for the test and dropped;
- `REDIS_URL` set: the Redis broker (with a queue name unique to this test).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from cryptography.fernet import Fernet

from tests.integration.fake_twilio import FakeTwilio

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MANAGE = ROOT / "manage.py"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
LEASE_SECONDS = 3
FROM = "+15017122661"
TO = "+14155552671"
BODY = "Order A-17 shipped"

WORKFLOW = {
    "format": "twilioflow/workflow@1",
    "name": "ship",
    "description": "",
    "enabled": True,
    "default_variables": {},
    "steps": [
        {
            "name": "notify",
            "kind": "action",
            "action": "twilio/send-sms",
            "connection": "main",
            "inputs": {
                "From": FROM,
                "To": "{{ trigger.phone }}",
                "Body": "Order {{ trigger.order }} shipped",
            },
            "on_error": "fail",
            "max_retries": 3,
        }
    ],
}

# Variables of the developer's or CI's shell that must not leak into the processes under test.
SCRUBBED = (
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "SQLITE_PATH",
    "REDIS_URL",
    "Q_CLUSTER_NAME",
    "Q_WORKERS",
    "RUN_LEASE_SECONDS",
    "SWEEP_MINUTES",
    "SECRET_KEY",
    "FERNET_KEYS",
    "ENV_FILE",
    "DEBUG",
    "LOG_LEVEL",
    "CONN_MAX_AGE",
    "PUBLIC_BASE_URL",
)

STATE_SCRIPT = """
import json
from workflows.models import Run
run = Run.objects.get(pk={run_id})
print("STATE " + json.dumps({{
    "status": run.status,
    "final": run.is_final,
    "error_code": run.error_code,
    "error_message": run.error_message,
    "lease_expires_at": str(run.lease_expires_at),
    "steps": [
        {{
            "step": s.step_name,
            "sequence": s.sequence,
            "attempt": s.attempt,
            "status": s.status,
            "reconciled": s.reconciled,
            "twilio_sid": s.twilio_sid,
            "error_code": s.error_code,
            "error_message": s.error_message,
            "inputs": s.inputs,
            "exchanges": [
                {{"method": e.get("method"), "url": e.get("url"), "status": e.get("status")}}
                for e in s.exchanges
            ],
        }}
        for s in run.step_runs.order_by("sequence", "attempt")
    ],
}}))
"""


# --- processes ---------------------------------------------------------------------------------
class Cluster:
    """A `manage.py qcluster` in its own process group (so a kill reaches its workers)."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(MANAGE), "qcluster"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pgid = self.proc.pid  # a new session's leader: its pid is the group id

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, sig)

    def kill(self) -> None:
        self._signal_group(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._wait_group_gone(5)

    def stop(self, grace: float = 15.0) -> None:
        if self.proc.poll() is None:
            # SIGTERM the leader only: django-q2 then stops its processes in order. A SIGTERM
            # to the whole group stalls the cluster's shutdown (measured: >30 s, vs <1 s).
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=grace)
        # SIGKILL whatever is left of the group (the leader or an orphaned worker).
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self._wait_group_gone(5)
        self._log.close()

    def _wait_group_gone(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(self.pgid, 0)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.05)

    def tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"(no log: {exc})"
        return "\n".join(text.splitlines()[-lines:])


@pytest.fixture
def clusters():
    started: list[Cluster] = []
    yield started
    for cluster in started:
        cluster.stop(grace=5)


@pytest.fixture
def fake_twilio():
    with FakeTwilio() as fake:
        yield fake


# --- database ----------------------------------------------------------------------------------
@pytest.fixture
def database_env(tmp_path):
    """SQLITE_PATH in tmp, or a fresh PostgreSQL database when DATABASE_URL is set."""
    base_url = os.environ.get("DATABASE_URL", "")
    if not base_url:
        yield {"SQLITE_PATH": str(tmp_path / "db.sqlite3")}
        return
    if not base_url.startswith(("postgres://", "postgresql://", "pgsql://")):
        pytest.skip(f"the crash-recovery test knows SQLite and PostgreSQL, not {base_url.split(':')[0]}")
    psycopg = pytest.importorskip("psycopg")
    from psycopg import sql

    name = f"twilioflow_it_{secrets.token_hex(6)}"
    admin_dsn = base_url.replace("postgres://", "postgresql://", 1).replace("pgsql://", "postgresql://", 1)
    parts = urlsplit(admin_dsn)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield {"DATABASE_URL": urlunsplit(parts._replace(path="/" + name))}
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture
def env(tmp_path, database_env, fake_twilio):
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in SCRUBBED and not key.startswith(("TWILIO", "PYTEST_"))
    }
    environment.update(database_env)
    environment.update(
        DJANGO_SETTINGS_MODULE="twilioflow.settings",
        ENV_FILE=str(tmp_path / "no-such.env"),
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        FERNET_KEYS=Fernet.generate_key().decode(),
        TWILIO_API_BASE=fake_twilio.url,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        RUN_LEASE_SECONDS=str(LEASE_SECONDS),
        Q_WORKERS="1",
        Q_CLUSTER_NAME=f"twilioflow-it-{secrets.token_hex(6)}",
        STATIC_ROOT=str(tmp_path / "static"),
        PYTHONUNBUFFERED="1",
    )
    redis_url = os.environ.get("REDIS_URL", "")
    if redis_url:
        environment["REDIS_URL"] = redis_url
    yield environment
    if redis_url:  # the queue and cluster-stat keys of this test's unique cluster name
        import redis

        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"django_q:{environment['Q_CLUSTER_NAME']}:*"))
        if keys:
            client.delete(*keys)
        client.close()


def manage(env: dict[str, str], *args: str, timeout: float = 60) -> str:
    result = subprocess.run(
        [sys.executable, str(MANAGE), *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"manage.py {' '.join(args[:1])} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}",
            pytrace=False,
        )
    return result.stdout


def run_state(env: dict[str, str], run_id: int) -> dict:
    out = manage(env, "shell", "-c", STATE_SCRIPT.format(run_id=run_id))
    for line in reversed(out.splitlines()):
        if line.startswith("STATE "):
            return json.loads(line[len("STATE ") :])
    raise AssertionError(f"no state in the shell's output:\n{out}")


# --- the test ----------------------------------------------------------------------------------
def test_sigkill_mid_send_is_reconciled_not_resent(tmp_path, env, fake_twilio, clusters):
    if not hasattr(os, "killpg"):
        pytest.skip("needs POSIX process groups")
    started = time.monotonic()

    def logs() -> str:
        parts = [f"--- {c.log_path.name} (tail) ---\n{c.tail()}" for c in clusters]
        return (
            "\n".join(parts)
            + f"\n--- fake Twilio requests ---\n{fake_twilio.summary()}"
            + f"\n--- elapsed {time.monotonic() - started:.1f}s"
        )

    manage(env, "migrate", "--no-input", timeout=120)
    manage(
        env,
        "connection_add",
        "--workspace", "acme",
        "--create-workspace",
        "--name", "main",
        "--account-sid", ACCOUNT_SID,
        "--from-env",
        "--no-verify",
    )  # fmt: skip
    workflow_file = tmp_path / "ship.json"
    workflow_file.write_text(json.dumps(WORKFLOW))
    manage(env, "import_workflow", str(workflow_file), "--workspace", "acme")

    # 1. A worker starts the send; Twilio has it, the worker never hears back: SIGKILL.
    clusters.append(Cluster(env, tmp_path / "qcluster-1.log"))
    out = manage(env, "run_workflow", "ship", "--data", json.dumps({"phone": TO, "order": "A-17"}))
    run_id = json.loads(out.strip().splitlines()[-1])["run_id"]
    assert fake_twilio.send_received.wait(30), f"the first worker never sent.\n{logs()}"
    sent_at = time.monotonic()
    clusters[0].kill()
    fake_twilio.release.set()

    state = run_state(env, run_id)
    assert state["status"] == "running", f"{state}\n{logs()}"
    assert [s["status"] for s in state["steps"]] == ["dispatching"], f"{state}\n{logs()}"

    # 2. A new cluster; once the lease has lapsed, the sweep hands the run to it.
    clusters.append(Cluster(env, tmp_path / "qcluster-2.log"))
    time.sleep(max(0.0, sent_at + LEASE_SECONDS + 0.5 - time.monotonic()))
    deadline = time.monotonic() + 60
    recovered: list[str] = []
    while True:
        recovered.append(manage(env, "recover_runs").strip())
        poll_until = min(deadline, time.monotonic() + 4)
        while time.monotonic() < poll_until:
            state = run_state(env, run_id)
            if state["final"]:
                break
            time.sleep(0.5)
        if state["final"] or time.monotonic() >= deadline:
            break
    assert state["final"], f"the run is still {state['status']} after 60 s: {state}\n{recovered}\n{logs()}"

    # 3. Completed, by adopting the message the killed worker had sent: one send, no more.
    context = f"{json.dumps(state, indent=1)}\nrecover_runs said: {recovered}\n{logs()}"
    assert state["status"] == "succeeded", context
    assert len(fake_twilio.sends) == 1, context
    send = fake_twilio.sends[0]
    assert (send.first("To"), send.first("From"), send.first("Body")) == (TO, FROM, BODY), context
    assert fake_twilio.listings, f"no reconcile listing reached the fake.\n{context}"
    listing = fake_twilio.listings[0]
    assert listing.query.get("To") == [TO] and listing.query.get("From") == [FROM], context

    # 4. The audit: one attempt, adopted by reconciling, with the listing it was found by.
    [step] = state["steps"]
    assert step["step"] == "notify" and step["attempt"] == 1, context
    assert step["status"] == "succeeded" and step["reconciled"] is True, context
    assert step["twilio_sid"] == fake_twilio.message_sid, context
    assert step["inputs"].get("Body") == BODY, context
    assert any(
        e["method"] == "GET" and "/Messages.json" in e["url"] and e["status"] == 200
        for e in step["exchanges"]
    ), context
    assert not any(e["method"] == "POST" for e in step["exchanges"]), context

    # Nothing more reaches Twilio afterwards (e.g. a late redelivery of the killed task).
    clusters[1].stop()
    assert len(fake_twilio.sends) == 1, context


RUN_ID_SCRIPT = """
from workflows.models import Run
print("RUN " + str(Run.objects.get(source="command").pk))
"""


def test_sigkill_of_run_action_mid_send_is_reconciled_not_resent(tmp_path, env, fake_twilio, clusters):
    """`run_action` records its run like any other: killed mid-request, `recover_runs` hands
    it to a worker that adopts the message instead of sending it again."""
    if not hasattr(os, "killpg"):
        pytest.skip("needs POSIX process groups")

    def logs() -> str:
        parts = [f"--- {c.log_path.name} (tail) ---\n{c.tail()}" for c in clusters]
        return "\n".join(parts) + f"\n--- fake Twilio requests ---\n{fake_twilio.summary()}"

    manage(env, "migrate", "--no-input", timeout=120)
    manage(
        env,
        "connection_add",
        "--workspace", "acme",
        "--create-workspace",
        "--name", "main",
        "--account-sid", ACCOUNT_SID,
        "--from-env",
        "--no-verify",
    )  # fmt: skip

    # 1. The command starts the send; Twilio has it, the command never hears back: SIGKILL.
    command = subprocess.Popen(
        [sys.executable, str(MANAGE), "run_action", "twilio/send-sms", "--connection", "main",
         "--input", json.dumps({"From": FROM, "To": TO, "Body": BODY})],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        assert fake_twilio.send_received.wait(30), f"run_action never sent.\n{logs()}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(command.pid, signal.SIGKILL)
        command.wait(timeout=10)
    sent_at = time.monotonic()
    fake_twilio.release.set()
    out = manage(env, "shell", "-c", RUN_ID_SCRIPT)
    run_id = int(next(line for line in out.splitlines() if line.startswith("RUN ")).split()[1])
    state = run_state(env, run_id)
    assert state["status"] == "running", f"{state}\n{logs()}"
    assert [s["status"] for s in state["steps"]] == ["dispatching"], f"{state}\n{logs()}"

    # 2. Once the lease has lapsed, the sweep hands the run to a worker.
    clusters.append(Cluster(env, tmp_path / "qcluster.log"))
    time.sleep(max(0.0, sent_at + LEASE_SECONDS + 0.5 - time.monotonic()))
    deadline = time.monotonic() + 60
    recovered: list[str] = []
    while True:
        recovered.append(manage(env, "recover_runs").strip())
        poll_until = min(deadline, time.monotonic() + 4)
        while time.monotonic() < poll_until:
            state = run_state(env, run_id)
            if state["final"]:
                break
            time.sleep(0.5)
        if state["final"] or time.monotonic() >= deadline:
            break

    # 3. Adopted, not resent: exactly one POST ever reached Twilio.
    context = f"{json.dumps(state, indent=1)}\nrecover_runs said: {recovered}\n{logs()}"
    assert state["status"] == "succeeded", context
    assert len(fake_twilio.sends) == 1 and fake_twilio.listings, context
    [step] = state["steps"]
    assert step["status"] == "succeeded" and step["reconciled"] is True, context
    assert step["twilio_sid"] == fake_twilio.message_sid, context
    clusters[0].stop()
    assert len(fake_twilio.sends) == 1, context
