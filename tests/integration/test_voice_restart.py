"""A live call survives a server restart mid-conversation: turn 1 is answered by one
gunicorn, which is then SIGKILLed; a new one answers turn 2 from the database alone.

SQLite file (or a fresh PostgreSQL database when DATABASE_URL is set, like the crash test)."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet
from twilio.request_validator import RequestValidator

from tests.integration.test_crash_recovery import SCRUBBED, database_env  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MANAGE = ROOT / "manage.py"
AUTH_TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
SETUP = """
import json
from connections.services import connection_create
from triggers.models import Trigger
from voice.models import VoiceAgent
from workflows.models import Step, Workflow
from workspaces.models import Workspace
ws = Workspace.objects.create(name="Acme", slug="acme", default_country="US")
conn = connection_create(workspace=ws, name="main", account_sid="AC" + "0" * 32, auth_token="{token}")
VoiceAgent.objects.create(workspace=ws, name="interview", questions=json.load(open("{questions}")))
wf = Workflow.objects.create(workspace=ws, name="screening")
Step.objects.create(workflow=wf, position=0, name="agent", kind="voice_agent", inputs={{"agent": "interview"}})
Trigger.objects.create(workspace=ws, workflow=wf, connection=conn, name="calls", kind="twilio/incoming-call",
                       voice_answer={{"action": "workflow"}})
print("CONNECTION " + str(conn.public_id))
"""
RESULT = """
import json
from voice.models import CallSession
session = CallSession.objects.get()
print("RESULT " + json.dumps({"answers": session.agent_state.get("answers"), "state": session.state,
                              "run": session.run.status}))
"""


def _free_port() -> int:
    for port in range(9531, 9600):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError("no free port in 9531-9599")


def _manage(env, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(MANAGE), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class Server:
    def __init__(self, env, port: int, log: Path) -> None:
        self.log = log.open("ab")
        self.proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "twilioflow.wsgi",
                "-b",
                f"127.0.0.1:{port}",
                "-w",
                "1",
            ],
            env=env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.3)
        self.kill()
        raise RuntimeError("gunicorn did not start")

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.log.close()


def test_a_call_survives_a_server_restart_mid_conversation(tmp_path, database_env):  # noqa: F811
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        k: v for k, v in os.environ.items() if k not in SCRUBBED and not k.startswith(("TWILIO", "PYTEST_"))
    }
    env.update(database_env)
    env.update(
        DJANGO_SETTINGS_MODULE="twilioflow.settings",
        ENV_FILE=str(tmp_path / "no-such.env"),
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        FERNET_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        PUBLIC_BASE_URL=base,
        STATIC_ROOT=str(tmp_path / "static"),
    )
    _manage(env, "migrate", "--noinput")
    questions = ROOT / "voice" / "examples" / "job_interview.json"
    out = _manage(env, "shell", "-c", SETUP.format(token=AUTH_TOKEN, questions=questions))
    connection = re.search(r"CONNECTION (\S+)", out).group(1)
    validator = RequestValidator(AUTH_TOKEN)
    call = {
        "CallSid": "CA" + "5" * 32,
        "AccountSid": "AC" + "0" * 32,
        "From": "+14155550123",
        "To": "+15017122661",
    }

    def post(url: str, params: dict) -> str:
        headers = {"X-Twilio-Signature": validator.compute_signature(url, params)}
        response = requests.post(url, data=params, headers=headers, timeout=30)
        assert response.status_code == 200, response.text[:500]
        return response.text

    def next_url(answer: str) -> str:
        found = re.search(r'(?:action="|<Redirect method="POST">)([^"<]+)', answer)
        assert found, answer
        return found.group(1).replace("&amp;", "&")

    server = Server(env, port, tmp_path / "gunicorn.log")
    try:
        answer = post(f"{base}/hooks/twilio/{connection}/voice", {**call, "CallStatus": "ringing"})
        answer = post(next_url(answer), {**call, "CallStatus": "in-progress"})
        assert "Please state your full name." in answer
        answer = post(next_url(answer), {**call, "SpeechResult": "Ada Lovelace", "Confidence": "0.94"})
        assert "How many years of relevant experience" in answer
    finally:
        server.kill()  # the server dies between two turns of the call
    server = Server(env, port, tmp_path / "gunicorn.log")
    try:
        answer = post(next_url(answer), {**call, "SpeechResult": "seven years", "Confidence": "0.9"})
        assert "When would you be available to start?" in answer
        answer = post(next_url(answer), {**call, "SpeechResult": "In June", "Confidence": "0.9"})
        assert "<Hangup />" in answer
    finally:
        server.kill()
    result = json.loads(re.search(r"RESULT (.+)", _manage(env, "shell", "-c", RESULT)).group(1))
    assert result == {
        "answers": {"name": "Ada Lovelace", "experience": 7, "availability": "In June"},
        "state": "ended",
        "run": "succeeded",
    }
