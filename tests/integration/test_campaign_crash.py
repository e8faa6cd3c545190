"""A campaign of 1,000 recipients is sent by a real process (`campaign_send --inline`) against a
fast local fake of Twilio; the process is SIGKILLed midway, then the command is run again:
0 duplicates, and every recipient sent, except at most the one whose request was killed before
it left (then failed with OUTCOME_UNKNOWN, never resent blindly). (The 10,000-recipient version is
`bench/campaign_pacing.py --kill`; `make test` stays fast.)

Runs on SQLite, or on PostgreSQL + Redis when DATABASE_URL / REDIS_URL are set (.ci/run's
second leg)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from types import SimpleNamespace

import pytest

from tests.integration.test_crash_recovery import ROOT, database_env, env, manage  # noqa: F401 - fixtures

RECIPIENTS = 1_000
KILL_AFTER = 300

SETUP = """
from workspaces.models import Workspace
from connections.services import connection_create
from campaigns.services import campaign_create, campaign_recipients_add_list
ws = Workspace.objects.create(name="Acme", slug="acme", default_country="US")
conn = connection_create(workspace=ws, name="main", account_sid="AC" + "0" * 32, auth_token="0" * 32)
campaign = campaign_create(workspace=ws, connection=conn, name="Big", sender="+15017122661",
                           body="Hi {{{{ first_name }}}}", mps=1000)
items = [{{"phone": "+1415{{:07d}}".format(2000000 + i), "first_name": "N%d" % i}} for i in range({count})]
added = campaign_recipients_add_list(campaign=campaign, items=items)
print("CAMPAIGN", campaign.pk, added.added, len(added.problems))
"""

STATE = """
import json
from django.db.models import Count
from campaigns.models import CampaignRecipient, Campaign
from workflows.models import Run
c = Campaign.objects.get(pk={pk})
states = dict(CampaignRecipient.objects.values_list("state").annotate(n=Count("id")).values_list("state", "n"))
unsure = list(CampaignRecipient.objects.filter(campaign=c).exclude(state="sent").values_list("reason_code", flat=True))
print("STATE " + json.dumps({{"status": c.status, "states": states, "runs": Run.objects.filter(source="campaign").count(), "unsure": unsure}}))
"""


@pytest.fixture
def campaign_fake():
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "campaign_fake.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    assert line.startswith("PORT "), line
    yield f"http://127.0.0.1:{line.split()[1]}"
    proc.terminate()
    proc.wait(10)


def _stats(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/_stats", timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def fake_twilio(campaign_fake):
    """test_crash_recovery's `env` points TWILIO_API_BASE at `fake_twilio.url`: here, the fast
    campaign fake (a process of its own) instead of the blocking one."""
    return SimpleNamespace(url=campaign_fake)


@pytest.fixture
def campaign_env(env):  # noqa: F811 - test_crash_recovery's fixture, with the fake above
    return env


def _state(environment: dict[str, str], pk: int) -> dict:
    out = manage(environment, "shell", "-c", STATE.format(pk=pk))
    line = next(line for line in out.splitlines() if line.startswith("STATE "))
    return json.loads(line[len("STATE ") :])


def test_sigkill_midway_then_resume_sends_each_recipient_exactly_once(campaign_env, campaign_fake, tmp_path):
    manage(campaign_env, "migrate", "--noinput", timeout=180)
    out = manage(campaign_env, "shell", "-c", SETUP.format(count=RECIPIENTS), timeout=120)
    _, pk, added, problems = next(line for line in out.splitlines() if line.startswith("CAMPAIGN")).split()
    assert (int(added), int(problems)) == (RECIPIENTS, 0)

    log = open(tmp_path / "first.log", "w")  # noqa: SIM115 - closed below
    first = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "campaign_send", pk, "--inline", "--interval", "0.5"],
        cwd=ROOT,
        env=campaign_env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while _stats(campaign_fake)["sends"] < KILL_AFTER:
            assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the first process sent too slowly"
            time.sleep(0.05)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        log.close()
    killed_at = _stats(campaign_fake)["sends"]
    assert KILL_AFTER <= killed_at < RECIPIENTS
    assert _state(campaign_env, int(pk))["status"] == "running"

    out = manage(campaign_env, "campaign_send", pk, "--inline", "--interval", "0.5", timeout=400)
    assert "Status: completed." in out, out[-2000:]
    stats = _stats(campaign_fake)
    state = _state(campaign_env, int(pk))
    # Never twice: every attempt Twilio saw is a distinct recipient.
    assert stats["duplicates"] == 0 and stats["sends"] == stats["distinct"]
    # Nothing silently lost. The one send in flight at the kill either reached Twilio (then
    # reconciliation adopts it) or was killed between its `dispatching` commit and the request
    # leaving: Twilio has no trace, and the engine never guesses — that recipient ends failed
    # with OUTCOME_UNKNOWN for a person to check (README, "never sent twice"). --inline has at
    # most one send in flight, so at most one such recipient.
    missing = RECIPIENTS - stats["sends"]
    assert missing in (0, 1)
    assert state["unsure"] == ["OUTCOME_UNKNOWN"] * missing
    expected_states = {"sent": stats["sends"]} | ({"failed": missing} if missing else {})
    assert (state["status"], state["states"], state["runs"]) == ("completed", expected_states, RECIPIENTS)
