"""Server-side time to answer a signed inbound-SMS webhook (target: well under 100 ms).

Runs in-process against a fresh file-backed SQLite database (the embedded default: WAL,
IMMEDIATE transactions), with three workflows listening on the number so each request
stores an event, dedupes, fans out to three runs and enqueues them (ORM broker) before it
answers. Nothing is sent anywhere; the worker is not started.

    .venv/bin/python bench/webhook_latency.py [--requests 500]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--workflows", type=int, default=3)
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="tf-bench-")
    os.environ.update(
        SQLITE_PATH=f"{tmp}/bench.sqlite3", ENV_FILE="/nonexistent", DEBUG="false",
        SECRET_KEY="bench-" + "x" * 50, FERNET_KEYS="bench-fernet-key", LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="twilioflow.settings",
    )
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from twilio.request_validator import RequestValidator

    from connections.services import connection_create
    from triggers.models import Trigger
    from workflows.models import Step, Workflow
    from workspaces.models import Workspace

    call_command("migrate", verbosity=0)
    token = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    workspace = Workspace.objects.create(name="Bench", slug="bench")
    connection = connection_create(workspace=workspace, name="main",
                                   account_sid="AC" + "0" * 32, auth_token=token)
    for index in range(args.workflows):
        workflow = Workflow.objects.create(workspace=workspace, name=f"wf{index}")
        Step.objects.create(workflow=workflow, name="note", kind="set_variables",
                            inputs={"variables": {"body": "{{ trigger.Body }}"}})
        Trigger.objects.create(workspace=workspace, workflow=workflow, connection=connection,
                               name=f"t{index}", kind="twilio/incoming-sms",
                               reply_message="Thanks, {{ trigger.Body|truncate:20 }}" if index == 0 else "")
    path = f"/hooks/twilio/{connection.public_id}/messages"
    validator = RequestValidator(token)
    client = Client(SERVER_NAME="127.0.0.1")
    timings = []
    for number in range(args.requests + 20):
        params = {"MessageSid": f"SM{number:032x}", "AccountSid": "AC" + "0" * 32,
                  "From": "+14155550123", "To": "+15017122661", "Body": f"Hello {number}",
                  "NumMedia": "0"}
        signature = validator.compute_signature(f"http://127.0.0.1{path}", params)
        started = time.perf_counter()
        response = client.post(path, data=urlencode(params),
                               content_type="application/x-www-form-urlencoded",
                               HTTP_X_TWILIO_SIGNATURE=signature)
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, response.content
        if number >= 20:  # warm-up
            timings.append(elapsed)
    timings.sort()
    p = lambda q: timings[min(len(timings) - 1, int(q * len(timings)))]  # noqa: E731
    print(f"{len(timings)} signed inbound SMS, {args.workflows} workflows each "
          f"(event + {args.workflows} runs + enqueue + TwiML reply), SQLite WAL:")
    print(f"  p50 {p(0.50):.1f} ms   p95 {p(0.95):.1f} ms   p99 {p(0.99):.1f} ms   "
          f"max {timings[-1]:.1f} ms   mean {statistics.mean(timings):.1f} ms")


if __name__ == "__main__":
    main()
