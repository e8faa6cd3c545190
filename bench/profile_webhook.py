"""Where a signed inbound SMS's time goes, in-process (Django's test client, SQLite): SQL
statements per request (CaptureQueriesContext, with the statements of one request printed)
and a cProfile of N requests, our functions first. Evidence for the webhook-path findings
in README's Performance section; not a benchmark (no baseline, no JSON).

    .venv/bin/python bench/profile_webhook.py [--requests 300]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.stack import VALIDATOR, message_params


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--all", action="store_true", help="also Django's and the libraries' functions")
    args = parser.parse_args()
    with common.environment("sqlite", "orm") as env:
        common.django_setup(env)
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        from bench.setup_tf import setup

        info = setup()
        path = f"/hooks/twilio/{info['public_id']}/messages"
        client = Client(SERVER_NAME="127.0.0.1")

        def post(n: int) -> None:
            params = message_params("p", n)
            response = client.post(
                path,
                data=urlencode(params),
                content_type="application/x-www-form-urlencoded",
                HTTP_X_TWILIO_SIGNATURE=VALIDATOR.compute_signature(f"http://127.0.0.1{path}", params),
            )
            assert response.status_code == 200, response.content

        for n in range(20):
            post(n)
        with CaptureQueriesContext(connection) as queries:
            post(10_000)
        print(f"{len(queries.captured_queries)} SQL statements for one signed inbound SMS (1 workflow):")
        for q in queries.captured_queries:
            print("  ", q["sql"][:150])
        profiler = cProfile.Profile()
        profiler.enable()
        for n in range(args.requests):
            post(20_000 + n)
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
        stats.print_stats(r"/(triggers|workflows|connections|twilioflow)/", 30)
        if args.all:
            stats.print_stats(40)
            stats.sort_stats("tottime").print_stats(40)
        print(out.getvalue())


if __name__ == "__main__":
    main()
