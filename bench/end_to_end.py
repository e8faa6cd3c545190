"""End to end: N signed inbound SMS through gunicorn + qcluster (2 workers) + the fake
Twilio, each starting one run of a one-step templated send-sms workflow; runs/s from the
first webhook sent to the last run finished. Against the bare baseline (bench/baseline: a
verified insert, a django-q2 task that sends the same request and records its SID), run
interleaved, 3 repetitions, on both legs: SQLite + ORM broker, and PostgreSQL + Redis when
both answer on 127.0.0.1. Checks: every webhook answered, sends == runs, 0 duplicates.

    .venv/bin/python bench/end_to_end.py [--webhooks 2000]   # BENCH_SMOKE=1: 60 webhooks
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.stack import Stack, message_params, stack


def measure(st: Stack, side: str, rep: int, n: int, timeout: float) -> dict:
    s = st.sides[side]
    prefix = f"e{side[0]}{rep}"
    reqs = [(p, s.sign(p)) for p in (message_params(prefix, i) for i in range(n))]
    done_before, _ = st.done(side)
    failed_before = st.failed_runs() if side == "twilioflow" else 0
    sends_before = st.fake_stats()["sends"]
    with st.worker(side):
        started = time.time()
        results = st.post(side, reqs, concurrency=8)
        answered = time.time()
        deadline = time.monotonic() + timeout
        while True:
            done, last = st.done(side)
            if done - done_before >= n or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    stats = st.fake_stats()
    finished = done - done_before
    elapsed = (last or time.time()) - started
    return {
        "runs_per_s": round(finished / elapsed, 1) if finished else 0.0,
        "webhooks_per_s": round(n / (answered - started), 1),
        "answered": sum(r[2] == 200 for r in results),
        "finished": finished,
        "failed": (st.failed_runs() - failed_before) if side == "twilioflow" else 0,
        "sends": stats["sends"] - sends_before,
        "duplicates": stats["duplicates"],
        "seconds": round(elapsed, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--webhooks", type=int, default=60 if common.SMOKE else 2000)
    args = parser.parse_args()
    figures, checks, all_samples = [], {}, {}
    for database, broker in common.brokers():
        print(f"end_to_end: {args.webhooks} webhooks, {database} + {broker}, load {common.load()}")
        with stack(database, broker) as st:
            samples = common.interleave(
                lambda rep, st=st: measure(st, "twilioflow", rep, args.webhooks, 30 + args.webhooks / 5),
                lambda rep, st=st: measure(st, "baseline", rep, args.webhooks, 30 + args.webhooks / 5),
            )
        t, b = samples["twilioflow"], samples["baseline"]
        goal = "≥ 100 runs/s" if database == "sqlite" else "≥ 300 runs/s"
        figures.append(
            common.figure(
                f"end to end ({database} + {broker})",
                "runs/s",
                common.median(t, "runs_per_s"),
                common.median(b, "runs_per_s"),
                higher_is_better=True,
                goal=goal,
                load=common.median(t + b, "load"),
                cond=common.conditions(
                    database,
                    broker,
                    webhooks=args.webhooks,
                    q_workers=2,
                    web="gunicorn 2 workers x 4 threads",
                ),
            )
        )
        leg = f"{database}+{broker}"
        checks[f"{leg}: every webhook answered 200"] = all(s["answered"] == args.webhooks for s in t + b)
        checks[f"{leg}: every run finished"] = all(s["finished"] == args.webhooks for s in t + b)
        checks[f"{leg}: every run succeeded"] = all(s["failed"] == 0 for s in t)
        checks[f"{leg}: sends == runs"] = all(s["sends"] == s["finished"] for s in t + b)
        checks[f"{leg}: 0 duplicate sends"] = all(s["duplicates"] == 0 for s in t + b)
        all_samples[leg] = samples
    common.write_result("end_to_end", figures, checks, all_samples)


if __name__ == "__main__":
    main()
