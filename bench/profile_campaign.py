"""Where a campaign send's time goes, in-process (SQLite, or PostgreSQL with `--postgres`):
SQL statements per recipient (CaptureQueriesContext over a whole `campaign_advance`, with the
statements of one recipient printed) and a cProfile of the same pass, our functions first,
against the fast local fake (`bench/campaign_fake.py`). Evidence for README's campaign
figures; not a benchmark (no baseline, no JSON).

    .venv/bin/python bench/profile_campaign.py [--recipients 200] [--postgres]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.campaign_pacing import campaign_fake


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=200)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--all", action="store_true", help="also Django's and the libraries' functions")
    parser.add_argument("--sort", default="cumulative", help="cumulative or tottime")
    parser.add_argument("--show", type=int, default=1, help="print the statements of this many recipients")
    args = parser.parse_args()
    database, broker = ("postgres", "redis") if args.postgres else ("sqlite", "orm")
    with campaign_fake() as fake, common.environment(database, broker, TWILIO_API_BASE=fake) as env:
        common.manage(env, "migrate", "--noinput")
        common.django_setup(env)
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from campaigns.models import Campaign, CampaignRecipient
        from campaigns.services import (
            campaign_advance,
            campaign_create,
            campaign_recipients_add_list,
            campaign_start,
        )
        from connections.services import connection_create
        from workspaces.models import Workspace

        ws = Workspace.objects.create(name="Bench", slug="bench", default_country="US")
        conn = connection_create(workspace=ws, name="c", account_sid=common.ACCOUNT_SID, auth_token="0" * 32)

        def campaign(count: int, start: int) -> Campaign:
            made = campaign_create(
                workspace=ws,
                connection=conn,
                name=f"profile {start}",
                sender="+15017122661",
                body="Hi {{ n }}",
                mps=1000,
                workers=1,
            )
            items = [{"phone": f"+1415{start + i:07d}", "n": str(i)} for i in range(count)]
            campaign_recipients_add_list(campaign=made, items=items)
            campaign_start(campaign=made)
            return made

        warm = campaign(10, 2_500_000)
        campaign_advance(warm, budget=60)
        one = campaign(args.show, 2_600_000)
        with CaptureQueriesContext(connection) as queries:
            campaign_advance(one, budget=60)
        print(f"{len(queries.captured_queries)} SQL statements for a pass over {args.show} recipient(s):")
        for q in queries.captured_queries:
            print("  ", q["sql"][:160])
        plain = campaign(args.recipients, 3_500_000)
        started = time.perf_counter()
        campaign_advance(plain, budget=600)
        bare = time.perf_counter() - started
        print(
            f"\nwithout cProfile: {args.recipients} recipients in {bare:.2f} s "
            f"({args.recipients / bare:.0f} recipients/s, {1000 * bare / args.recipients:.1f} ms each), "
            f"load {common.load()}"
        )
        many = campaign(args.recipients, 3_000_000)
        with CaptureQueriesContext(connection) as queries:
            profiler = cProfile.Profile()
            started = time.perf_counter()
            profiler.enable()
            campaign_advance(many, budget=600)
            profiler.disable()
            elapsed = time.perf_counter() - started
        sent = CampaignRecipient.objects.filter(campaign=many, state="sent").count()
        n = len(queries.captured_queries)
        print(
            f"\n{database}: {args.recipients} recipients, {sent} sent, {n} statements "
            f"({n / args.recipients:.1f} per recipient), {elapsed:.2f} s under cProfile "
            f"({args.recipients / elapsed:.0f} recipients/s), load {common.load()}"
        )
        kinds = Counter(q["sql"].split()[0].upper() for q in queries.captured_queries)
        print("  by kind:", dict(kinds.most_common()))
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).sort_stats(args.sort)
        if args.all:
            stats.print_stats(60)
        else:
            stats.print_stats(
                r"/(campaigns|workflows|compliance|actions|twilioflow|connections|workspaces)/", 60
            )
        print(out.getvalue())


if __name__ == "__main__":
    main()
