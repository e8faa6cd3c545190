"""Trigger → Twilio request latency: from the moment a signed inbound SMS is answered to the
moment the fake Twilio receives the send it caused, p50/p95, one webhook at a time (spaced,
so the figure is latency, not queueing). Against the bare baseline (a verified insert and a
django-q2 task that sends), interleaved, 3 repetitions, on SQLite + ORM broker and on
PostgreSQL + Redis when both answer.

    .venv/bin/python bench/latency.py [--webhooks 100]   # BENCH_SMOKE=1: 12 webhooks
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.stack import Stack, message_params, stack


def measure(st: Stack, side: str, rep: int, n: int) -> dict:
    s = st.sides[side]
    prefix = f"l{side[0]}{rep}"
    answered: dict[str, float] = {}
    with st.worker(side):
        for i in range(n):
            params = message_params(prefix, i)
            result = st.post(side, [(params, s.sign(params))], concurrency=1)
            body, at, status = result[0]
            if status == 200:
                answered[body] = at
            time.sleep(0.05 + random.random() * 0.1)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            arrived = {body: at for at, _, body in st.fake_sends() if body in answered}
            if len(arrived) >= len(answered):
                break
            time.sleep(0.2)
    delays = sorted((arrived[b] - answered[b]) * 1000 for b in answered if b in arrived)
    pick = lambda q: round(delays[min(len(delays) - 1, int(q * len(delays)))], 1) if delays else None  # noqa: E731
    return {
        "p50_ms": pick(0.5),
        "p95_ms": pick(0.95),
        "mean_ms": round(statistics.mean(delays), 1) if delays else None,
        "answered": len(answered),
        "arrived": len(delays),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--webhooks", type=int, default=12 if common.SMOKE else 100)
    args = parser.parse_args()
    figures, checks, all_samples = [], {}, {}
    for database, broker in common.brokers():
        print(f"latency: {args.webhooks} webhooks one at a time, {database} + {broker}, load {common.load()}")
        with stack(database, broker) as st:
            samples = common.interleave(
                lambda rep, st=st: measure(st, "twilioflow", rep, args.webhooks),
                lambda rep, st=st: measure(st, "baseline", rep, args.webhooks),
            )
        t, b = samples["twilioflow"], samples["baseline"]
        cond = common.conditions(database, broker, webhooks=args.webhooks, q_workers=2)
        load = common.median(t + b, "load")
        goal = "< 20 ms" if broker == "redis" else "< 100 ms"
        for q in ("p50", "p95"):
            figures.append(
                common.figure(
                    f"webhook → send latency {q} ({database} + {broker})",
                    "ms",
                    common.median(t, f"{q}_ms"),
                    common.median(b, f"{q}_ms"),
                    higher_is_better=False,
                    goal=goal if q == "p50" else "",
                    load=load,
                    cond=cond,
                )
            )
        leg = f"{database}+{broker}"
        checks[f"{leg}: every answered webhook sent"] = all(
            s["arrived"] == s["answered"] == args.webhooks for s in t + b
        )
        all_samples[leg] = samples
    common.write_result("latency", figures, checks, all_samples)


if __name__ == "__main__":
    main()
