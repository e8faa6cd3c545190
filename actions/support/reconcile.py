"""Finding what an interrupted create may already have made: recent records of a 2010-API
list, newest first, back to the attempt's start (minus clock skew), and Twilio's dates."""

from __future__ import annotations

import email.utils
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from actions.base import ActionContext

# Clocks differ and Twilio stamps date_created on its side: allow this much skew.
RECONCILE_SKEW = timedelta(minutes=2)
RECONCILE_SCAN_LIMIT = 200


def parse_twilio_date(value: str | None) -> datetime | None:
    """2010 API dates are RFC 2822 (`Thu, 24 Aug 2023 05:01:45 +0000`)."""
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def recent_records(
    ctx: ActionContext, resource: str, key: str, params: dict[str, Any], *, since: datetime
) -> Iterator[dict[str, Any]]:
    """Newest-first records created since `since` (minus skew), paging until older ones."""
    cutoff = since - RECONCILE_SKEW
    scanned = 0
    for page in ctx.client.iter_pages(ctx.client.account_path(resource), params=params):
        for record in (page.json() or {}).get(key) or []:
            scanned += 1
            created = parse_twilio_date(record.get("date_created"))
            if created is not None and created < cutoff:
                return
            yield record
            if scanned >= RECONCILE_SCAN_LIMIT:
                return
