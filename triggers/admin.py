"""Triggers, the events they received and the account's phone numbers in the admin, all
scoped to the user's workspaces.

- TriggerAdmin: the trigger with its filters, answers and polling settings, and the URL
  Twilio must call for it (copyable; never a secret).
- TriggerEventAdmin: strictly read-only, the record of every accepted request, with its
  payload, our answer and the runs it started.
- PhoneNumberAdmin: read-only rows synced from Twilio; Sync, Route to TwilioFlow and
  Restore previous webhooks are operations for members with an editing role. Route and
  restore start audited runs for the worker (`triggers.number_routing`) and go to the run's
  page; nothing is sent to Twilio inside the request.

Display only: writes through services, reads through selectors, HTML from
`twilioflow.core.admin_display`.
"""

from __future__ import annotations

import logging

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from connections.admin import connection_urls_html
from connections.models import Connection
from connections.selectors import connections_for_workspaces
from triggers.kinds.registry import trigger_kinds
from triggers.models import MatchStatus, PhoneNumber, Trigger, TriggerEvent
from triggers.number_routing import NumbersStarted, numbers_restore_start, numbers_route_start
from triggers.numbers import (
    listening_candidates,
    numbers_listening,
    numbers_sync,
    trigger_webhook_url,
)
from triggers.services import trigger_problems
from twilioflow.core.admin_display import (
    admin_link,
    copy_box,
    pre_text,
    pretty_json_html,
    run_links,
    run_url,
    status_badge,
    warning,
)
from twilioflow.core.errors import TwilioFlowError
from workflows.selectors import runs_for_trigger_event
from workspaces.admin_mixins import ReadOnlyRecordAdminMixin, WorkspaceScopedAdminMixin
from workspaces.selectors import workspace_ids_for_user

logger = logging.getLogger(__name__)


# --- triggers ------------------------------------------------------------------------------
@admin.register(Trigger)
class TriggerAdmin(WorkspaceScopedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "workspace", "kind", "workflow", "connection", "enabled"]
    list_filter = ["enabled", "kind", "workspace"]
    list_select_related = ["workspace", "workflow", "connection"]
    search_fields = ["name", "workflow__name"]
    fieldsets = [
        (None, {"fields": ["workspace", "name", "kind", "workflow", "connection", "enabled"]}),
        (
            "Webhook",
            {
                "fields": ["webhook_url", "connection_urls"],
                "description": "Where Twilio must send requests for this trigger. The URL "
                "holds no secret: Twilio signs every request with the account's Auth Token.",
            },
        ),
        ("Filters", {"fields": ["numbers", "from_pattern", "keywords"]}),
        ("Answers", {"fields": ["reply_message", "voice_answer", "fire_while_waiting"]}),
        (
            "Polling",
            {
                "fields": [
                    "poll_interval_minutes",
                    "poll_from",
                    "poll_to",
                    "poll_cursor",
                    "last_polled_at",
                    "last_poll_error",
                ],
                "classes": ["collapse"],
                "description": 'Only for polled kinds ("New and updated messages").',
            },
        ),
        ("Details", {"fields": ["public_id", "created_at", "updated_at"], "classes": ["collapse"]}),
    ]
    readonly_fields = [
        "webhook_url",
        "connection_urls",
        "poll_cursor",
        "last_polled_at",
        "last_poll_error",
        "public_id",
        "created_at",
        "updated_at",
    ]

    @admin.display(description="Webhook URL")
    def webhook_url(self, obj: Trigger | None):
        if obj is None or obj.pk is None:
            return "Save the trigger to see the URL Twilio must call."
        kind = trigger_kinds().get(obj.kind)
        if kind is None:
            return "Unknown trigger kind."
        if kind.purpose == "poll":
            return f"No webhook: polled every {obj.poll_interval_minutes} minutes."
        parts = []
        if not obj.connection.can_verify_webhooks:
            for message in trigger_problems(obj).get("connection", []):
                parts.append(warning(message))
        try:
            url = trigger_webhook_url(obj)
        except TwilioFlowError as error:
            parts.append(warning(error.message))
        else:
            parts.append(copy_box(url))  # type: ignore[arg-type]  # None only for polled kinds (above)
            where = {
                "messages": "Set it as the number's (or Messaging Service's) "
                '"A message comes in" webhook, HTTP POST.',
                "voice": 'Set it as the number\'s "A call comes in" webhook, HTTP POST.',
                "status": "Use it as the StatusCallback of messages, calls or recordings "
                '("Route to TwilioFlow" on Phone numbers sets it for calls).',
                "webhook": "This trigger's own URL: sign requests with the Auth Token.",
            }.get(kind.purpose, "")
            if where:
                parts.append(format_html('<div class="help">{}</div>', where))
        return format_html_join("", "{}", ((part,) for part in parts))

    @admin.display(description="Connection's webhook URLs")
    def connection_urls(self, obj: Trigger | None):
        if obj is None or not obj.connection_id:
            return "—"
        return connection_urls_html(obj.connection)


