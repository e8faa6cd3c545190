"""Writes and side effects on connections (HackSoft services: keyword-only, full_clean)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from django.db import connection as db_connection
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from connections import crypto
from connections.client import Exchange, TwilioClient
from connections.models import (
    AUTH_FAILED_MESSAGE,
    Connection,
    ConnectionExchange,
    ConnectionKind,
    ConnectionStatus,
    WebhookRejection,
    WebhookRejectionCount,
)
from twilioflow.core import errors
from twilioflow.core.errors import TwilioFlowError
from twilioflow.core.redaction import redact_data, redact_text
from workspaces.models import Workspace

logger = logging.getLogger(__name__)
security_log = logging.getLogger("twilioflow.security")


def client_for_connection(connection: Connection, **kwargs: Any) -> TwilioClient:
    """The Twilio client for this connection. A 401 on any call marks it `auth_failed`."""
    connection.remember_secrets()  # also an unsaved or freshly edited connection's
    username, password = connection.basic_auth()
    return TwilioClient(
        account_sid=connection.account_sid,
        username=username,
        password=password,
        pool_key=("connection", connection.pk, username),
        on_auth_failure=lambda error: connection_mark_auth_failed(connection=connection, error=error),
        **kwargs,
    )


def connection_create(
    *,
    workspace: Workspace,
    name: str,
    account_sid: str,
    kind: str = ConnectionKind.AUTH_TOKEN,
    auth_token: str | None = None,
    api_key_sid: str = "",
    api_key_secret: str | None = None,
) -> Connection:
    connection = Connection(
        workspace=workspace,
        name=name,
        kind=kind,
        account_sid=account_sid.strip(),
        auth_token=(auth_token or "").strip() or None,
        api_key_sid=api_key_sid.strip(),
        api_key_secret=(api_key_secret or "").strip() or None,
    )
    connection.full_clean()
    connection.save()
    return connection


def connection_mark_auth_failed(*, connection: Connection, error: TwilioFlowError | None = None) -> None:
    """Call whenever Twilio answers 401 for this connection's credentials."""
    detail = f" (Twilio {error.twilio_code})" if error and error.twilio_code else ""
    Connection.objects.filter(pk=connection.pk).update(
        status=ConnectionStatus.AUTH_FAILED,
        last_error=AUTH_FAILED_MESSAGE + detail,
        updated_at=timezone.now(),
    )
    connection.status = ConnectionStatus.AUTH_FAILED
    connection.last_error = AUTH_FAILED_MESSAGE + detail
    security_log.warning(
        "Twilio rejected the credentials of connection %s (%s)", connection.pk, connection.account_sid
    )


# --- the exchange log of read-only calls -------------------------------------------------------
EXCHANGES_KEPT = 50  # per connection; older rows are pruned on write
EXCERPT_CHARS = 2000


def _excerpt(value: Any) -> str:
    if value in (None, "", {}, []):
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = redact_text(text)
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"


def connection_exchanges_record(
    *, connection: Connection, purpose: str, exchanges: Iterable[Exchange | dict[str, Any]]
) -> int:
    """Keep the redacted log of read-only requests made for `connection` outside a run
    (verify, numbers sync, pickers): the last EXCHANGES_KEPT per connection. The client's
    `Exchange` records are already redacted; they are redacted again here (a rule added
    later, a secret learnt since). Never raises: the log must not break the call it records."""
    if connection.pk is None:
        return 0
    try:
        now = timezone.now()
        rows = []
        for exchange in exchanges:
            data = redact_data(exchange.as_dict() if isinstance(exchange, Exchange) else dict(exchange))
            error = str(data.get("error") or "")
            rows.append(
                ConnectionExchange(
                    connection=connection,
                    at=now,
                    purpose=purpose[:60],
                    method=str(data.get("method") or "")[:10],
                    url=redact_text(str(data.get("url") or ""))[:1000],
                    status=data.get("status"),
                    duration_ms=data.get("duration_ms"),
                    error_code=error.split(":", 1)[0][:60] if error else "",
                    error=error[:500],
                    request_excerpt=_excerpt(data.get("request_body")),
                    response_excerpt=_excerpt(data.get("response_body")),
                )
            )
        if not rows:
            return 0
        ConnectionExchange.objects.bulk_create(rows)
        mine = ConnectionExchange.objects.filter(connection_id=connection.pk)
        keep = list(mine.order_by("-at", "-id").values_list("pk", flat=True)[:EXCHANGES_KEPT])
        mine.exclude(pk__in=keep).delete()
        return len(rows)
    except Exception:
        logger.exception("Recording the exchanges of connection %s failed", connection.pk)
        return 0


# --- refused webhooks ----------------------------------------------------------------------
REJECTIONS_KEPT = 20  # per connection; older rows are pruned now and then on write
UNKNOWN_SCOPE = "unknown"


