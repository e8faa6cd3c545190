"""Staff dashboard at scale: 1,000,000 step runs (smoke: 20,000) over 90 days in one
workspace (plus inbound messages, call callbacks, opt-outs and ledger rows), on SQLite.
Each dashboard request (today, 7 d, 30 d, a 90-day custom period) goes through the whole
Django stack with a logged-in session (Django's test client, in process) and is timed against
the bare view `/healthz` (one `SELECT 1`) in the same run, interleaved, 3 repetitions.

The first request of a period rolls its settled hours up (`staff.selectors.dashboard`); that
one-off cost is reported separately ("cold"). The inbox and the runs list are timed too.

    .venv/bin/python bench/dashboard.py [--step-runs 1000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

DAYS = 90
GOAL_MS = 300


def seed(step_runs: int) -> dict:
    """Rows written with executemany in time order (primary keys grow with time, as in
    production). Two steps per run: a branch, then a send."""
    from django.db import connection, transaction

    from bench.setup_tf import setup
    from connections.models import Connection

    info = setup()
    connection_id = info["connection_id"]
    workspace_id = Connection.objects.get(pk=connection_id).workspace_id
    rng = random.Random(15)
    now = dt.datetime.now(dt.UTC)
    start = now - dt.timedelta(days=DAYS)
    runs = step_runs // 2
    spacing = (now - start) / runs
    deliveries = ["delivered"] * 85 + ["undelivered"] * 5 + ["failed"] * 3 + ["sent"] * 5 + [""] * 2
    codes = {"undelivered": [30003, 30005, 30007], "failed": [30007, 30034]}
    run_rows, step_rows, event_rows, ledger_rows, consent_rows = [], [], [], [], []

    def ts(moment: dt.datetime) -> str:
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")

    inputs_cache = {}
    for n in range(runs):
        at = start + spacing * n
        contact = f"+1415555{rng.randrange(10000):04d}"
        delivery = rng.choice(deliveries)
        code = rng.choice(codes[delivery]) if delivery in codes else None
        status = "failed" if n % 97 == 0 else "succeeded"
        run_rows.append(
            (
                n + 1,
                workspace_id,
                status,
                "trigger",
                "{}",
                "{}",
                "[]",
                "",
                0,
                "",
                ts(at),
                ts(at),
                ts(at),
                "OPTED_OUT" if status == "failed" else "",
                "",
                "",
            )
        )
        step_rows.append(
            (
                2 * n + 1,
                n + 1,
                1,
                1,
                "check",
                "branch",
                "",
                "succeeded",
                "{}",
                "",
                "[]",
                None,
                "",
                "[]",
                ts(at),
            )
        )
        if contact not in inputs_cache:
            inputs_cache[contact] = json.dumps(
                {"From": "+15017122661", "To": contact, "Body": "Your order has shipped."}
            )
        step_rows.append(
            (
                2 * n + 2,
                n + 1,
                2,
                1,
                "notify",
                "action",
                "twilio/send-sms",
                "failed" if status == "failed" else "succeeded",
                inputs_cache[contact],
                "" if status == "failed" else f"SM{n:032x}",
                "[]",
                code,
                delivery if status != "failed" else "",
                "[]",
                ts(at),
            )
        )
        if status != "failed":
            ledger_rows.append((workspace_id, "", "sms", contact, "", 1, "0.0079", "USD", 1, 0, ts(at)))
        if n % 3 == 0:
            event_rows.append(
                (
                    connection_id,
                    "messages",
                    "twilio/incoming-sms",
                    f"key:SMin{n}",
                    ts(at),
                    json.dumps(
                        {"From": contact, "To": "+15017122661", "Body": "Where is my order?", "NumMedia": 0}
                    ),
                    contact,
                    "+15017122661",
                    "no_match",
                )
            )
        if n % 50 == 0:
            event_rows.append(
                (
                    connection_id,
                    "status",
                    "twilio/call-status",
                    f"key:CA{n}",
                    ts(at),
                    json.dumps(
                        {
                            "CallStatus": rng.choice(["completed", "busy", "no-answer"]),
                            "CallDuration": rng.randrange(200),
                        }
                    ),
                    "",
                    "",
                    "tracked",
                )
            )
        if n % 400 == 0:
            consent_rows.append((workspace_id, contact, "sms", "", "opt_out", "keyword", "STOP", "", ts(at)))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO workflows_run (id, workspace_id, status, source, trigger_payload, context, adhoc_steps,"
            " current_step, sequence, waiting_for, created_at, started_at, finished_at, error_code, error_message,"
            " search_text, lease_owner) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,'')",
            run_rows,
        )
        cursor.executemany(
            "INSERT INTO workflows_steprun (id, run_id, sequence, attempt, step_name, kind, action, status, inputs,"
            " twilio_sid, exchanges, delivery_error_code, delivery_status, delivery_history, started_at, reconciled,"
            " error_code, error_message) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0,'','')",
            step_rows,
        )
        cursor.executemany(
            "INSERT INTO triggers_triggerevent (connection_id, purpose, kind, dedupe_key, received_at, payload,"
            " from_number, to_number, match_status, signed_hash, params, headers, raw_body, raw_body_encoding,"
            " runs_started, invalid_code, invalid_reason, response_body, response_content_type, reply_status,"
            " reply_error_code, reply_error_message, match_reasons, duplicates, sid)"
            " VALUES (?,?,?,?,?,?,?,?,?,'','{}','{}','','',0,'','','','','','','','[]',0,'')",
            event_rows,
        )
        cursor.executemany(
            "INSERT INTO compliance_sendledger (workspace_id, key, channel, contact, sender, segments,"
            " estimated_cost, currency, price_known, sandbox, at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            ledger_rows,
        )
        cursor.executemany(
            "INSERT INTO compliance_consentevent (workspace_id, contact, channel, sender, kind, source, keyword,"
            " note, at) VALUES (?,?,?,?,?,?,?,?,?)",
            consent_rows,
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {
        "workspace_id": workspace_id,
        "runs": len(run_rows),
        "step_runs": len(step_rows),
        "events": len(event_rows),
        "ledger": len(ledger_rows),
        "consent": len(consent_rows),
    }


def leg(step_runs: int, requests: int, profile: bool = False) -> dict:
    with common.environment("sqlite", "orm") as env:
        env["ALLOWED_HOSTS"] = "testserver"
        common.django_setup(env)
        from django.contrib.auth import get_user_model
        from django.core.management import call_command
        from django.test import Client

        from workspaces.models import Membership

        started = time.perf_counter()
        seeded = seed(step_runs)
        call_command("collectstatic", "--noinput", verbosity=0)  # DEBUG off: the manifest storage
        seeded["seed_seconds"] = round(time.perf_counter() - started, 1)
        print(f"dashboard: seeded {seeded}", flush=True)
        user = get_user_model().objects.create_user("bench", password="x")
        Membership.objects.create(user=user, workspace_id=seeded["workspace_id"], role="viewer")
        client = Client()
        client.force_login(user)
        today = dt.date.today()
        pages = {
            "today": "/?period=today",
            "7d": "/?period=7d",
            "30d": "/?period=30d",
            "90d custom": f"/?period=custom&from={today - dt.timedelta(days=DAYS - 1)}&to={today}",
            "inbox": "/inbox/",
            "runs list": "/runs/",
        }

        def get(url: str) -> float:
            t0 = time.perf_counter()
            response = client.get(url)
            elapsed = time.perf_counter() - t0
            if response.status_code != 200:
                raise SystemExit(f"{url}: HTTP {response.status_code}")
            return elapsed

        # The cold request of the widest period rolls every settled hour up once.
        cold = {name: round(1000 * get(url), 1) for name, url in pages.items() if name == "90d custom"}
        body = client.get(pages["7d"]).content.decode()
        checks = {
            "7d page shows sends": "messages sent" in body and "<svg" in body,
            "rollups written": __import__("staff.models", fromlist=["StatHour"]).StatHour.objects.exists(),
        }
        for url in pages.values():
            get(url)  # warm-up

        def measure(urls: list[str]):
            def run_batch(rep: int) -> dict:
                times = sorted(get(url) for _ in range(requests) for url in urls)
                return {"ms": round(1000 * times[len(times) // 2], 2), "max_ms": round(1000 * times[-1], 2)}

            return run_batch

        if profile:
            import cProfile
            import io
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(5):
                get(pages["90d custom"])
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(40)
            print(out.getvalue(), file=sys.stderr)
            return {}
        samples = {}
        for name, url in pages.items():
            print(f"dashboard: {name}", flush=True)
            samples[name] = common.interleave(measure([url]), measure(["/healthz"]))
        return {"seeded": seeded, "cold_ms": cold, "samples": samples, "checks": checks}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--step-runs", type=int, default=20_000 if common.SMOKE else 1_000_000)
    parser.add_argument("--requests", type=int, default=5 if common.SMOKE else 15)
    parser.add_argument("--leg", action="store_true")
    parser.add_argument("--profile", action="store_true", help="with --leg: cProfile the 90-day page")
    args = parser.parse_args()
    if args.leg:
        print("RESULT " + json.dumps(leg(args.step_runs, args.requests, args.profile)))
        return
    print(
        f"dashboard: {args.step_runs} step runs, {args.requests} requests x {common.REPS}, load {common.load()}"
    )
    argv = [
        common.PY,
        __file__,
        "--leg",
        "--step-runs",
        str(args.step_runs),
        "--requests",
        str(args.requests),
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=common.ROOT)
    sys.stdout.write(
        "\n".join(line for line in proc.stdout.splitlines() if not line.startswith("RESULT ")) + "\n"
    )
    if proc.returncode:
        sys.exit(f"dashboard leg failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.split("RESULT ", 1)[1])
    cond = common.conditions("sqlite", None, step_runs=result["seeded"]["step_runs"])
    figures, checks = [], dict(result["checks"])
    for name, samples in result["samples"].items():
        t, b = samples["twilioflow"], samples["baseline"]
        tf_ms = common.median(t, "ms")
        is_dashboard = name not in ("inbox", "runs list")
        figures.append(
            common.figure(
                f"staff {'dashboard ' if is_dashboard else ''}{name} ({result['seeded']['step_runs']:,} step runs)",
                "ms",
                tf_ms,
                common.median(b, "ms"),
                higher_is_better=False,
                goal=f"< {GOAL_MS} ms" if is_dashboard else "",
                load=common.median(t + b, "load"),
                cond=cond,
            )
        )
        if is_dashboard:
            checks[f"{name} under {GOAL_MS} ms"] = tf_ms < GOAL_MS
    for name, ms in result["cold_ms"].items():
        figures.append(
            common.figure(
                f"staff dashboard {name}, first request (rolls up 90 days)",
                "ms",
                ms,
                None,
                higher_is_better=False,
                cond=cond,
            )
        )
    common.write_result("dashboard", figures, checks, {"seeded": result["seeded"], **result["samples"]})


if __name__ == "__main__":
    main()