# --- trigger events: read-only ---------------------------------------------------------------
@admin.register(TriggerEvent)
class TriggerEventAdmin(ReadOnlyRecordAdminMixin, admin.ModelAdmin):
    workspace_path = "connection__workspace"
    list_display = [
        "received_at",
        "kind",
        "from_number",
        "to_number",
        "match_badge",
        "runs_started",
        "reply_column",
        "duplicates",
    ]
    list_filter = ["kind", "to_number", "match_status", "received_at"]
    list_select_related = ["connection"]
    search_fields = ["sid", "from_number", "to_number"]
    search_help_text = "A Twilio SID (SM…, CA…) or a phone number."
    date_hierarchy = "received_at"
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "received_at",
                    "connection",
                    "trigger_link",
                    "purpose",
                    "kind",
                    "sid",
                    ("from_number", "to_number"),
                    "match_badge",
                    "runs_started",
                    "duplicates",
                    "runs_links",
                ]
            },
        ),
        ("Why nothing started", {"fields": ["match_reasons_html"]}),
        ("Instant reply", {"fields": ["reply_html"]}),
        ("Payload", {"fields": ["payload_pretty"]}),
        ("Our answer", {"fields": ["response_content_type", "response_body_pre"]}),
        ("Request", {"fields": ["params_pretty", "headers_pretty", "dedupe_key"], "classes": ["collapse"]}),
    ]
    readonly_fields = [
        "received_at",
        "connection",
        "trigger_link",
        "purpose",
        "kind",
        "sid",
        "from_number",
        "to_number",
        "match_badge",
        "runs_started",
        "duplicates",
        "runs_links",
        "payload_pretty",
        "match_reasons_html",
        "reply_html",
        "response_content_type",
        "response_body_pre",
        "params_pretty",
        "headers_pretty",
        "dedupe_key",
    ]

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None and obj.match_status not in (MatchStatus.NO_MATCH, MatchStatus.DISABLED):
            fieldsets = [f for f in fieldsets if f[0] != "Why nothing started"]
        if obj is not None and not obj.reply_status:
            fieldsets = [f for f in fieldsets if f[0] != "Instant reply"]
        return fieldsets

    @admin.display(description="Result", ordering="match_status")
    def match_badge(self, obj: TriggerEvent):
        return status_badge(obj.match_status, obj.get_match_status_display())

    @admin.display(description="Instant reply")
    def reply_column(self, obj: TriggerEvent):
        if obj.reply_status == "failed":
            return format_html(
                '<span class="tf-error" title="{}">{} <code>{}</code></span>',
                obj.reply_error_message,
                status_badge("failed", "Reply failed"),
                obj.reply_error_code,
            )
        return "sent" if obj.reply_status == "sent" else "—"

    @admin.display(description="Instant reply")
    def reply_html(self, obj: TriggerEvent):
        if obj.reply_status == "failed":
            return format_html(
                '{} <code>{}</code> {}<div class="help">The trigger\'s reply template failed, so '
                "no reply went out (Twilio got an empty &lt;Response/&gt;). Fix the trigger's "
                "“Instant reply”.</div>",
                status_badge("failed", "Not sent"),
                obj.reply_error_code,
                obj.reply_error_message,
            )
        return status_badge("succeeded", "Sent in our answer")

    @admin.display(description="Triggers of this connection")
    def match_reasons_html(self, obj: TriggerEvent):
        rows = [r for r in (obj.match_reasons or []) if isinstance(r, dict)]
        if not rows:
            return "This connection has no trigger for it. Add one (Triggers → add)."
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{}: {}</li>",
                (
                    (
                        _trigger_label(row),
                        "; ".join(str(r) for r in row.get("reasons") or [])
                        or "would match now (it was changed since)",
                    )
                    for row in rows
                ),
            ),
        )

    @admin.display(description="Trigger")
    def trigger_link(self, obj: TriggerEvent):
        if not obj.trigger_id:
            return "—"
        return admin_link("admin:triggers_trigger_change", obj.trigger)

    @admin.display(description="Runs")
    def runs_links(self, obj: TriggerEvent):
        runs = runs_for_trigger_event(event_id=obj.pk)
        if not runs:
            return "—"
        return format_html_join(
            ", ",
            "{}",
            (
                (
                    admin_link(
                        "admin:workflows_run_change",
                        run,
                        f"Run #{run.pk} ({run.label}, {run.get_status_display()})",
                    ),
                )
                for run in runs
            ),
        )

    @admin.display(description="Payload (as a workflow sees it: trigger)")
    def payload_pretty(self, obj: TriggerEvent):
        return pretty_json_html(obj.payload)

    @admin.display(description="Parameters as received")
    def params_pretty(self, obj: TriggerEvent):
        return pretty_json_html(obj.params)

    @admin.display(description="Recorded headers")
    def headers_pretty(self, obj: TriggerEvent):
        return pretty_json_html(obj.headers)

    @admin.display(description="Response body")
    def response_body_pre(self, obj: TriggerEvent):
        if not obj.response_body:
            return "—"
        return pre_text(obj.response_body)