def webhook_rejection_record(*, connection: Connection | None, method: str, path: str, reason: str) -> None:
    """Count a refused webhook (and keep its time, path and reason when it names one of our
    connections). Cheap (an UPDATE, plus an INSERT for a known connection) and never raises:
    a 403 or 404 must not become a 500 because the count could not be written."""
    now = timezone.now()
    path = path[:300]
    scope = f"connection:{connection.pk}" if connection is not None else UNKNOWN_SCOPE
    try:
        with transaction.atomic():
            bumped = WebhookRejectionCount.objects.filter(scope=scope).update(
                count=F("count") + 1, last_at=now, last_path=path, last_reason=reason
            )
            if not bumped:
                with transaction.atomic():
                    WebhookRejectionCount.objects.create(
                        scope=scope,
                        connection=connection,
                        count=1,
                        last_at=now,
                        last_path=path,
                        last_reason=reason,
                    )
            if connection is not None:
                row = WebhookRejection.objects.create(
                    connection=connection, at=now, method=method[:8], path=path, reason=reason
                )
                if row.pk % 10 == 0:  # prune now and then, not on every refusal
                    mine = WebhookRejection.objects.filter(connection=connection)
                    keep = list(mine.order_by("-at", "-id").values_list("pk", flat=True)[:REJECTIONS_KEPT])
                    mine.exclude(pk__in=keep).delete()
    except Exception:  # a refusal stays a refusal
        logger.exception("Could not count a refused webhook (%s)", reason)


def connection_verify(*, connection: Connection) -> tuple[bool, str]:
    """GET the account with these credentials; record and return (ok, human message)."""
    client = client_for_connection(connection)
    try:
        return _verify(connection, client)
    finally:
        connection_exchanges_record(connection=connection, purpose="verify", exchanges=client.exchanges)


def _verify(connection: Connection, client: TwilioClient) -> tuple[bool, str]:
    try:
        response = client.get(f"/2010-04-01/Accounts/{connection.account_sid}.json")
    except TwilioFlowError as error:
        status: str
        if error.code == errors.AUTH_EXPIRED:
            return False, AUTH_FAILED_MESSAGE  # marked auth_failed by the client hook
        if error.code == errors.NOT_FOUND:
            message = "Twilio has no account with this Account SID for these credentials."
            status = ConnectionStatus.AUTH_FAILED
        else:
            # Network trouble or a Twilio outage says nothing about the credentials.
            message = f"Could not verify right now ({error.code}): {error.message}"
            status = connection.status
        Connection.objects.filter(pk=connection.pk).update(
            status=status, last_error=message, updated_at=timezone.now()
        )
        connection.status, connection.last_error = status, message
        return False, message
    account = response.json() or {}
    now = timezone.now()
    Connection.objects.filter(pk=connection.pk).update(
        status=ConnectionStatus.VERIFIED, last_verified_at=now, last_error="", updated_at=now
    )
    connection.status, connection.last_verified_at, connection.last_error = (
        ConnectionStatus.VERIFIED,
        now,
        "",
    )
    friendly = account.get("friendly_name") or connection.account_sid
    account_status = account.get("status") or "unknown"
    if account_status not in ("active", "unknown"):
        return True, f"Verified: {friendly}, but the account is {account_status}."
    return True, f"Verified: {friendly} ({account_status})."


def secrets_rotate() -> dict[str, int]:
    """Re-encrypt every stored secret under the first FERNET_KEYS key. Idempotent.

    Works on the raw ciphertext (no model save), so timestamps and audit stay untouched and
    a secret that no configured key can read is reported rather than overwritten.
    """
    from django.apps import apps

    counts = {"rotated": 0, "current": 0, "unreadable": 0}
    quote = db_connection.ops.quote_name
    with transaction.atomic():
        for model in apps.get_models():
            fields = crypto.encrypted_fields(model)
            if not fields:
                continue
            table, pk = model._meta.db_table, model._meta.pk.column
            columns = ", ".join(quote(f.column) for f in fields)
            with db_connection.cursor() as cursor:
                cursor.execute(f"SELECT {quote(pk)}, {columns} FROM {quote(table)}")  # noqa: S608
                rows = cursor.fetchall()
            for row in rows:
                for field_, raw in zip(fields, row[1:], strict=True):
                    if raw is None:
                        continue
                    token = bytes(raw)
                    if crypto.is_current(token):
                        counts["current"] += 1
                        continue
                    try:
                        new = crypto.rotate_token(token)
                    except Exception:
                        counts["unreadable"] += 1
                        logger.error("%s %s.%s: no configured key decrypts it", table, row[0], field_.column)
                        continue
                    with db_connection.cursor() as cursor:
                        cursor.execute(
                            f"UPDATE {quote(table)} SET {quote(field_.column)} = %s "  # noqa: S608
                            f"WHERE {quote(pk)} = %s",
                            # The backend's DB-API module, which the stubs do not describe.
                            [db_connection.Database.Binary(new), row[0]],  # type: ignore[attr-defined]
                        )
                    counts["rotated"] += 1
    return counts
