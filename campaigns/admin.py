"""Campaigns in the admin: define one, upload its audience (CSV with a column mapping, with a
per-row report), start / pause / resume / cancel it, watch its progress, export results.
Display only: writes go to `campaigns.services`, reads to `campaigns.selectors`."""

from __future__ import annotations

import io
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from campaigns.audience import Audience, audience_from_csv, csv_columns
from campaigns.models import Campaign, CampaignRecipient, CampaignStatus
from campaigns.selectors import Progress, campaign_progress, format_eta
from campaigns.services import (
    EDITABLE_FIELDS,
    campaign_cancel,
    campaign_pause,
    campaign_problems,
    campaign_recipients_add,
    campaign_results_write,
    campaign_resume,
    campaign_start,
)
from twilioflow.core.admin_display import DEFAULT_BADGE_COLOUR, STATUS_COLOURS, run_link, status_badge
from twilioflow.core.errors import TwilioFlowError
from workspaces.admin_mixins import WorkspaceScopedAdminMixin

MODEL_FIELDS = ["workspace", *EDITABLE_FIELDS]
PHONE_GUESSES = ("phone", "phone_number", "mobile", "number", "to", "msisdn", "cell", "telephone")
REPORT_SHOWN = 200


class CampaignForm(forms.ModelForm):
    audience_file = forms.FileField(
        required=False,
        label="Audience (CSV)",
        help_text="A CSV with a header row; numbers in E.164 (+14155550123) or national "
        "(read with the workspace's default country). Duplicates, invalid numbers and opted-out "
        "contacts are reported per row.",
    )
    phone_column = forms.CharField(
        required=False,
        help_text="The column with the number (empty: a column named phone, mobile, number or to).",
    )
    variable_columns = forms.CharField(
        required=False,
        help_text="Columns the message uses, comma-separated: first_name, city (or name=Column Header).",
    )

    class Meta:
        model = Campaign
        fields = MODEL_FIELDS

    audience: Audience | None = None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        # The campaign as it would be saved (read-only fields keep the instance's values).
        probe = Campaign(
            **{f.attname: getattr(self.instance, f.attname) for f in Campaign._meta.concrete_fields}
        )
        for name in MODEL_FIELDS:
            if name in data:
                setattr(probe, name, data[name])
        probe.content_variables = probe.content_variables or {}
        probe.workers = probe.workers or 1
        if probe.workspace_id and probe.connection_id:
            for name, message in campaign_problems(probe).items():
                if name in self.fields and name not in self.errors:
                    self.add_error(name, message)
        upload = data.get("audience_file")
        if upload:
            raw = upload.read()
            try:
                columns = csv_columns(raw)
                phone = (data.get("phone_column") or "").strip() or _guess_phone(columns)
                workspace = data.get("workspace")
                self.audience = audience_from_csv(
                    raw,
                    phone_column=phone,
                    variables=data.get("variable_columns") or (),
                    default_country=workspace.default_country if workspace else None,
                )
            except TwilioFlowError as error:
                for name, problems in (error.fields or {"audience_file": [error.message]}).items():
                    target = {"file": "audience_file"}.get(name, name)
                    self.add_error(target if target in self.fields else None, problems)
        return data


def _guess_phone(columns: list[str]) -> str:
    for column in columns:
        if column.strip().lower().replace(" ", "_") in PHONE_GUESSES:
            return column
    return columns[0] if len(columns) == 1 else ""


