"""Live-call turns under load: 50 concurrent simulated calls × 10 turns each on SQLite (the
embedded default), every turn a signed webhook through the real endpoint (signature, turn
row, the run resumed and executed in the request, TwiML built). The agent is a JSON-questions
voice agent, so no model time is in the figures.

Baseline, interleaved in the same run and threads: a bare Django view (`/healthz`) through the
same client. Reported: p50/p95 turn latency, their ratio to the baseline, the machine load,
and lost or crossed sessions (every call's answers must be exactly what *that* caller said).

    .venv/bin/python bench/voice_turns.py   (BENCH_SMOKE=1: 4 calls × 3 turns, a few seconds)
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import common  # noqa: E402  (after the path)

SMOKE = common.SMOKE
CALLS, TURNS = (4, 3) if SMOKE else (50, 10)
SOLO_CALLS = 1 if SMOKE else 6  # calls one after another, before the concurrent ones
# The server's concurrency: like a few gunicorn workers, not one thread per live call (on
# SQLite one process with 50 busy threads starves the write lock's holder of the GIL).
WORKERS = int(os.environ.get("BENCH_VOICE_WORKERS", "4"))
AUTH_TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
ACCOUNT_SID = "AC" + "0" * 32


def setup_django(db_path: str) -> None:
    os.environ["SQLITE_PATH"] = db_path
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "twilioflow.settings")
    os.environ.setdefault("SECRET_KEY", "bench-" + "x" * 40)
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> int:
    db = tempfile.mkdtemp(prefix="bench-voice-") + "/voice.sqlite3"
    setup_django(db)
    import re

    from django.db import connection as db_connection
    from django.test import Client
    from twilio.request_validator import RequestValidator

    from connections.services import connection_create
    from triggers.models import Trigger
    from voice.models import CallSession, VoiceAgent
    from workflows.models import Step, Workflow
    from workspaces.models import Workspace

    workspace = Workspace.objects.create(name="Bench", slug="bench", default_country="US")
    conn = connection_create(workspace=workspace, name="main", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
    questions = [
        {"id": f"q{k}", "question": f"Question {k}?", "expectedAnswerType": "text"} for k in range(TURNS)
    ]
    agent = VoiceAgent(workspace=workspace, name="bench", questions=questions)
    agent.full_clean()
    agent.save()
    workflow = Workflow.objects.create(workspace=workspace, name="bench-calls")
    Step.objects.create(
        workflow=workflow, position=0, name="agent", kind="voice_agent", inputs={"agent": "bench"}
    )
    Trigger.objects.create(
        workspace=workspace,
        workflow=workflow,
        connection=conn,
        name="calls",
        kind="twilio/incoming-call",
        voice_answer={"action": "workflow"},
    )
    validator = RequestValidator(AUTH_TOKEN)
    turn_ms: list[float] = []
    base_ms: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    workers = threading.Semaphore(WORKERS)
    waits: list[float] = []

    def post(client: Client, path: str, params: dict) -> str:
        signature = validator.compute_signature(f"http://testserver{path}", params)
        queued = time.perf_counter()
        with workers:
            with lock:
                waits.append((time.perf_counter() - queued) * 1000)
            response = client.post(
                path,
                data=urlencode(params),
                content_type="application/x-www-form-urlencoded",
                HTTP_X_TWILIO_SIGNATURE=signature,
            )
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code}")
        return response.content.decode()

    def one_call_alone(index: int) -> tuple[list[float], list[int], list[float], bool]:
        """One call with no other call in flight: each turn's service time and its SQL
        queries (what a turn costs before any contention), and a bare view after each."""
        from django.test.utils import CaptureQueriesContext

        client = Client()
        sid = f"CA{index:032x}"
        base = {"CallSid": sid, "AccountSid": ACCOUNT_SID, "From": "+14155550999", "To": "+15017122661"}
        answer = post(client, f"/hooks/twilio/{conn.public_id}/voice", {**base, "CallStatus": "ringing"})
        first = re.search(r"<Redirect[^>]*>http://testserver([^<]+turn=0)</Redirect>", answer)
        if first:
            answer = post(client, first.group(1).replace("&amp;", "&"), {**base, "CallStatus": "in-progress"})
        times, queries, bare = [], [], []
        for k in range(TURNS):
            path = re.search(r'action="http://testserver([^"]+)"', answer).group(1).replace("&amp;", "&")
            with CaptureQueriesContext(db_connection) as captured:
                started = time.perf_counter()
                answer = post(client, path, {**base, "SpeechResult": f"solo {k}", "Confidence": "0.9"})
                times.append((time.perf_counter() - started) * 1000)
            queries.append(len(captured))
            started = time.perf_counter()
            client.get("/healthz")
            bare.append((time.perf_counter() - started) * 1000)
        session = CallSession.objects.get(call_sid=sid)
        ok = session.agent_state.get("answers") == {f"q{k}": f"solo {k}" for k in range(TURNS)}
        return times, queries, bare, ok

    def calls_alone(count: int) -> dict:
        times, queries, bare, ok = [], [], [], True
        for index in range(CALLS, CALLS + count):  # above the concurrent calls' numbers
            call_times, call_queries, call_bare, call_ok = one_call_alone(index)
            times += call_times
            queries += call_queries
            bare += call_bare
            ok = ok and call_ok
        return {
            "calls": count,
            "turns": len(times),
            "turn_p50_ms": round(statistics.median(times), 1),
            "turn_p95_ms": round(percentile(times, 0.95), 1),
            "baseline_p50_ms": round(statistics.median(bare), 2),
            "queries_per_turn": round(statistics.median(queries)),
            "queries": queries,
            "answers_ok": ok,
        }

    def one_call(index: int) -> None:
        client = Client()
        sid = f"CA{index:032x}"
        base = {
            "CallSid": sid,
            "AccountSid": ACCOUNT_SID,
            "From": f"+1415555{index:04d}",
            "To": "+15017122661",
        }
        try:
            answer = post(client, f"/hooks/twilio/{conn.public_id}/voice", {**base, "CallStatus": "ringing"})
            first = re.search(r"<Redirect[^>]*>http://testserver([^<]+turn=0)</Redirect>", answer)
            if first:  # the webhook hands the call over to turn 0
                answer = post(
                    client, first.group(1).replace("&amp;", "&"), {**base, "CallStatus": "in-progress"}
                )
            for k in range(TURNS):
                found = re.search(r'action="http://testserver([^"]+)"', answer)
                if not found:
                    raise RuntimeError(f"call {index} turn {k}: no gather")
                path = found.group(1).replace("&amp;", "&")
                said = {"SpeechResult": f"call {index} answer {k}", "Confidence": "0.9"}
                before = len(waits)
                started = time.perf_counter()
                answer = post(client, path, {**base, **said})
                # Service time: from a worker taking the request to the answer (queueing apart).
                elapsed = (time.perf_counter() - started) * 1000 - (
                    waits[before] if len(waits) > before else 0
                )
                with workers:
                    started = time.perf_counter()
                    client.get("/healthz")
                    baseline = (time.perf_counter() - started) * 1000
                with lock:
                    turn_ms.append(elapsed)
                    base_ms.append(baseline)
        except Exception as exc:  # counted and reported, the bench goes on
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            db_connection.close()

    solo = calls_alone(SOLO_CALLS)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    threads = [threading.Thread(target=one_call, args=(i,)) for i in range(CALLS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    lost = crossed = 0
    sessions = [s for s in CallSession.objects.all() if int(s.call_sid[2:], 16) < CALLS]  # not the lone call
    for session in sessions:
        index = int(session.call_sid[2:], 16)
        answers = session.agent_state.get("answers", {})
        expected = {f"q{k}": f"call {index} answer {k}" for k in range(TURNS)}
        if len(answers) < TURNS:
            lost += 1
        elif answers != expected:
            crossed += 1
    lost += CALLS - len(sessions)
    result = {
        "calls": CALLS,
        "server_workers": WORKERS,
        "turns_per_call": TURNS,
        "turns": len(turn_ms),
        "turn_p50_ms": round(statistics.median(turn_ms), 1) if turn_ms else None,
        "turn_p95_ms": round(percentile(turn_ms, 0.95), 1) if turn_ms else None,
        "baseline_p50_ms": round(statistics.median(base_ms), 1) if base_ms else None,
        "baseline_p95_ms": round(percentile(base_ms, 0.95), 1) if base_ms else None,
        "queue_p95_ms": round(percentile(waits, 0.95), 1) if waits else None,
        "wall_s": round(wall, 1),
        "solo": solo,
        "lost_sessions": lost,
        "crossed_sessions": crossed,
        "errors": errors[:5],
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result, indent=2), flush=True)
    cond = common.conditions("sqlite", None, calls=CALLS, turns_per_call=TURNS, server_workers=WORKERS)
    load = result["load_after"]
    figures = [
        common.figure(
            "voice turn, one call at a time, p50 (JSON-questions agent, no model)",
            "ms",
            solo["turn_p50_ms"],
            solo["baseline_p50_ms"],
            higher_is_better=False,
            load=load,
            cond=cond,
        ),
        common.figure(
            "voice turn, SQL queries (one call)",
            "queries",
            solo["queries_per_turn"],
            None,
            higher_is_better=False,
        ),
        common.figure(
            f"voice turn p50, {CALLS} concurrent calls",
            "ms",
            result["turn_p50_ms"],
            result["baseline_p50_ms"],
            higher_is_better=False,
            load=load,
            cond=cond,
        ),
        common.figure(
            f"voice turn p95, {CALLS} concurrent calls",
            "ms",
            result["turn_p95_ms"],
            result["baseline_p95_ms"],
            higher_is_better=False,
            goal="p95 < 150 ms",
            load=load,
            cond=cond,
        ),
    ]
    checks = {
        "every turn answered": len(turn_ms) == CALLS * TURNS and not errors,
        "no lost sessions": lost == 0,
        "no crossed sessions": crossed == 0,
        "the lone call's answers are its own": solo["answers_ok"],
    }
    common.REPS = 1  # one pass; each turn is interleaved with its baseline request
    common.write_result("voice_turns", figures, checks, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
