"""Campaign pacing: the rate the fake Twilio actually receives against the configured rate,
at 1, 10 and 100 msg/s, sent by a real qcluster (2 workers, 2 lanes sharing one sender's
slot schedule), on SQLite + ORM broker and on PostgreSQL + Redis; peak RSS of the cluster's
processes. The baseline of each figure is the configured rate (ratio 1.00 = exact; goal
±5 %). Checks: 0 duplicate sends; nothing sent above the rate.

The crash figure (skip with `--no-kill`): A campaign of 10,000 recipients (150 in the smoke run) sent as
fast as the workers go; the qcluster is SIGKILLed midway, a new one started; it must end
with exactly one attempt per recipient (sends == recipients, 0 duplicates).

    .venv/bin/python bench/campaign_pacing.py [--seconds 60] [--rates 1,10,100] [--no-kill]
    BENCH_SMOKE=1: 10 and 100 msg/s, 4 s each, 150 recipients for the kill
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

SETUP = """
from workspaces.models import Workspace
from connections.services import connection_create
from campaigns.services import campaign_create, campaign_recipients_add_list
ws = Workspace.objects.get_or_create(name="Bench", slug="bench", defaults={{"default_country": "US"}})[0]
conn = connection_create(workspace=ws, name="c{tag}", account_sid="AC" + "0" * 32, auth_token="0" * 32)
campaign = campaign_create(workspace=ws, connection=conn, name="pace {tag}", sender="+15017122661",
                           body="Hi {{{{ n }}}}", mps={rate}, workers=2)