def progress_bar_html(progress: Progress) -> SafeString:
    total = progress.total or 1
    segments = format_html_join(
        "",
        '<span title="{} {}" style="display:inline-block;height:100%;width:{}%;background:{}"></span>',
        (
            (
                count,
                state.replace("_", " "),
                f"{100 * count / total:.2f}",
                STATUS_COLOURS.get(state, DEFAULT_BADGE_COLOUR),
            )
            for state, count in progress.parts()
            if count
        ),
    )
    legend = format_html_join(
        " · ",
        "{} {}",
        (
            (state.replace("_", " "), f"{count:,}")
            for state, count in [*progress.parts(), ("pending", progress.pending)]
        ),
    )
    return format_html(
        '<div class="tf-progress" role="progressbar" aria-valuenow="{}" aria-valuemin="0" '
        'aria-valuemax="100" style="width:100%;max-width:36em;height:1.2em;background:#e0e0e0;'
        'border-radius:3px;overflow:hidden;display:flex">{}</div>'
        "<p>{}/{} done ({}%) — {}{}</p>",
        int(progress.percent),
        segments,
        f"{progress.done:,}",
        f"{progress.total:,}",
        int(progress.percent),
        legend,
        format_html(" — ETA {}", format_eta(progress.eta_seconds)) if progress.eta_seconds else "",
    )


class RecipientInline(WorkspaceScopedAdminMixin, admin.TabularInline):
    model = CampaignRecipient
    workspace_path = "campaign__workspace"
    fields = ("phone", "state_badge", "reason_code", "reason", "message_sid", "run_display", "source_row")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False
    verbose_name_plural = "recipients (first 50; export for all)"

    def get_queryset(self, request):
        ids = list(super().get_queryset(request).order_by("id").values_list("pk", flat=True)[:50])
        return super().get_queryset(request).filter(pk__in=ids)

    @admin.display(description="state")
    def state_badge(self, obj: CampaignRecipient) -> SafeString:
        return status_badge(obj.state, obj.get_state_display())

    @admin.display(description="run")
    def run_display(self, obj: CampaignRecipient) -> SafeString | str:
        return run_link(obj.run_id) if obj.run_id else "—"


