"""Engine overhead per action step: N inline passes (`run_execute`) of a one-step templated
send-sms workflow against the fake Twilio, versus the bare client call (a pooled
`requests.Session().post` of the same form to the same fake, JSON parsed). Our own time per
step = TwilioFlow's time minus the bare call's; SQL statements per step are counted with
`CaptureQueriesContext` in a separate pass (counting slows what it counts). Interleaved, 3
repetitions, on SQLite and on PostgreSQL when it answers (each leg in its own process).

    .venv/bin/python bench/engine_overhead.py [--runs 300] [--profile]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common


def leg(database: str, runs: int, profile: bool) -> dict:
    with common.environment(database, "orm") as env, common.fake_twilio() as fake_url:
        env["TWILIO_API_BASE"] = fake_url
        common.django_setup(env)
        import requests
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from bench.setup_tf import setup
        from workflows.engine import run_execute
        from workflows.models import Run, Workflow
        from workflows.runs import run_create

        info = setup()
        workflow = Workflow.objects.get(pk=info["workflow_id"])
        counter = iter(range(10**9))

        def payload() -> dict:
            n = next(counter)
            return {
                "MessageSid": f"SM{n:032x}",
                "From": "+14155550123",
                "To": "+15017122661",
                "Body": f"engine {n}",
            }

        def tf_once() -> float:
            run = run_create(workflow=workflow, payload=payload(), source="trigger", enqueue=False)
            started = time.perf_counter()
            run_execute(run.pk)
            return time.perf_counter() - started

        session = requests.Session()
        url = f"{fake_url}/2010-04-01/Accounts/{common.ACCOUNT_SID}/Messages.json"

        def base_once() -> float:
            p = payload()
            started = time.perf_counter()
            response = session.post(
                url,
                data={"From": p["To"], "To": p["From"], "Body": p["Body"]},
                auth=(common.ACCOUNT_SID, common.AUTH_TOKEN),
                timeout=(5, 30),
            )
            response.raise_for_status()
            response.json()
            return time.perf_counter() - started

        for _ in range(20):  # warm-up: imports, connections, caches
            tf_once()
            base_once()

        def measure(once):
            def run_batch(rep: int) -> dict:
                times = sorted(once() for _ in range(runs))
                return {
                    "ms_per_step": round(1000 * times[len(times) // 2], 3),
                    "mean_ms": round(1000 * sum(times) / len(times), 3),
                }

            return run_batch

        samples = common.interleave(measure(tf_once), measure(base_once))
        with CaptureQueriesContext(connection) as queries:
            counted = 20
            for _ in range(counted):
                tf_once()
        statements = len(queries.captured_queries) / counted
        run_statuses = dict(Run.objects.values_list("status").distinct().values_list("status", "status"))
        sends = common.fake_get(fake_url, "/_stats")
        result = {
            "samples": samples,
            "statements_per_step": statements,
            "statuses": sorted(run_statuses),
            "runs": Run.objects.count(),
            "sends": sends["sends"] - 0,
            "duplicates": sends["duplicates"],
            "base_calls": (20 + runs * common.REPS),
        }
        if profile:
            import cProfile
            import io
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(runs):
                tf_once()
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
            result["profile"] = out.getvalue()
        from django.db import connections

        connections.close_all()
        return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30 if common.SMOKE else 300)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--leg")
    args = parser.parse_args()
    if args.leg:
        print("RESULT " + json.dumps(leg(args.leg, args.runs, args.profile)))
        return
    figures, checks, all_samples = [], {}, {}
    for database, _ in common.brokers():
        print(f"engine_overhead: {args.runs} runs x {common.REPS}, {database}, load {common.load()}")
        argv = [common.PY, __file__, "--leg", database, "--runs", str(args.runs)] + (
            ["--profile"] if args.profile else []
        )
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=common.ROOT)
        sys.stdout.write(
            "\n".join(line for line in proc.stdout.splitlines() if not line.startswith("RESULT ")) + "\n"
        )
        if proc.returncode:
            sys.exit(f"engine_overhead leg {database} failed:\n{proc.stderr[-3000:]}")
        result = json.loads(proc.stdout.split("RESULT ", 1)[1])
        if result.get("profile"):
            print(result["profile"])
        samples = result["samples"]
        t, b = samples["twilioflow"], samples["baseline"]
        cond = common.conditions(database, None, runs=args.runs)
        load = common.median(t + b, "load")
        tf_ms, base_ms = common.median(t, "ms_per_step"), common.median(b, "ms_per_step")
        figures.append(
            common.figure(
                f"engine: one action step ({database})",
                "ms",
                tf_ms,
                base_ms,
                higher_is_better=False,
                load=load,
                cond=cond,
            )
        )
        figures.append(
            common.figure(
                f"engine: our own time per action step ({database})",
                "ms",
                round(tf_ms - base_ms, 3),
                0,
                higher_is_better=False,
                goal="< 1 ms",
                load=load,
                cond=cond,
            )
        )
        figures.append(
            common.figure(
                f"engine: SQL statements per action step ({database})",
                "statements",
                result["statements_per_step"],
                None,
                higher_is_better=False,
                load=load,
                cond=cond,
            )
        )
        total_runs = 20 + args.runs * common.REPS + 20 + (args.runs if args.profile else 0)
        checks[f"{database}: every run succeeded"] = result["statuses"] == ["succeeded"]
        checks[f"{database}: one send per run, 0 duplicates"] = (
            result["sends"] == total_runs + result["base_calls"] and result["duplicates"] == 0
        )
        all_samples[database] = samples
    common.write_result("engine_overhead", figures, checks, all_samples)


if __name__ == "__main__":
    main()