items = [{{"phone": "+1415{{:07d}}".format({start} + i), "n": str(i)}} for i in range({count})]
campaign_recipients_add_list(campaign=campaign, items=items)
print("CAMPAIGN", campaign.pk)
"""
START = "from campaigns.models import Campaign\nfrom campaigns.services import campaign_start\ncampaign_start(campaign=Campaign.objects.get(pk={pk}))"
CANCEL = "from campaigns.models import Campaign\nfrom campaigns.services import campaign_cancel\ncampaign_cancel(campaign=Campaign.objects.get(pk={pk}))"
TICK = "from campaigns.services import campaigns_tick\nprint(campaigns_tick())"
STATE = (
    "import json\nfrom django.db.models import Count\nfrom campaigns.models import Campaign, CampaignRecipient\n"
    "c = Campaign.objects.get(pk={pk})\n"
    "s = dict(CampaignRecipient.objects.filter(campaign=c).values_list('state').annotate(n=Count('id')).values_list('state', 'n'))\n"
    "print('STATE ' + json.dumps({{'status': c.status, 'states': s}}))"
)


@contextlib.contextmanager
def campaign_fake() -> Iterator[str]:
    proc = subprocess.Popen(
        [common.PY, str(common.ROOT / "bench" / "campaign_fake.py")],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"campaign fake did not start: {line!r}")
    try:
        yield f"http://127.0.0.1:{line.split()[1]}"
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def shell(env: dict[str, str], code: str) -> str:
    return common.manage(env, "shell", "-c", code)


def state(env: dict[str, str], pk: int) -> dict:
    line = next(x for x in shell(env, STATE.format(pk=pk)).splitlines() if x.startswith("STATE "))
    return json.loads(line[6:])


def peak_rss_mb(session: int) -> float:
    """The largest peak resident set (VmHWM) among the processes of a session (the cluster)."""
    peak = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            if os.getsid(int(entry.name)) != session:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
    return round(peak / 1024, 1)


def measure_rate(env: dict[str, str], fake: str, rate: float, seconds: float, tag: int) -> dict:
    count = int(rate * seconds) + 2
    out = shell(env, SETUP.format(tag=tag, rate=rate, start=2_000_000 + tag * 100_000, count=count))
    pk = int(next(x for x in out.splitlines() if x.startswith("CAMPAIGN")).split()[1])
    common.fake_reset(fake)
    with common.qcluster(env, f"pace-{tag}") as cluster:
        time.sleep(2)  # the cluster's workers are up
        shell(env, START.format(pk=pk))
        # Until every recipient is sent, or for `seconds` once sending began (the workers may
        # not keep up with the rate: the figure then shows what they do).
        deadline, first = time.monotonic() + 60, None
        rss = 0.0
        while time.monotonic() < deadline:
            rss = max(rss, peak_rss_mb(cluster.proc.pid))
            sent = common.fake_get(fake, "/_stats")["sends"]
            if sent >= count:
                break
            if sent and first is None:
                first = time.monotonic()
                deadline = first + seconds + 1
            time.sleep(0.25)
        shell(env, CANCEL.format(pk=pk))
    sends = sorted(t for t, _ in common.fake_get(fake, "/_sends"))
    stats = common.fake_get(fake, "/_stats")
    actual = (len(sends) - 1) / (sends[-1] - sends[0]) if len(sends) > 1 and sends[-1] > sends[0] else 0.0
    # The tightest window: in any second, no more than rate (+1 for the window's edge).
    worst = max((sum(1 for t in sends if s <= t < s + 1.0) for s in sends), default=0)
    return {
        "configured": rate,
        "actual": round(actual, 3),
        "sends": stats["sends"],
        "expected": count,
        "duplicates": stats["duplicates"],
        "max_in_one_second": worst,
        "peak_rss_mb": rss,
        "seconds": round(sends[-1] - sends[0], 2) if sends else 0.0,
    }


def measure_kill(env: dict[str, str], fake: str, recipients: int) -> dict:
    out = shell(env, SETUP.format(tag=99, rate=1000, start=5_000_000, count=recipients))
    pk = int(next(x for x in out.splitlines() if x.startswith("CAMPAIGN")).split()[1])
    common.fake_reset(fake)
    started = time.monotonic()
    with common.qcluster(env, "kill-1") as cluster:
        time.sleep(2)
        shell(env, START.format(pk=pk))
        while common.fake_get(fake, "/_stats")["sends"] < recipients // 3:
            time.sleep(0.1)
        os.killpg(cluster.proc.pid, signal.SIGKILL)
    killed_at = common.fake_get(fake, "/_stats")["sends"]
    with common.qcluster(env, "kill-2"):
        deadline = time.monotonic() + recipients / 2 + 300
        while time.monotonic() < deadline:
            shell(env, TICK)  # what the minute schedule does: revive lanes whose lease lapsed
            if state(env, pk)["status"] == "completed":
                break
            time.sleep(2)
    stats = common.fake_get(fake, "/_stats")
    final = state(env, pk)
    return {
        "recipients": recipients,
        "killed_after_sends": killed_at,
        "sends": stats["sends"],
        "distinct": stats["distinct"],
        "duplicates": stats["duplicates"],
        "status": final["status"],
        "sent": final["states"].get("sent", 0),
        # A send killed between its `dispatching` commit and the request leaving has no trace
        # at Twilio: the engine never guesses, the recipient fails with OUTCOME_UNKNOWN.
        "unknown": final["states"].get("failed", 0),
        "seconds": round(time.monotonic() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4 if common.SMOKE else 60)
    # The smoke run (CI) only proves the script works: two rates keep it short.
    parser.add_argument("--rates", default="10,100" if common.SMOKE else "1,10,100")
    parser.add_argument("--no-kill", dest="kill", action="store_false", help="Skip the SIGKILL figure.")
    parser.add_argument("--recipients", type=int, default=150 if common.SMOKE else 10_000)
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",") if r]
    figures, checks, samples = [], {}, {}
    for database, broker in common.brokers():
        leg = f"{database}+{broker}"
        with (
            campaign_fake() as fake,
            common.environment(
                database, broker, TWILIO_API_BASE=fake, RUN_LEASE_SECONDS="5", CAMPAIGN_LANE_LEASE_SECONDS="5"
            ) as env,
        ):
            common.manage(env, "migrate", "--noinput")
            for index, rate in enumerate(rates):
                print(
                    f"campaign_pacing: {rate:g} msg/s for {args.seconds:g} s, {leg}, load {common.load()}",
                    flush=True,
                )
                sample = measure_rate(env, fake, rate, args.seconds, index + 1)
                sample["load"] = common.load()
                print("  " + " ".join(f"{k}={v}" for k, v in sample.items()), flush=True)
                samples[f"{leg} {rate:g}/s"] = sample
                figures.append(
                    common.figure(
                        f"campaign pace {rate:g} msg/s ({leg})",
                        "msg/s",
                        sample["actual"],
                        rate,
                        higher_is_better=True,
                        goal="0.95–1.05× of configured",
                        load=sample["load"],
                        cond=common.conditions(
                            database, broker, lanes=2, q_workers=2, peak_rss_mb=sample["peak_rss_mb"]
                        ),
                    )
                )
                checks[f"{leg} {rate:g}/s: 0 duplicate sends"] = sample["duplicates"] == 0
                checks[f"{leg} {rate:g}/s: never above the rate"] = sample["actual"] <= rate * 1.05
            if args.kill:
                print(
                    f"campaign_pacing: SIGKILL mid-campaign, {args.recipients} recipients, {leg}", flush=True
                )
                sample = measure_kill(env, fake, args.recipients)
                print("  " + " ".join(f"{k}={v}" for k, v in sample.items()), flush=True)
                samples[f"{leg} kill"] = sample
                checks[f"{leg} kill: sends + outcome-unknown (≤ 2 lanes in flight) == recipients"] = (
                    sample["sends"] + sample["unknown"] == args.recipients and sample["unknown"] <= 2
                )
                checks[f"{leg} kill: 0 duplicates"] = sample["duplicates"] == 0
                checks[f"{leg} kill: completed"] = sample["status"] == "completed"
    common.write_result("campaign_pacing", figures, checks, samples)


if __name__ == "__main__":
    main()
