"""Compliance in the admin: consent (append-only: add an opt-out or opt-in, never edit one),
send policies, prices, and what sandbox mode would have sent."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest

from compliance.models import (
    ConsentEvent,
    ConsentKind,
    ConsentSource,
    ContactActivity,
    PriceEntry,
    SandboxMessage,
    SendPolicy,
)
from compliance.services import consent_record, normalise_contact
from twilioflow.core.errors import TwilioFlowError
from workspaces.admin_mixins import WorkspaceScopedAdminMixin
from workspaces.models import MANAGE_ROLES


class ConsentEventForm(forms.ModelForm):
    class Meta:
        model = ConsentEvent
        fields = ["workspace", "contact", "channel", "sender", "kind", "note"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        workspace = data.get("workspace")
        if data.get("contact"):
            try:
                data["contact"] = normalise_contact(
                    data["contact"], workspace.default_country if workspace else None
                )
            except TwilioFlowError as error:
                self.add_error("contact", error.message)
        return data


@admin.register(ConsentEvent)
class ConsentEventAdmin(WorkspaceScopedAdminMixin, admin.ModelAdmin[ConsentEvent]):
    """Every consent change, for audit. "Add" records a new opt-out or opt-in through the
    service (source admin, the user recorded); nothing is ever edited or deleted."""

    form = ConsentEventForm
    list_display = [
        "at",
        "contact",
        "kind",
        "channel",
        "sender_display",
        "source",
        "keyword",
        "user",
        "workspace",
    ]
    list_filter = ["kind", "channel", "source", "workspace"]
    search_fields = ["contact", "sender", "keyword"]
    date_hierarchy = "at"

    @admin.display(description="sender")
    def sender_display(self, obj: ConsentEvent) -> str:
        return obj.sender or "(whole workspace)"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return []
        return [f.name for f in ConsentEvent._meta.fields]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ConsentEventForm.Meta.fields
        return [
            "workspace",
            "contact",
            "channel",
            "sender",
            "kind",
            "source",
            "keyword",
            "user",
            "note",
            "at",
        ]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ConsentEvent, form: Any, change: bool) -> None:
        created = consent_record(
            workspace=obj.workspace,
            contact=obj.contact,
            kind=obj.kind or ConsentKind.OPT_OUT,
            source=ConsentSource.ADMIN,
            channel=obj.channel,
            sender=obj.sender,
            user=request.user,
            note=obj.note,
        )
        obj.pk, obj.at, obj.source, obj.user = created.pk, created.at, created.source, created.user


class SendPolicyForm(forms.ModelForm):
    class Meta:
        model = SendPolicy
        fields = [
            "workspace",
            "sandbox",
            "quiet_hours_enabled",
            "quiet_start",
            "quiet_end",
            "workflow_overrides",
            "opt_out_keywords",
            "opt_in_keywords",
            "help_keywords",
            "help_text",
            "max_segments",
            "daily_spend_cap",
            "currency",
            "shorten_urls",
        ]
        help_texts = {
            "workflow_overrides": 'Per-workflow quiet hours, keyed by workflow id: {"12": '
            '{"quiet_hours_enabled": false}} or {"12": {"quiet_start": "20:00", "quiet_end": '
            '"09:00"}}.',
        }


@admin.register(SendPolicy)
class SendPolicyAdmin(WorkspaceScopedAdminMixin, admin.ModelAdmin[SendPolicy]):
    form = SendPolicyForm
    edit_roles = MANAGE_ROLES
    list_display = [
        "workspace",
        "sandbox_badge",
        "quiet_hours_enabled",
        "quiet_start",
        "quiet_end",
        "max_segments",
        "daily_spend_cap",
        "currency",
    ]
    fieldsets = [
        (None, {"fields": ["workspace", "sandbox"]}),
        (
            "Quiet hours (recipient's time zone)",
            {"fields": ["quiet_hours_enabled", "quiet_start", "quiet_end", "workflow_overrides"]},
        ),
        ("Keywords", {"fields": ["opt_out_keywords", "opt_in_keywords", "help_keywords", "help_text"]}),
        ("Cost and size", {"fields": ["max_segments", "daily_spend_cap", "currency", "shorten_urls"]}),
    ]

    @admin.display(description="mode")
    def sandbox_badge(self, obj: SendPolicy) -> str:
        return "SANDBOX (nothing is sent)" if obj.sandbox else "live"

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.sandbox:
            messages.warning(
                request,
                f"{obj.workspace} is in sandbox mode: every check runs, "
                "nothing is sent to Twilio, and results are simulated (SB… SIDs).",
            )
        return super().render_change_form(
            request, context, add=add, change=change, form_url=form_url, obj=obj
        )


@admin.register(PriceEntry)
class PriceEntryAdmin(WorkspaceScopedAdminMixin, admin.ModelAdmin[PriceEntry]):
    list_display = ["country", "channel", "price", "currency", "source", "updated_at", "workspace"]
    list_filter = ["channel", "source", "workspace"]
    search_fields = ["country"]


class _ReadOnly(WorkspaceScopedAdminMixin):
    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SandboxMessage)
class SandboxMessageAdmin(_ReadOnly, admin.ModelAdmin[SandboxMessage]):
    list_display = ["created_at", "sid", "method", "url", "workspace"]
    list_filter = ["workspace"]
    search_fields = ["sid"]


@admin.register(ContactActivity)
class ContactActivityAdmin(_ReadOnly, admin.ModelAdmin[ContactActivity]):
    list_display = ["contact", "sender", "channel", "last_inbound_at", "workspace"]
    list_filter = ["channel", "workspace"]
    search_fields = ["contact", "sender"]
