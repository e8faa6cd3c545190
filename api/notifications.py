"""Run-end notifications: a workflow may name a URL; when one of its top-level runs ends,
its summary is POSTed there, signed in the Standard Webhooks format (`webhook-id`,
`webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`).

An outbox, not a fire-and-forget: `run_webhooks_dispatch` (a django-q2 schedule, every
minute) first records one delivery per ended run (a unique row: nothing twice, nothing
missed while the server was down), then sends the due ones and retries failures with
backoff (30 s, 2 min, 10 min, 1 h, 6 h), then gives up and says so on the delivery."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import socket
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db.models import Exists, OuterRef
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

from api.models import DeliveryStatus, RunWebhook, RunWebhookDelivery
from connections.webhook_urls import address_problem, unreachable_reason
from twilioflow.core import clock
from twilioflow.core.errors import validation_error
from twilioflow.core.redaction import redact_data, redact_text
from workflows.models import FINAL_RUN_STATUSES, Run

logger = logging.getLogger(__name__)
BACKOFF = (30, 120, 600, 3600, 6 * 3600)  # seconds before attempt 2, 3, …; then give up
TIMEOUT = (5, 10)
SCHEDULE_NAME = "twilioflow: run webhooks"


def secret_new() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64>`: HMAC-SHA256 over `{id}.{timestamp}.{body}` with the decoded secret."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def target_problem(url: str) -> str | None:
    """Why we refuse to POST to `url` as it is written: localhost, a private, link-local,
    loopback, multicast or reserved address, plain http (unless the settings allow it)."""
    if getattr(settings, "RUN_WEBHOOK_ALLOW_PRIVATE", False):
        return None
    return unreachable_reason(url, allow_http=getattr(settings, "RUN_WEBHOOK_ALLOW_HTTP", False))


def resolve_host(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (a seam for tests: no test touches DNS)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def resolved_problem(url: str) -> str | None:
    """At delivery time: why the host must not be called now (it resolves to an internal
    address: DNS rebinding after the URL was saved, or it does not resolve at all)."""
    if getattr(settings, "RUN_WEBHOOK_ALLOW_PRIVATE", False):
        return None
    written = target_problem(url)
    if written:
        return written
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        addresses = resolve_host(host, parts.port or (443 if parts.scheme == "https" else 80))
    except (OSError, UnicodeError) as exc:
        return f"{host} does not resolve ({type(exc).__name__})"
    for address in addresses:
        problem = address_problem(address)
        if problem:
            return f"{host} resolves to {problem}"
    return None if addresses else f"{host} does not resolve"


PEER_REFUSED = "connected to an internal address"


def _checked_socket(connection: Any, sock: Any) -> Any:
    """The address actually connected to, checked before a byte is sent: closes the gap
    between `resolved_problem`'s lookup and the connection's own (DNS rebinding)."""
    try:
        peer = str(sock.getpeername()[0])
    except OSError:
        peer = ""
    problem = address_problem(peer) if peer else "no peer address"
    if problem:
        sock.close()
        raise NewConnectionError(connection, f"{PEER_REFUSED}: {problem}")
    return sock


class _PublicHTTPConnection(HTTPConnection):
    def _new_conn(self) -> Any:
        return _checked_socket(self, super()._new_conn())


class _PublicHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> Any:
        return _checked_socket(self, super()._new_conn())


class _PublicHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PublicHTTPConnection


class _PublicHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PublicHTTPSConnection


class PublicOnlyAdapter(HTTPAdapter):
    """Connects only to public addresses (whatever DNS says by then)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _PublicHTTPPool, "https": _PublicHTTPSPool}


def delivery_session() -> requests.Session:
    session = requests.Session()
    if not getattr(settings, "RUN_WEBHOOK_ALLOW_PRIVATE", False):
        session.mount("http://", PublicOnlyAdapter())
        session.mount("https://", PublicOnlyAdapter())
    return session


def run_webhook_set(
    *, workflow: Any, url: str, enabled: bool = True, rotate_secret: bool = False
) -> tuple[RunWebhook, bool]:
    """Create or change the workflow's webhook; (webhook, whether its secret is new).
    VALIDATION_ERROR for a target inside this network (see `target_problem`)."""
    problem = target_problem(url)
    if problem:
        raise validation_error({"url": f"Refused: {problem}. Give a public https URL."})
    webhook = RunWebhook.objects.filter(workflow=workflow).first()
    fresh = webhook is None or rotate_secret
    if webhook is None:
        webhook = RunWebhook(workflow=workflow, created_at=clock.now())
    webhook.url, webhook.enabled = url, enabled
    if fresh:
        webhook.secret = secret_new()
    webhook.save()
    return webhook, fresh


