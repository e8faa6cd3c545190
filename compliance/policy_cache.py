"""What the send gate reads on every send, kept per process and checked, not re-read.

A workspace's `SendPolicy` and its price table change when someone edits them; the gate
needs them for every outbound message and call. Loading them through the ORM was ~20% of
an engine step (issue 10's profile). Each process keeps them keyed by workspace and by a
version read in SQL: the policy's `updated_at` (auto_now: every save moves it) and the
count and latest `updated_at` of the price rows (`price_set` writes `updated_at`). A caller
that already reads versions in one query of its own (the engine's claim) passes them in and
the gate reads nothing; otherwise one small raw query reads the version. Like
`triggers/routing.py`: no shared cache to invalidate, every process sees a save on its next
send.

`ConsentVersions.any_consent` says whether the workspace has any consent event at all: when
it has none (a new workspace, a sandbox, a bench) the per-recipient consent lookup is skipped.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import Any

from django.db import connection as db
from django.utils.dateparse import parse_datetime

from compliance.models import ConsentEvent, PriceEntry, SendPolicy


@dataclass(frozen=True)
class GateVersions:
    """Versions the caller read itself (see `version_columns`); None: read them here."""

    policy: str | None
    prices: str
    any_consent: bool


def version_columns(workspace_column: str) -> list[str]:
    """SQL expressions (scalar subqueries on `workspace_column`) for a caller's own SELECT or
    RETURNING, in `GateVersions`' order; `versions_from(row)` reads them back."""
    # Identifiers only (model tables and the caller's column); every value is a parameter.
    return [
        part.format(
            policy=SendPolicy._meta.db_table,
            price=PriceEntry._meta.db_table,
            consent=ConsentEvent._meta.db_table,
            workspace=workspace_column,
        )
        for part in _VERSION_PARTS
    ]


_VERSION_PARTS = (
    "(SELECT p.updated_at FROM {policy} p WHERE p.workspace_id = {workspace})",
    "(SELECT COUNT(*) FROM {price} e WHERE e.workspace_id = {workspace})",
    "(SELECT MAX(e.updated_at) FROM {price} e WHERE e.workspace_id = {workspace})",
    "(SELECT 1 FROM {consent} c WHERE c.workspace_id = {workspace} LIMIT 1)",
)


def versions_from(row: tuple[Any, ...] | list[Any]) -> GateVersions:
    policy, price_count, price_latest, consent = row
    return GateVersions(
        policy=None if policy is None else _stamp(policy),
        prices=f"{price_count}/{price_latest}",
        any_consent=consent is not None,
    )


def _stamp(value: Any) -> str:
    """A timestamp as the model holds it (aware, UTC), whatever the driver returned (SQLite:
    text or a naive datetime, UTC)."""
    if isinstance(value, str):
        value = parse_datetime(value) or value
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return str(value)


def versions_read(workspace_id: int) -> GateVersions:
    """The versions, in one raw query (for callers without a query of their own)."""
    with db.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(version_columns('%s'))}", [workspace_id] * 4)
        return versions_from(cursor.fetchone())


_policies: dict[int, tuple[str, SendPolicy]] = {}
_prices: dict[int, tuple[str, dict[tuple[str, str], PriceEntry]]] = {}
_lock = threading.Lock()


def policy_for(workspace: Any, version: str | None) -> SendPolicy:
    """The workspace's policy as of `version` (its `updated_at`; None: there is no row yet,
    so it is created with the defaults, as `selectors.policy_get` does). Shared: read only."""
    cached = _policies.get(workspace.pk)
    if version is not None and cached is not None and cached[0] == version:
        return cached[1]
    policy, _ = SendPolicy.objects.get_or_create(workspace=workspace)
    with _lock:
        _policies[workspace.pk] = (str(policy.updated_at), policy)
    return policy


def price_lookup(workspace_id: int, version: str, country: str | None, channel: str) -> PriceEntry | None:
    """`selectors.price_for`, from the workspace's whole price table kept as of `version`."""
    if not country:
        return None
    cached = _prices.get(workspace_id)
    if cached is None or cached[0] != version:
        table = {(e.country, e.channel): e for e in PriceEntry.objects.filter(workspace_id=workspace_id)}
        cached = (version, table)
        with _lock:
            _prices[workspace_id] = cached
    return cached[1].get((country, channel))


def policy_cache_forget() -> None:
    """Drop everything (tests that rewrite rows without moving `updated_at`)."""
    with _lock:
        _policies.clear()
        _prices.clear()
