from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.timezone import localtime
from django.views.decorators.debug import sensitive_post_parameters

from connections.forms import SECRET_FIELDS, ConnectionAdminForm
from connections.models import Connection
from connections.selectors import (
    connection_exchanges_recent,
    webhook_rejections_recent,
    webhook_rejections_unknown,
)
from connections.services import EXCHANGES_KEPT, connection_verify
from connections.webhook_urls import PURPOSE_LABELS, webhook_urls
from twilioflow.core.admin_display import (
    copy_box,
    exchange_table,
    format_duration_ms,
    status_badge,
    warning,
)
from twilioflow.core.errors import TwilioFlowError
from twilioflow.core.redaction import redact_text
from workspaces.admin_mixins import WorkspaceScopedAdminMixin
from workspaces.models import MANAGE_ROLES
from workspaces.selectors import user_may_manage


def connection_urls_html(
    connection: Connection, purposes: tuple[str, ...] = ("messages", "voice", "status")
) -> SafeString:
    """The connection's webhook URLs, each in a copy box (also shown on trigger pages)."""
    try:
        urls = webhook_urls(connection=connection)
    except TwilioFlowError as error:
        return warning(error.message)
    return format_html_join(
        "",
        '<div style="margin-bottom:4px"><strong>{}</strong><br>{}</div>',
        ((PURPOSE_LABELS[p], copy_box(urls[p])) for p in purposes),
    )


def _report(request: HttpRequest, connection: Connection, ok: bool, message: str) -> None:
    level = messages.SUCCESS if ok else messages.ERROR
    messages.add_message(request, level, f"{connection.name}: {message}")


@admin.register(Connection)
class ConnectionAdmin(WorkspaceScopedAdminMixin, admin.ModelAdmin[Connection]):
    form = ConnectionAdminForm
    edit_roles = MANAGE_ROLES  # credentials: owners and admins only
    list_display = ["name", "workspace", "kind", "account_sid", "status_badge", "last_verified_at"]
    list_filter = ["status", "kind", ("workspace", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "account_sid", "api_key_sid"]
    actions = ["verify_connections"]
    readonly_fields = [
        "auth_token_masked",
        "api_key_secret_masked",
        "status_badge",
        "last_verified_at",
        "last_error",
        "public_id",
        "created_at",
        "updated_at",
        "webhook_urls",
        "exchange_log",
        "rejections",
    ]
    fieldsets = [
        (None, {"fields": ["workspace", "name", "kind", "account_sid"]}),
        (
            "Credentials (write-only)",
            {
                "fields": [
                    "auth_token",
                    "auth_token_masked",
                    "api_key_sid",
                    "api_key_secret",
                    "api_key_secret_masked",
                    "clear_auth_token",
                ],
                "description": "Secrets are encrypted at rest and never shown again; type a new "
                "value to replace one, leave it blank to keep it. Saving verifies the credentials "
                "with Twilio.",
            },
        ),
        (
            "Webhook URLs",
            {
                "fields": ["webhook_urls", "rejections"],
                "description": "Where Twilio sends this account's inbound messages, calls and "
                "status callbacks (Phone numbers → “Route to TwilioFlow” sets them on a number).",
            },
        ),
        (
            "Status",
            {
                "fields": [
                    "status_badge",
                    "last_verified_at",
                    "last_error",
                    "public_id",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
    ]

    def get_fieldsets(self, request: HttpRequest, obj: Connection | None = None) -> Any:
        fieldsets = list(super().get_fieldsets(request, obj))
        # The log of read-only requests: owners and admins of this workspace (and superusers).
        if obj is not None and obj.pk and user_may_manage(request.user, obj.workspace_id):
            fieldsets.append(
                (
                    "Recent Twilio requests outside runs",
                    {
                        "fields": ["exchange_log"],
                        "classes": ["collapse"],
                        "description": "Read-only requests made for this connection (verify, numbers "
                        f"sync, pickers), redacted; the last {EXCHANGES_KEPT} are kept. Requests that "
                        "change something are runs: see their step timeline.",
                    },
                )
            )
        return fieldsets

    @admin.display(description="Refused webhooks")
    def rejections(self, obj: Connection) -> SafeString | str:
        if obj.pk is None:
            return "—"
        total, rows = webhook_rejections_recent(connection=obj)
        if not total:
            return "None: every request to these URLs was signed correctly."
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            ((localtime(r.at).strftime("%Y-%m-%d %H:%M:%S"), r.method, r.path, r.reason) for r in rows),
        )
        return format_html(
            "<p>{} request(s) refused in all (newest {} below). INVALID_SIGNATURE usually means "
            "PUBLIC_BASE_URL differs from the URL Twilio calls, or the Auth Token was rotated.</p>"
            '<table class="tf-rejections"><thead><tr><th>At</th><th>Method</th><th>Path</th>'
            "<th>Reason</th></tr></thead><tbody>{}</tbody></table>",
            total,
            len(rows),
            body,
        )

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        # Requests naming no connection at all are counted globally: superusers see the count.
        if request.user.is_superuser:
            unknown = webhook_rejections_unknown()
            if unknown is not None and unknown.count:
                messages.info(
                    request,
                    f"{unknown.count} webhook request(s) named no connection "
                    f"(last {localtime(unknown.last_at):%Y-%m-%d %H:%M} to {unknown.last_path}).",
                )
        return super().changelist_view(request, extra_context)

    @admin.display(description="Requests")
    def exchange_log(self, obj: Connection) -> SafeString | str:
        rows = connection_exchanges_recent(connection=obj)
        if not rows:
            return "None yet."
        return exchange_table(
            (
                row.at,
                row.purpose,
                f"{row.method} {redact_text(row.url)}",
                row.status,
                format_duration_ms(row.duration_ms),
                redact_text(row.error),
                redact_text(row.request_excerpt),
                redact_text(row.response_excerpt),
            )
            for row in rows
        )

    @admin.display(description="Auth Token")
    def auth_token_masked(self, obj: Connection) -> str:
        return obj.auth_token_masked or "—"

    @admin.display(description="API Key secret")
    def api_key_secret_masked(self, obj: Connection) -> str:
        return obj.api_key_secret_masked or "—"

    @admin.display(description="URLs")
    def webhook_urls(self, obj: Connection) -> str:
        if obj.pk is None:
            return "Shown once the connection is saved."
        return connection_urls_html(obj)

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: Connection) -> SafeString:
        return status_badge(obj.status, obj.get_status_display())

    @method_decorator(sensitive_post_parameters(*SECRET_FIELDS))
    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return super().changeform_view(request, *args, **kwargs)

    def save_model(
        self, request: HttpRequest, obj: Connection, form: ModelForm[Connection], change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        # Verify after commit: a slow Twilio must not hold the database's write lock.
        transaction.on_commit(lambda: _report(request, obj, *connection_verify(connection=obj)))

    @admin.action(description="Verify connection")
    def verify_connections(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        for connection in queryset:
            if not self.has_change_permission(request, connection):
                continue
            _report(request, connection, *connection_verify(connection=connection))
