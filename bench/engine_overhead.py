"""Engine overhead per action step: N inline passes (`run_execute`) of a one-step templated
send-sms workflow against the fake Twilio, versus the bare client call (a pooled
`requests.Session().post` of the same form to the same fake, JSON parsed). Our own time per
step = TwilioFlow's time minus the bare call's, in wall time and in this process's CPU time
(`time.process_time`: on a shared machine the CPU figure is the steadier one, since the
wall time includes waiting for a core). SQL statements of `run_execute` alone (the run is
created before, untimed) are counted with `CaptureQueriesContext` in a separate pass
(counting slows what it counts), without BEGIN/COMMIT/SAVEPOINT, and so are its commits
(each a WAL flush on PostgreSQL). Interleaved, 3 repetitions, on SQLite and on PostgreSQL
when it answers (each leg in its own process).

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

        created: list[int] = []

        def tf_once() -> tuple[float, float]:
            run = run_create(workflow=workflow, payload=payload(), source="trigger", enqueue=False)
            created.append(run.pk)
            cpu, started = time.process_time(), time.perf_counter()
            run_execute(run.pk)
            return time.perf_counter() - started, time.process_time() - cpu

        session = requests.Session()
        url = f"{fake_url}/2010-04-01/Accounts/{common.ACCOUNT_SID}/Messages.json"

        def base_once() -> tuple[float, float]:
            p = payload()
            cpu, started = time.process_time(), time.perf_counter()
            response = session.post(
                url,
                data={"From": p["To"], "To": p["From"], "Body": p["Body"]},
                auth=(common.ACCOUNT_SID, common.AUTH_TOKEN),
                timeout=(5, 30),
            )
            response.raise_for_status()
            response.json()
            return time.perf_counter() - started, time.process_time() - cpu

        for _ in range(20):  # warm-up: imports, connections, caches
            tf_once()
            base_once()

        def measure(once):
            def run_batch(rep: int) -> dict:
                pairs = [once() for _ in range(runs)]
                times = sorted(wall for wall, _ in pairs)
                cpu = sorted(used for _, used in pairs)
                return {
                    "ms_per_step": round(1000 * times[len(times) // 2], 3),
                    "mean_ms": round(1000 * sum(times) / len(times), 3),
                    "cpu_ms_per_step": round(1000 * cpu[len(cpu) // 2], 3),
                }

            return run_batch

        samples = common.interleave(measure(tf_once), measure(base_once))
        counted, statements, commits = 20, 0, 0
        for _ in range(counted):
            run = run_create(workflow=workflow, payload=payload(), source="trigger", enqueue=False)
            with CaptureQueriesContext(connection) as queries:
                run_execute(run.pk)
            in_transaction = False
            for query in queries.captured_queries:
                sql = query["sql"].lstrip().upper()
                if sql.startswith("BEGIN"):
                    in_transaction = True
                elif sql.startswith("COMMIT"):
                    in_transaction, commits = False, commits + 1
                elif not sql.startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
                    statements += 1
                    commits += 0 if in_transaction else 1  # autocommit: its own transaction
        statements, commits = statements / counted, commits / counted
        run_statuses = dict(Run.objects.values_list("status").distinct().values_list("status", "status"))
        sends = common.fake_get(fake_url, "/_stats")
        result = {
            "samples": samples,
            "statements_per_step": statements,
            "commits_per_step": commits,
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

            profiler = cProfile.Profile(time.process_time)  # CPU, not waiting for a core
            profiler.enable()
            for _ in range(runs):
                tf_once()
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("cumulative").print_stats(45)
            stats.sort_stats("tottime").print_stats(25)
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
        tf_cpu, base_cpu = common.median(t, "cpu_ms_per_step"), common.median(b, "cpu_ms_per_step")
        # (figure, unit, TwilioFlow, baseline, goal)
        rows = [
            ("one action step", "ms", tf_ms, base_ms, ""),
            ("our own time per action step", "ms", round(tf_ms - base_ms, 3), 0, "< 1 ms"),
            ("SQL statements per action step", "statements", result["statements_per_step"], None, ""),
            ("CPU per action step", "ms", tf_cpu, base_cpu, ""),
            ("our own CPU per action step", "ms", round(tf_cpu - base_cpu, 3), 0, "< 1 ms"),
            ("commits per action step", "commits", result["commits_per_step"], None, ""),
        ]
        for name, unit, tf, base, goal in rows:
            figures.append(
                common.figure(
                    f"engine: {name} ({database})",
                    unit,
                    tf,
                    base,
                    higher_is_better=False,
                    goal=goal,
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