@admin.register(Campaign)
class CampaignAdmin(WorkspaceScopedAdminMixin, admin.ModelAdmin[Campaign]):
    form = CampaignForm
    list_display = ["name", "workspace", "status_display", "progress_column", "rate_display", "created_at"]
    list_filter = ["status", "workspace"]
    search_fields = ["name", "sender"]
    inlines = [RecipientInline]
    actions = ["start_campaigns", "pause_campaigns", "resume_campaigns", "cancel_campaigns", "export_results"]
    change_form_template = "admin/campaigns/campaign/change_form.html"
    live_refresh_seconds = 5

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        definition = (
            "What",
            {
                "fields": [
                    "workspace",
                    "name",
                    "connection",
                    "workflow",
                    "channel",
                    "body",
                    "media_url",
                    "content_sid",
                    "content_variables",
                ]
            },
        )
        sending = ("Sending", {"fields": ["sender", "mps", "workers", "start_at"]})
        audience = (
            "Audience",
            {
                "fields": ["audience_file", "phone_column", "variable_columns"],
                "description": "Upload a CSV now or later (while the campaign is a draft, "
                "scheduled or paused).",
            },
        )
        if obj is None:
            return [definition, sending, audience]
        status = (
            "Progress",
            {
                "fields": [
                    "status_display",
                    "progress_display",
                    "rate_display",
                    "started_at",
                    "finished_at",
                    "note",
                    "report_display",
                ]
            },
        )
        editable = obj.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.PAUSED)
        return [status, definition, sending] + ([audience] if editable else [])

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        shown = [
            "status_display",
            "progress_display",
            "rate_display",
            "started_at",
            "finished_at",
            "note",
            "report_display",
        ]
        if obj is not None and obj.status != CampaignStatus.DRAFT:
            # Once it started, what is sent and from where stays as it was.
            shown += [
                "workspace",
                "connection",
                "workflow",
                "channel",
                "body",
                "media_url",
                "content_sid",
                "content_variables",
                "sender",
            ]
        return shown

    def _can_operate(self, request: HttpRequest, obj: Campaign) -> bool:
        """Start, pause, resume, cancel: whoever may edit the campaign (operators and up)."""
        return self.has_change_permission(request, obj)

    # --- display -------------------------------------------------------------------------
    @admin.display(description="status")
    def status_display(self, obj: Campaign) -> SafeString:
        return status_badge(obj.status, obj.get_status_display())

    @admin.display(description="progress")
    def progress_column(self, obj: Campaign) -> str:
        progress = campaign_progress(obj)
        return f"{progress.done:,}/{progress.total:,} ({progress.percent:.0f}%)"

    @admin.display(description="progress")
    def progress_display(self, obj: Campaign) -> SafeString:
        return progress_bar_html(campaign_progress(obj))

    @admin.display(description="pace")
    def rate_display(self, obj: Campaign) -> str:
        if obj.rate:
            return f"{obj.rate:g} msg/s ({obj.rate_source})"
        return f"{obj.mps} msg/s (configured)" if obj.mps else "set at start (from the sender)"

    @admin.display(description="import report")
    def report_display(self, obj: Campaign) -> SafeString | str:
        report = obj.import_report or []
        if not report:
            return "Every row of the last import was taken."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((p.get("row"), p.get("phone"), p.get("code"), p.get("message")) for p in report[:REPORT_SHOWN]),
        )
        more = f" (first {REPORT_SHOWN}; the export lists all)" if len(report) > REPORT_SHOWN else ""
        return format_html(
            "<p>{} rows not taken{}:</p><table><thead><tr><th>row</th><th>value</th><th>code</th>"
            "<th>why</th></tr></thead><tbody>{}</tbody></table>",
            f"{len(report):,}",
            more,
            rows,
        )

    # --- saving: the audience goes through the service ------------------------------------
    def save_model(self, request: HttpRequest, obj: Campaign, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if form.audience is not None:
            try:
                added = campaign_recipients_add(campaign=obj, audience=form.audience)
            except TwilioFlowError as error:
                self.message_user(request, f"{error.code}: {error.message}", messages.ERROR)
                return
            level = messages.WARNING if added.problems or added.opted_out else messages.SUCCESS
            self.message_user(request, added.summary(), level)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["campaign_live"] = obj is not None and obj.status in (
            CampaignStatus.RUNNING,
            CampaignStatus.SCHEDULED,
        )
        context["live_refresh_seconds"] = self.live_refresh_seconds
        context["can_operate"] = obj is not None and self._can_operate(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def response_change(self, request: HttpRequest, obj: Campaign) -> HttpResponse:
        for name, operate in (
            ("_campaign_start", campaign_start),
            ("_campaign_pause", campaign_pause),
            ("_campaign_resume", campaign_resume),
            ("_campaign_cancel", campaign_cancel),
        ):
            if name in request.POST:
                self._operate(request, [obj], operate)
                return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    # --- actions ---------------------------------------------------------------------------
    def _operate(self, request: HttpRequest, campaigns: Any, operate: Any) -> None:
        for campaign in campaigns:
            if not self._can_operate(request, campaign):
                continue
            try:
                operate(campaign=campaign)
            except TwilioFlowError as error:
                self.message_user(request, f"{campaign}: {error.message}", messages.ERROR)
                continue
            campaign.refresh_from_db()
            self.message_user(request, f"{campaign}: {campaign.get_status_display().lower()}.")

    @admin.action(description="Start the selected campaigns")
    def start_campaigns(self, request: HttpRequest, queryset: Any) -> None:
        self._operate(request, queryset, campaign_start)

    @admin.action(description="Pause the selected campaigns")
    def pause_campaigns(self, request: HttpRequest, queryset: Any) -> None:
        self._operate(request, queryset, campaign_pause)

    @admin.action(description="Resume the selected campaigns")
    def resume_campaigns(self, request: HttpRequest, queryset: Any) -> None:
        self._operate(request, queryset, campaign_resume)

    @admin.action(description="Cancel the selected campaigns")
    def cancel_campaigns(self, request: HttpRequest, queryset: Any) -> None:
        self._operate(request, queryset, campaign_cancel)

    @admin.action(description="Export per-recipient results (CSV)")
    def export_results(self, request: HttpRequest, queryset: Any) -> HttpResponse:
        out = io.StringIO()
        for campaign in queryset.order_by("id"):
            campaign_results_write(campaign, out)
        name = (
            f"campaign-{queryset.first().pk}-results.csv" if queryset.count() == 1 else "campaign-results.csv"
        )
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
