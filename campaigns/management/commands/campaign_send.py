"""Start (or resume) a campaign and follow its progress.

    manage.py campaign_send 12                 # start it; the qcluster sends; print progress once
    manage.py campaign_send 12 --wait          # … and follow it until it ends
    manage.py campaign_send 12 --inline        # send from this process (no qcluster needed)
    manage.py campaign_send 12 --export out.csv   # per-recipient results as CSV ("-": stdout)

On a terminal the progress is one redrawn bar; otherwise (a log, a pipe) plain lines. A
crash or Ctrl-C loses nothing: run the command again and it resumes where it stopped.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from campaigns.models import Campaign, CampaignStatus
from campaigns.selectors import Progress, campaign_progress
from campaigns.services import campaign_advance, campaign_results_write, campaign_start
from twilioflow.core.errors import TwilioFlowError

BAR_WIDTH = 30


def progress_bar(progress: Progress, width: int = BAR_WIDTH) -> str:
    filled = int(width * progress.percent / 100)
    return f"[{'#' * filled}{'.' * (width - filled)}] {progress.line()}"


class Command(BaseCommand):
    help = "Start or resume a campaign and show its progress (--wait to follow, --inline to send here)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("campaign_id", type=int)
        parser.add_argument(
            "--wait", action="store_true", help="Follow the progress until the campaign ends."
        )
        parser.add_argument(
            "--inline",
            action="store_true",
            help="Send from this process instead of the qcluster (implies --wait).",
        )
        parser.add_argument(
            "--export", metavar="FILE", help="Write per-recipient results as CSV ('-': stdout)."
        )
        parser.add_argument("--no-start", action="store_true", help="Only show progress (and export).")
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds between progress updates.")

    def handle(self, *args: Any, **options: Any) -> None:
        campaign = Campaign.objects.filter(pk=options["campaign_id"]).select_related("workspace").first()
        if campaign is None:
            raise CommandError(f"No campaign {options['campaign_id']}.")
        if options["export"]:
            self._export(campaign, options["export"])
            return
        if not options["no_start"] and not campaign.is_final:
            try:
                campaign = campaign_start(campaign=campaign)
            except TwilioFlowError as error:
                raise CommandError(f"{error.code}: {error.message}") from None
            self.stdout.write(
                f"Campaign {campaign.pk} {campaign.name!r}: {campaign.get_status_display().lower()}, "
                f"{campaign.rate or 0:g} msg/s ({campaign.rate_source or 'not started'})."
            )
        tty = self.stdout.isatty()
        if options["inline"]:
            self._inline(campaign, tty, options["interval"])
        elif options["wait"]:
            self._follow(campaign, tty, options["interval"])
        self._show(campaign_progress(campaign), tty, final=True)
        campaign.refresh_from_db()
        self.stdout.write(
            f"Status: {campaign.get_status_display().lower()}."
            + (f" {campaign.note}" if campaign.note else "")
        )

    def _show(self, progress: Progress, tty: bool, *, final: bool = False) -> None:
        if tty:
            end = "\n" if final else ""
            self.stdout.write("\r" + progress_bar(progress) + "\x1b[K", ending=end)
            self.stdout.flush()
        else:
            self.stdout.write(progress.line())

    def _inline(self, campaign: Campaign, tty: bool, interval: float) -> None:
        last = 0.0
        while True:
            outcome = campaign_advance(campaign, budget=min(interval, 5.0))
            if time.monotonic() - last >= interval:
                last = time.monotonic()
                self._show(campaign_progress(campaign), tty)
            if outcome in ("done", "stopped"):
                return
            if outcome == "later":
                time.sleep(interval)

    def _follow(self, campaign: Campaign, tty: bool, interval: float) -> None:
        while True:
            campaign.refresh_from_db()
            self._show(campaign_progress(campaign), tty)
            if campaign.status not in (CampaignStatus.RUNNING, CampaignStatus.SCHEDULED):
                return
            time.sleep(interval)

    def _export(self, campaign: Campaign, path: str) -> None:
        if path == "-":
            count = campaign_results_write(campaign, sys.stdout)
        else:
            with open(path, "w", newline="", encoding="utf-8") as out:
                count = campaign_results_write(campaign, out)
        self.stderr.write(f"{count:,} rows written.")