def _trigger_label(row: dict):
    try:
        url = reverse("admin:triggers_trigger_change", args=[row.get("trigger_id")])
    except Exception:  # a reason row of a deleted or odd trigger: its name only
        return str(row.get("name") or "?")
    return format_html('<a href="{}">{}</a>', url, row.get("name") or f"trigger {row.get('trigger_id')}")


# --- phone numbers -----------------------------------------------------------------------------
@admin.register(PhoneNumber)
class PhoneNumberAdmin(ReadOnlyRecordAdminMixin, admin.ModelAdmin):
    workspace_path = "connection__workspace"
    change_list_template = "admin/triggers/phonenumber/change_list.html"
    list_display = ["phone_number", "friendly_name", "connection", "sms_url", "voice_url", "routed"]
    list_filter = [("connection", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["connection"]
    search_fields = ["phone_number", "friendly_name", "sid"]
    actions = ["sync_numbers", "route_numbers", "route_numbers_anyway", "restore_numbers"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "phone_number",
                    "friendly_name",
                    "connection",
                    "sid",
                    "capabilities_text",
                    "synced_at",
                ]
            },
        ),
        (
            "Webhooks on Twilio (as last synced)",
            {"fields": [("sms_url", "sms_method"), ("voice_url", "voice_method"), "status_callback"]},
        ),
        (
            "TwilioFlow",
            {"fields": ["routed_at", "previous_webhooks_pretty", "our_urls", "listening_triggers"]},
        ),
    ]
    readonly_fields = [
        "phone_number",
        "friendly_name",
        "connection",
        "sid",
        "capabilities_text",
        "synced_at",
        "sms_url",
        "sms_method",
        "voice_url",
        "voice_method",
        "status_callback",
        "routed_at",
        "previous_webhooks_pretty",
        "our_urls",
        "listening_triggers",
    ]

    def _operable_connections(self, request):
        workspace_ids = (
            None if self._is_super(request) else workspace_ids_for_user(request.user, roles=self.edit_roles)
        )
        return connections_for_workspaces(workspace_ids=workspace_ids)

    # --- columns ---
    def get_list_display(self, request):
        candidates: dict[int, list[Trigger]] = {}  # one query per connection on the page

        def listening(obj: PhoneNumber) -> int:
            if obj.connection_id not in candidates:
                candidates[obj.connection_id] = listening_candidates(obj.connection_id)
            return len(numbers_listening(obj, candidates=candidates[obj.connection_id]))

        listening.short_description = "Listening triggers"  # type: ignore[attr-defined]
        return [*super().get_list_display(request), listening]

    @admin.display(description="Routed to TwilioFlow", boolean=True, ordering="routed_at")
    def routed(self, obj: PhoneNumber) -> bool:
        return obj.routed_at is not None

    @admin.display(description="Capabilities")
    def capabilities_text(self, obj: PhoneNumber) -> str:
        enabled = [
            name.upper() if len(name) <= 3 else name.capitalize()
            for name, on in (obj.capabilities or {}).items()
            if on
        ]
        return ", ".join(enabled) or "—"

    @admin.display(description='Previous webhooks (restored by "Restore previous webhooks")')
    def previous_webhooks_pretty(self, obj: PhoneNumber):
        if not obj.previous_webhooks:
            return "— (not routed here)"
        return pretty_json_html(obj.previous_webhooks)

    @admin.display(description="TwilioFlow's webhook URLs for this connection")
    def our_urls(self, obj: PhoneNumber):
        return connection_urls_html(obj.connection)

    @admin.display(description="Listening triggers")
    def listening_triggers(self, obj: PhoneNumber):
        triggers = numbers_listening(obj)
        if not triggers:
            return "None: requests to this number start nothing."
        return format_html_join(
            mark_safe("<br>"),
            "{} ({})",
            ((admin_link("admin:triggers_trigger_change", t), t.get_kind_display()) for t in triggers),
        )

    # --- sync from the change list ---
    def get_urls(self):
        return [
            path("sync/", self.admin_site.admin_view(self.sync_view), name="triggers_phonenumber_sync"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        if self.has_operate_permission(request):
            extra_context["sync_connections"] = list(self._operable_connections(request))
        return super().changelist_view(request, extra_context)

    def sync_view(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_operate_permission(request):
            raise PermissionDenied
        wanted = request.POST.getlist("connection")
        connections = self._operable_connections(request)
        if wanted != ["all"]:
            connections = connections.filter(pk__in=[c for c in wanted if c.isdigit()])
        connections = list(connections)
        if not connections:
            self.message_user(request, "No connection you may sync was selected.", messages.ERROR)
        for connection in connections:
            self._sync(request, connection)
        return HttpResponseRedirect(reverse("admin:triggers_phonenumber_changelist"))

    def _sync(self, request, connection: Connection) -> None:
        label = f"{connection.workspace.name} / {connection.name}"
        try:
            counts = numbers_sync(connection=connection)
        except TwilioFlowError as error:
            self.message_user(request, f"{label}: sync failed: {error}", messages.ERROR)
            return
        except Exception:  # never a 500 page for an operation on a remote account
            logger.exception("Syncing the numbers of connection %s failed", connection.pk)
            self.message_user(
                request, f"{label}: sync failed unexpectedly (see the server log).", messages.ERROR
            )
            return
        text = (
            f"{label}: {counts['total']} number(s) on Twilio; {counts['created']} new, "
            f"{counts['updated']} updated, {counts['removed']} removed."
        )
        if counts["conflicts"]:
            text += (
                f" {counts['conflicts']} skipped: already synced under another connection "
                "of the same account."
            )
        self.message_user(request, text, messages.SUCCESS)

    # --- actions ---
    def _operable(self, request, queryset) -> list[PhoneNumber]:
        numbers, refused = [], 0
        for number in queryset.select_related("connection__workspace"):
            if self._can_operate(request, number):
                numbers.append(number)
            else:
                refused += 1
        if refused:
            self.message_user(
                request, f"{refused} number(s) skipped: you may only view them.", messages.WARNING
            )
        return numbers

    @admin.action(
        description="Sync numbers from Twilio (the selected numbers' connections)", permissions=["operate"]
    )
    def sync_numbers(self, request, queryset):
        connections = {n.connection_id: n.connection for n in self._operable(request, queryset)}
        for connection in connections.values():
            self._sync(request, connection)

    def _started(self, request, started: NumbersStarted, what: str):
        """Report refused numbers, link the runs, and go to the run's page when there is one."""
        for number, error in started.refused:
            self.message_user(request, f"{number.phone_number}: {error}", messages.ERROR)
        if not started.runs:
            return None
        count = sum(len(run.adhoc_steps) for run in started.runs)
        self.message_user(
            request,
            format_html(
                "{} {} number(s) in the background: {} (progress and result on its page).",
                what,
                count,
                run_links(started.runs),
            ),
            messages.SUCCESS,
        )
        if len(started.runs) == 1:
            return HttpResponseRedirect(run_url(started.runs[0].pk))
        return None

    @admin.action(description="Route to TwilioFlow (SMS, voice and status webhooks)", permissions=["operate"])
    def route_numbers(self, request, queryset):
        numbers = self._operable(request, queryset)
        return self._started(request, numbers_route_start(numbers=numbers), "Routing")

    @admin.action(
        description="Route to TwilioFlow even if Twilio may not reach PUBLIC_BASE_URL (superusers)",
        permissions=["override"],
    )
    def route_numbers_anyway(self, request, queryset):
        numbers = self._operable(request, queryset)
        return self._started(
            request,
            numbers_route_start(numbers=numbers, require_reachable=False),
            "Routing (reachability check overridden)",
        )

    def has_override_permission(self, request) -> bool:
        """Routing to a URL that looks unreachable (a private network the operator knows
        Twilio reaches through a proxy...) is an explicit superuser decision."""
        return self._is_super(request)

    @admin.action(description="Restore previous webhooks", permissions=["operate"])
    def restore_numbers(self, request, queryset):
        numbers = self._operable(request, queryset)
        return self._started(request, numbers_restore_start(numbers=numbers), "Restoring")
