"""One poll of 10,000 messages: a `twilio/new-messages` trigger polls the fake Twilio (1,000
per page, newest first) against a bare fetch-and-insert baseline (a pooled requests session
following `next_page_uri`, `json` per page, `bulk_create` of one TriggerEvent per message).
Each measurement runs in a fresh process so its peak RSS is its own; interleaved, 3
repetitions, SQLite. Checks: the first poll stores exactly 10,000 events, a second poll
stores 0 (and how much it fetched again is reported).

    .venv/bin/python bench/polling.py [--messages 10000]   # BENCH_SMOKE=1: 2,000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common


def one(side: str, rep: int, info: dict, fake_url: str) -> dict:
    import os

    common.django_setup(dict(os.environ))
    from django.db import transaction

    from triggers.models import Trigger, TriggerEvent

    trigger = Trigger.objects.select_related("connection", "workflow").get(pk=info["poll_trigger_id"])
    # Reset without loading the rows (a collecting delete() would raise the peak RSS measured).
    stale = TriggerEvent.objects.filter(connection_id=trigger.connection_id, purpose="poll")
    stale._raw_delete(stale.db)
    Trigger.objects.filter(pk=trigger.pk).update(poll_cursor=None)
    trigger.poll_cursor = None
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if side == "twilioflow":
        from triggers.polling import poll_trigger

        started = time.perf_counter()
        first = poll_trigger(trigger=trigger)
        seconds = time.perf_counter() - started
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        second = poll_trigger(trigger=trigger)
        return {
            "seconds": round(seconds, 3),
            "peak_rss_mb": round(rss, 1),
            "rss_before_mb": round(rss_before, 1),
            "events": first["created"],
            "capped": first["capped"],
            "fetched": first["fetched"],
            "second_created": second["created"],
            "second_fetched": second["fetched"],
        }
    import requests

    session = requests.Session()
    started = time.perf_counter()
    path: str | None = f"/2010-04-01/Accounts/{common.ACCOUNT_SID}/Messages.json?PageSize=1000"
    rows = []
    while path:
        body = session.get(fake_url + path, auth=(common.ACCOUNT_SID, common.AUTH_TOKEN), timeout=30).json()
        for record in body["messages"]:
            rows.append(
                TriggerEvent(
                    connection_id=trigger.connection_id,
                    trigger=trigger,
                    purpose="poll",
                    kind=trigger.kind,
                    dedupe_key=f"base:{rep}:{record['sid']}",
                    payload=record,
                    sid=record["sid"][:34],
                    from_number=record["from"],
                    to_number=record["to"],
                    match_status="matched",
                    runs_started=1,
                )
            )
        path = body.get("next_page_uri")
    with transaction.atomic():
        TriggerEvent.objects.bulk_create(rows, batch_size=1000)
    seconds = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "seconds": round(seconds, 3),
        "peak_rss_mb": round(rss, 1),
        "rss_before_mb": round(rss_before, 1),
        "events": len(rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000 if common.SMOKE else 10_000)
    parser.add_argument("--one", nargs=2, metavar=("SIDE", "REP"))
    parser.add_argument("--info")
    args = parser.parse_args()
    if args.one:
        import os

        print(
            "RESULT "
            + json.dumps(
                one(args.one[0], int(args.one[1]), json.loads(args.info), os.environ["TWILIO_API_BASE"])
            )
        )
        return
    print(f"polling: one poll of {args.messages} messages, sqlite, load {common.load()}")
    with common.environment("sqlite", "orm") as env, common.fake_twilio(args.messages) as fake_url:
        env["TWILIO_API_BASE"] = fake_url
        out = subprocess.run(
            [common.PY, "bench/setup_tf.py", "--polling"],
            cwd=common.ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        info = out.split("SETUP ", 1)[1].strip()

        def measure(side: str):
            def run(rep: int) -> dict:
                proc = subprocess.run(
                    [common.PY, __file__, "--one", side, str(rep), "--info", info],
                    cwd=common.ROOT,
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if proc.returncode:
                    sys.exit(f"polling {side} failed:\n{proc.stderr[-3000:]}")
                return json.loads(proc.stdout.split("RESULT ", 1)[1])

            return run

        samples = common.interleave(measure("twilioflow"), measure("baseline"))
    t, b = samples["twilioflow"], samples["baseline"]
    cond = common.conditions("sqlite", None, messages=args.messages, page_size=1000)
    load = common.median(t + b, "load")
    figures = [
        common.figure(
            f"poll of {args.messages:,} messages: wall time",
            "s",
            common.median(t, "seconds"),
            common.median(b, "seconds"),
            higher_is_better=False,
            goal="≤ 2 × baseline",
            load=load,
            cond=cond,
        ),
        common.figure(
            f"poll of {args.messages:,} messages: peak RSS",
            "MB",
            common.median(t, "peak_rss_mb"),
            common.median(b, "peak_rss_mb"),
            higher_is_better=False,
            goal="< 150 MB",
            load=load,
            cond=cond,
        ),
        common.figure(
            "second poll: messages fetched again",
            "messages",
            common.median(t, "second_fetched"),
            None,
            higher_is_better=False,
            load=load,
            cond=cond,
        ),
    ]
    checks = {
        f"first poll stores exactly {args.messages}": all(s["events"] == args.messages for s in t + b),
        "second poll stores 0": all(s["second_created"] == 0 for s in t),
    }
    common.write_result("polling", figures, checks, samples)


if __name__ == "__main__":
    main()
