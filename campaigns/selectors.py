"""Reading campaigns: progress (one aggregate query) for the admin, the command and the API."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet

from campaigns.models import Campaign, CampaignRecipient, CampaignStatus, RecipientState
from twilioflow.core import clock

PHONE_PUNCTUATION = re.compile(r"[\s().\-]")


@dataclass(frozen=True)
class Progress:
    total: int
    pending: int
    deferred: int  # pending, held back by quiet hours in the recipient's zone
    sending: int
    sent: int
    delivered: int
    failed: int
    opted_out: int
    skipped: int
    rate: float | None
    eta_seconds: float | None

    @property
    def done(self) -> int:
        return self.sent + self.delivered + self.failed + self.opted_out + self.skipped

    @property
    def percent(self) -> float:
        return 100.0 * self.done / self.total if self.total else 100.0

    def parts(self) -> list[tuple[str, int]]:
        """(state, count) in the order the progress bar draws them."""
        return [
            ("delivered", self.delivered),
            ("sent", self.sent),
            ("failed", self.failed),
            ("opted_out", self.opted_out),
            ("skipped", self.skipped),
            ("sending", self.sending),
        ]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "done": self.done, "percent": round(self.percent, 1)}

    def line(self) -> str:
        eta = f", ETA {format_eta(self.eta_seconds)}" if self.eta_seconds else ""
        return (
            f"{self.done:,}/{self.total:,} ({self.percent:.0f}%): sent {self.sent:,}, delivered "
            f"{self.delivered:,}, failed {self.failed:,}, opted out {self.opted_out:,}, skipped "
            f"{self.skipped:,}, pending {self.pending:,}"
            + (f" ({self.deferred:,} waiting for quiet hours to end)" if self.deferred else "")
            + eta
        )


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def campaign_progress(campaign: Campaign) -> Progress:
    now = clock.now()
    counts = CampaignRecipient.objects.filter(campaign=campaign).aggregate(
        total=Count("id"),
        deferred=Count("id", filter=Q(state=RecipientState.PENDING, not_before__gt=now)),
        **{state: Count("id", filter=Q(state=state)) for state in RecipientState.values},
    )
    return _progress(campaign, counts)


def campaigns_progress(campaigns: Iterable[Campaign]) -> dict[int, Progress]:
    """The progress of several campaigns in one grouped query (a list page)."""
    campaigns = list(campaigns)
    now = clock.now()
    counts = {c.pk: dict.fromkeys([*RecipientState.values, "total", "deferred"], 0) for c in campaigns}
    rows = (
        CampaignRecipient.objects.filter(campaign_id__in=list(counts))
        .values("campaign_id", "state")
        .annotate(n=Count("id"), late=Count("id", filter=Q(not_before__gt=now)))
        .order_by()
    )
    for row in rows:
        tally = counts[row["campaign_id"]]
        tally[row["state"]] += row["n"]
        tally["total"] += row["n"]
        if row["state"] == RecipientState.PENDING:
            tally["deferred"] += row["late"]
    return {c.pk: _progress(c, counts[c.pk]) for c in campaigns}


def _progress(campaign: Campaign, counts: dict[str, int]) -> Progress:
    remaining = counts[RecipientState.PENDING] + counts[RecipientState.SENDING]
    rate = campaign.rate
    eta = None
    if remaining and rate and campaign.status in (CampaignStatus.RUNNING, CampaignStatus.SCHEDULED):
        eta = remaining / rate
    return Progress(
        total=counts["total"],
        pending=counts[RecipientState.PENDING],
        deferred=counts["deferred"],
        sending=counts[RecipientState.SENDING],
        sent=counts[RecipientState.SENT],
        delivered=counts[RecipientState.DELIVERED],
        failed=counts[RecipientState.FAILED],
        opted_out=counts[RecipientState.OPTED_OUT],
        skipped=counts[RecipientState.SKIPPED],
        rate=rate,
        eta_seconds=eta,
    )


def recipients_matching(campaign: Campaign, *, state: str = "", search: str = "") -> QuerySet:
    """A campaign's recipients in audience order, by state and/or a search for a number
    (typed with spaces or dashes too), a message SID, an error code or words of the reason."""
    rows = CampaignRecipient.objects.filter(campaign=campaign)
    if state in RecipientState.values:
        rows = rows.filter(state=state)
    search = search.strip()
    if search:
        digits = PHONE_PUNCTUATION.sub("", search)
        match = Q(reason__icontains=search) | Q(reason_code__iexact=search) | Q(message_sid__iexact=search)
        if digits:
            match |= Q(phone__contains=digits)
        rows = rows.filter(match)
    return rows.order_by("id")


def campaigns_for_workspaces(workspace_ids: list[int]):
    return Campaign.objects.filter(workspace_id__in=workspace_ids)