def run_summary(run: Run) -> dict[str, Any]:
    return {
        "type": f"run.{run.status}",
        "timestamp": (run.finished_at or clock.now()).isoformat(),
        "data": {
            "id": run.pk,
            "workflow": run.workflow_id,
            "workflow_name": run.label,
            "status": run.status,
            "source": run.source,
            "result": redact_data(run.result),
            "error_code": run.error_code,
            "error_message": redact_text(run.error_message),
            "created_at": run.created_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        },
    }


def deliveries_record(*, now: datetime | None = None) -> int:
    """One pending delivery per ended top-level run of a workflow with an enabled webhook
    (runs that ended before the webhook existed are not announced)."""
    now = now or clock.now()
    made = 0
    for webhook in RunWebhook.objects.filter(enabled=True):
        already = RunWebhookDelivery.objects.filter(webhook=webhook, run=OuterRef("pk"))
        ended = (
            Run.objects.filter(
                workflow_id=webhook.workflow_id,
                parent__isnull=True,
                status__in=list(FINAL_RUN_STATUSES),
                finished_at__gte=webhook.created_at,
            )
            .filter(~Exists(already))
            .values_list("pk", flat=True)[:1000]
        )
        rows = [
            RunWebhookDelivery(
                webhook=webhook,
                run_id=run_id,
                message_id=f"msg_{uuid.uuid4().hex}",
                next_attempt_at=now,
                created_at=now,
            )
            for run_id in ended
        ]
        made += len(RunWebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True))
    return made


def delivery_attempt(delivery: RunWebhookDelivery, *, now: datetime | None = None) -> bool:
    """POST one delivery; record the answer and the next attempt (or give up)."""
    now = now or clock.now()
    webhook = delivery.webhook
    body = json.dumps(run_summary(delivery.run), separators=(",", ":")).encode()
    timestamp = int(now.timestamp())
    headers = {
        "content-type": "application/json",
        "user-agent": "TwilioFlow-Webhooks/1",
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(webhook.secret, delivery.message_id, timestamp, body),
    }
    delivery.attempts += 1
    code: int | None = None
    error = ""
    refused = resolved_problem(webhook.url)
    if refused:
        # Nothing is sent; retried with the same backoff (a name may resolve again later).
        error = f"REFUSED: {refused}"[:300]
    else:
        try:
            with delivery_session() as session:
                response = session.post(
                    webhook.url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False
                )
            code = response.status_code
            if not 200 <= code < 300:
                error = f"HTTP {code}"
        except requests.RequestException as exc:
            error = redact_text(f"{type(exc).__name__}: {exc}")[:300]
            if PEER_REFUSED in str(exc):
                error = f"REFUSED: {urlsplit(webhook.url).hostname} {PEER_REFUSED}"
    delivery.last_status_code, delivery.last_error = code, error
    if not error:
        delivery.status, delivery.delivered_at = DeliveryStatus.DELIVERED, now
    elif delivery.attempts > len(BACKOFF):
        delivery.status = DeliveryStatus.FAILED
    else:
        delivery.next_attempt_at = now + timedelta(seconds=BACKOFF[delivery.attempts - 1])
    delivery.save(
        update_fields=[
            "attempts",
            "last_status_code",
            "last_error",
            "status",
            "delivered_at",
            "next_attempt_at",
        ]
    )
    return not error


def run_webhooks_dispatch(*, now: datetime | None = None, limit: int = 200) -> dict[str, int]:
    """Record new deliveries, then send the due ones. Idempotent; safe to run anywhere."""
    now = now or clock.now()
    recorded = deliveries_record(now=now)
    due = (
        RunWebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .select_related("webhook", "run", "run__workflow")
        .order_by("next_attempt_at", "id")[:limit]
    )
    sent = failed = 0
    for delivery in due:
        # Claim it first: a second dispatcher skips a delivery another one is sending.
        claimed = RunWebhookDelivery.objects.filter(
            pk=delivery.pk, status=DeliveryStatus.PENDING, next_attempt_at=delivery.next_attempt_at
        ).update(next_attempt_at=now + timedelta(seconds=sum(TIMEOUT) + 5))
        if not claimed:
            continue
        if delivery_attempt(delivery, now=now):
            sent += 1
        else:
            failed += 1
    return {"recorded": recorded, "sent": sent, "failed": failed}


def dispatch_schedule_ensure() -> None:
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=SCHEDULE_NAME,
        defaults={
            "func": "api.notifications.run_webhooks_dispatch_task",
            "schedule_type": Schedule.MINUTES,
            "minutes": getattr(settings, "TWILIOFLOW_SWEEP_MINUTES", 1),
            "repeats": -1,
        },
    )


def run_webhooks_dispatch_task() -> dict[str, int]:
    return run_webhooks_dispatch()
