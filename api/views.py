"""The REST API (`/api/v1/`). Thin: scope, validate, call the owning app's services and
selectors, answer. See README "API" and the schema at /api/schema/."""

from __future__ import annotations

import io
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from actions.pickers import PICKERS, picker_options
from actions.registry import action_get, action_list
from api import serializers as s
from api import services
from api.auth import EDIT, MANAGE, RUN, caller_of
from api.base import ApiCursorPagination, ScopedViewSet
from api.models import RunWebhook
from api.notifications import run_webhook_set
from api.selectors import runs_filtered
from campaigns.models import Campaign, CampaignRecipient
from campaigns.selectors import campaign_progress
from campaigns.services import (
    campaign_cancel,
    campaign_create,
    campaign_delete,
    campaign_pause,
    campaign_recipients_add_list,
    campaign_results_write,
    campaign_resume,
    campaign_start,
    campaign_update,
)
from compliance.models import ConsentEvent, ConsentSource
from compliance.services import consent_record
from connections.models import Connection
from connections.services import connection_create, connection_verify
from triggers.models import PhoneNumber, Trigger, TriggerEvent
from triggers.number_routing import NumbersStarted, numbers_restore_start, numbers_route_start
from triggers.numbers import numbers_sync
from twilioflow.core import errors
from twilioflow.core.api import error_body
from twilioflow.core.errors import TwilioFlowError
from twilioflow.core.redaction import mask_secret
from voice.models import CallSession, LlmConnection, VoiceAgent
from voice.services import llm_connection_save, voice_agent_save
from workflows.models import Run, Workflow
from workflows.services import action_run_adhoc, run_cancel, run_replay, workflows_set_enabled
from workflows.transfer import workflow_export, workflow_import
from workspaces.models import Workspace

RUN_STARTED = OpenApiResponse(s.RunDetailSerializer, description="The run (final when `wait` sufficed).")
ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)


@csrf_exempt  # answers every method with the JSON 404, never Django's HTML CSRF page
def api_not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Any other /api/v1/ URL: the same error shape as every answer."""
    return JsonResponse(error_body(errors.NOT_FOUND, "No such API endpoint."), status=404)


def run_url(request: Request, run: Run) -> str:
    return reverse("api:run-detail", kwargs={"pk": run.pk}, request=request)


def run_response(
    request: Request, run: Run, code: int = status.HTTP_200_OK, headers: dict[str, str] | None = None
) -> Response:
    """The run with its timeline, and its URL in Location."""
    data = s.RunDetailSerializer(run, context={"request": request}).data
    return Response(data, code, headers={"Location": run_url(request, run), **(headers or {})})


# --- workspaces -------------------------------------------------------------------------------
@extend_schema_view(
    list=extend_schema(summary="Your workspaces", description="The workspaces this key or user may read."),
    retrieve=extend_schema(summary="One workspace"),
)
@extend_schema(tags=["workspaces"])
class WorkspaceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    serializer_class = s.WorkspaceSerializer
    workspace_path = "id"

    def base_queryset(self) -> QuerySet[Workspace]:
        return Workspace.objects.all()


# --- connections ------------------------------------------------------------------------------
@extend_schema_view(
    list=extend_schema(summary="List connections", description="Secrets are never returned, only masked."),
    retrieve=extend_schema(summary="One connection"),
    create=extend_schema(summary="Add a Twilio connection", description="Secrets are write-only."),
    update=extend_schema(summary="Change a connection", description="A blank secret keeps the stored one."),
    destroy=extend_schema(summary="Delete a connection", description="409 while workflows or events use it."),
)
@extend_schema(tags=["connections"])
class ConnectionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    ScopedViewSet,
):
    serializer_class = s.ConnectionSerializer
    http_method_names = ["get", "post", "put", "delete"]
    perms = {"create": MANAGE, "update": MANAGE, "destroy": MANAGE, "verify": MANAGE}

    def base_queryset(self) -> QuerySet[Connection]:
        return Connection.objects.all()

    def perform_create(self, serializer: Any) -> None:
        data = serializer.validated_data
        workspace = self.workspace_for_create(MANAGE, data.get("workspace_id"))
        serializer.instance = connection_create(
            workspace=workspace,
            name=data["name"],
            account_sid=data["account_sid"],
            kind=data.get("kind", "auth_token"),
            auth_token=data.get("auth_token"),
            api_key_sid=data.get("api_key_sid", ""),
            api_key_secret=data.get("api_key_secret"),
        )

    def perform_update(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        data.pop("workspace_id", None)
        serializer.instance = services.connection_update(connection=serializer.instance, data=data)

    @extend_schema(summary="Verify the credentials with Twilio", request=None, responses=s.VerifySerializer)
    @action(detail=True, methods=["post"])
    def verify(self, request: Request, pk: str) -> Response:
        connection = self.get_object()
        ok, message = connection_verify(connection=connection)
        return Response({"ok": ok, "message": message, "status": connection.status})

    @extend_schema(
        summary="Picker options from the account",
        description=(
            "The account's own objects for a field whose input schema names `x-picker` "
            "(phone numbers, Verify or Messaging services, recent messages); cached five "
            "minutes unless `refresh=true`."
        ),
        parameters=[
            OpenApiParameter("picker", str, OpenApiParameter.PATH, enum=sorted(PICKERS)),
            OpenApiParameter("refresh", bool, OpenApiParameter.QUERY, required=False),
        ],
        responses=s.PickerOptionSerializer(many=True),
    )
    @action(detail=True, methods=["get"], url_path=r"pickers/(?P<picker>[a-z_]{1,40})", pagination_class=None)
    def pickers(self, request: Request, pk: str, picker: str) -> Response:
        connection = self.get_object()
        refresh = request.query_params.get("refresh", "").lower() in ("1", "true", "yes")
        options = picker_options(connection=connection, picker=picker, refresh=refresh)
        return Response([{"value": value, "label": label} for value, label in options])


# --- workflows --------------------------------------------------------------------------------
@extend_schema(tags=["workflows"])
class WorkflowViewSet(ScopedViewSet):
    """Workflows in exactly the twilioflow/workflow@1 document of import/export."""

    serializer_class = s.WorkflowSerializer
    perms = {
        "create": EDIT,
        "update": EDIT,
        "destroy": EDIT,
        "enable": EDIT,
        "disable": EDIT,
        "validate": EDIT,
        "runs": RUN,
        "webhook": MANAGE,  # a signing secret and a URL our server will call
    }

    def base_queryset(self) -> QuerySet[Workflow]:
        return Workflow.objects.select_related("workspace")

    def _data(self, workflow: Workflow) -> dict[str, Any]:
        return {
            "id": workflow.pk,
            "workspace": workflow.workspace_id,
            "created_at": workflow.created_at,
            "updated_at": workflow.updated_at,
            **workflow_export(workflow),
        }

    def _document(self, request: Request) -> tuple[dict[str, Any], Any]:
        serializer = s.WorkflowWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        document = dict(serializer.validated_data)
        return document, document.pop("workspace", None)

    @extend_schema(summary="List workflows")
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([self._data(w) for w in page or []])

    @extend_schema(summary="One workflow, as its workflow@1 document")
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(self._data(self.get_object()))

    @extend_schema(
        summary="Create a workflow from a workflow@1 document",
        request=s.WorkflowWriteSerializer,
        responses={201: s.WorkflowSerializer},
    )
    def create(self, request: Request) -> Response:
        document, given = self._document(request)
        workspace = self.workspace_for_create(EDIT, given)
        workflow = workflow_import(
            workspace=workspace, document=document, overwrite_shared=document.pop("overwrite_shared", False)
        )
        return Response(self._data(workflow), status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Replace a workflow with a workflow@1 document",
        request=s.WorkflowWriteSerializer,
        responses=s.WorkflowSerializer,
    )
    def update(self, request: Request, pk: str) -> Response:
        workflow = self.get_object()
        document, _ = self._document(request)
        overwrite = document.pop("overwrite_shared", False)
        return Response(
            self._data(
                services.workflow_replace(workflow=workflow, document=document, overwrite_shared=overwrite)
            )
        )

    @extend_schema(summary="Delete a workflow", description="409 when it has runs: disable it instead.")
    def destroy(self, request: Request, pk: str) -> Response:
        self.get_object().delete()
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Check a workflow@1 document without saving it",
        description="Every problem with its path (steps.1.inputs.To), not only the first.",
        request=s.WorkflowWriteSerializer,
        responses=s.ValidationResultSerializer,
    )
    @action(detail=False, methods=["post"])
    def validate(self, request: Request) -> Response:
        serializer = s.WorkflowWriteSerializer(data=request.data)
        if not serializer.is_valid():
            from twilioflow.core.api import _flatten

            return Response({"valid": False, "errors": _flatten(serializer.errors)})
        document = dict(serializer.validated_data)
        workspace = self.workspace_for_create(EDIT, document.pop("workspace", None))
        overwrite = document.pop("overwrite_shared", False)
        problems = services.workflow_check(workspace=workspace, document=document, overwrite_shared=overwrite)
        return Response({"valid": not problems, "errors": problems})

    @extend_schema(
        methods=["GET"], summary="The workflow's run-end webhook", responses=s.RunWebhookSerializer
    )
    @extend_schema(
        methods=["PUT"],
        summary="Set the run-end webhook",
        description=(
            "When a top-level run of this workflow ends, its summary is POSTed to `url`, signed "
            "in the Standard Webhooks format (webhook-id, webhook-timestamp, webhook-signature); "
            "retried with backoff; every delivery recorded. The secret is shown in full once."
        ),
        request=s.RunWebhookSerializer,
        responses=s.RunWebhookSerializer,
    )
    @extend_schema(methods=["DELETE"], summary="Remove the run-end webhook", responses={204: None})
    @action(detail=True, methods=["get", "put", "delete"])
    def webhook(self, request: Request, pk: str) -> Response:
        workflow = self.get_object()
        current = RunWebhook.objects.filter(workflow=workflow).first()
        if request.method == "GET":
            if current is None:
                raise TwilioFlowError(errors.NOT_FOUND, "This workflow has no run-end webhook.")
            return Response(_webhook_data(current, reveal=False))
        if request.method == "DELETE":
            if current is not None:
                current.delete()
            return Response(status=status.HTTP_204_NO_CONTENT)
        body = s.RunWebhookSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        webhook, revealed = run_webhook_set(workflow=workflow, **body.validated_data)
        return Response(_webhook_data(webhook, reveal=revealed))

    @extend_schema(summary="Enable the workflow", request=None, responses=s.EnabledSerializer)
    @action(detail=True, methods=["post"])
    def enable(self, request: Request, pk: str) -> Response:
        return self._set_enabled(True)

    @extend_schema(summary="Disable the workflow", request=None, responses=s.EnabledSerializer)
    @action(detail=True, methods=["post"])
    def disable(self, request: Request, pk: str) -> Response:
        return self._set_enabled(False)

    def _set_enabled(self, enabled: bool) -> Response:
        workflow = self.get_object()
        workflows_set_enabled(ids=[workflow.pk], enabled=enabled)
        return Response({"id": workflow.pk, "enabled": enabled})

    @extend_schema(
        summary="Start a run",
        description=(
            "202 with the run and its URL (Location). `Idempotency-Key`: the same key and body "
            "return the same run for 24 h; another body with the key is 422. `wait=N` holds the "
            "request up to N seconds (at most 60) until the run ends: 200 with the final run, "
            "else 202 with the run so far."
        ),
        request=s.RunStartSerializer,
        parameters=[
            OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False),
            OpenApiParameter(
                "wait",
                OpenApiTypes.INT,
                OpenApiParameter.QUERY,
                required=False,
                description="Seconds to hold for the result (capped at 60).",
            ),
        ],
        responses={200: RUN_STARTED, 202: RUN_STARTED},
    )
    @action(detail=True, methods=["post"])
    def runs(self, request: Request, pk: str) -> Response:
        workflow = self.get_object()
        body = s.RunStartSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        wait = _wait_seconds(request)
        started = services.run_start(
            workflow=workflow,
            payload=body.validated_data["payload"],
            variables=body.validated_data["variables"],
            idempotency_key=request.headers.get("Idempotency-Key", "").strip(),
        )
        run = services.run_wait(started.run, wait) if wait else started.run
        headers = {"Idempotent-Replayed": "true"} if started.replayed else {}
        code = status.HTTP_200_OK if run.is_final and wait else status.HTTP_202_ACCEPTED
        return run_response(request, run, code, headers)


def _webhook_data(webhook: RunWebhook, *, reveal: bool) -> dict[str, Any]:
    data = dict(s.RunWebhookSerializer(webhook).data)
    data["secret"] = webhook.secret if reveal else mask_secret(webhook.secret)
    return data


def _wait_seconds(request: Request) -> float:
    raw = request.query_params.get("wait", "")
    if raw == "":
        return 0
    try:
        seconds = int(raw)
    except ValueError:
        raise errors.validation_error({"wait": "Seconds, a whole number."}) from None
    if seconds < 0:
        raise errors.validation_error({"wait": "Seconds, 0 or more."})
    return min(seconds, services.max_wait_seconds())  # capped, not refused


# --- runs -------------------------------------------------------------------------------------
@extend_schema_view(
    list=extend_schema(
        summary="List runs",
        description="Newest first, cursor-paginated (`next`). Filters combine.",
        parameters=[s.RunFilterSerializer],
    ),
    retrieve=extend_schema(
        summary="One run with its step timeline",
        description="Rendered inputs (secrets redacted), outputs, SIDs, delivery, errors, exchanges.",
    ),
)
@extend_schema(tags=["runs"])
class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    perms = {"replay": RUN, "cancel": RUN}

    def base_queryset(self) -> QuerySet[Run]:
        return Run.objects.select_related("workflow")

    def get_serializer_class(self) -> Any:
        return s.RunSerializer if self.action == "list" else s.RunDetailSerializer

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.action != "list":
            return queryset
        filters = s.RunFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return runs_filtered(queryset, filters.validated_data)

    @extend_schema(
        summary="Replay the run",
        description="A new run with the same payload (it sends again).",
        request=None,
        responses={202: s.RunDetailSerializer},
    )
    @action(detail=True, methods=["post"])
    def replay(self, request: Request, pk: str) -> Response:
        return run_response(
            request, run_replay(run=self.get_object(), source="api"), status.HTTP_202_ACCEPTED
        )

    @extend_schema(
        summary="Cancel the run",
        description="409 when it has already ended. A step in flight finishes; nothing new starts.",
        request=None,
        responses=s.RunDetailSerializer,
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        run = self.get_object()
        if not run_cancel(run=run, reason="Canceled through the API."):
            raise TwilioFlowError(errors.CONFLICT, f"Run {run.pk} has already ended ({run.status}).")
        run.refresh_from_db()
        return run_response(request, run)


# --- triggers, events, numbers ----------------------------------------------------------------
@extend_schema_view(
    list=extend_schema(summary="List triggers"),
    retrieve=extend_schema(summary="One trigger, with the URL Twilio must call"),
    create=extend_schema(summary="Add a trigger to a workflow"),
    update=extend_schema(summary="Change a trigger"),
    destroy=extend_schema(summary="Delete a trigger"),
)
@extend_schema(tags=["triggers"])
class TriggerViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    ScopedViewSet,
):
    serializer_class = s.TriggerSerializer
    http_method_names = ["get", "post", "put", "delete"]
    perms = {"create": EDIT, "update": EDIT, "destroy": EDIT}

    def base_queryset(self) -> QuerySet[Trigger]:
        return Trigger.objects.select_related("connection", "workflow")

    def perform_create(self, serializer: Any) -> None:
        workflow = serializer.validated_data["workflow"]
        trigger = Trigger(workspace_id=workflow.workspace_id, **serializer.validated_data)
        trigger.full_clean()
        trigger.save()
        serializer.instance = trigger

    def perform_update(self, serializer: Any) -> None:
        trigger = serializer.instance
        for name, value in serializer.validated_data.items():
            setattr(trigger, name, value)
        trigger.workspace_id = trigger.workflow.workspace_id
        trigger.full_clean()
        trigger.save()


@extend_schema_view(
    list=extend_schema(summary="List trigger events", description="Every signed request we accepted."),
    retrieve=extend_schema(summary="One trigger event"),
)
@extend_schema(tags=["events"])
class EventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    serializer_class = s.TriggerEventSerializer
    workspace_path = "connection__workspace"

    def base_queryset(self) -> QuerySet[TriggerEvent]:
        return TriggerEvent.objects.prefetch_related("runs")


NUMBER_RUN = OpenApiResponse(s.RunDetailSerializer, description="The audited run that changes the number.")


@extend_schema_view(
    list=extend_schema(summary="List synced phone numbers"),
    retrieve=extend_schema(summary="One phone number"),
)
@extend_schema(tags=["phone-numbers"])
class PhoneNumberViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    serializer_class = s.PhoneNumberSerializer
    workspace_path = "connection__workspace"
    perms = {"sync": MANAGE, "route": MANAGE, "restore": MANAGE}

    def base_queryset(self) -> QuerySet[PhoneNumber]:
        return PhoneNumber.objects.select_related("connection")

    @extend_schema(
        summary="Sync the account's numbers from Twilio",
        request=s.SyncRequestSerializer,
        responses=s.SyncResultSerializer,
    )
    @action(detail=False, methods=["post"])
    def sync(self, request: Request) -> Response:
        body = s.SyncRequestSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        return Response(numbers_sync(connection=body.validated_data["connection"]))

    @extend_schema(
        summary="Route the number's webhooks to TwilioFlow",
        description="An audited run (202); the previous webhooks are recorded for restore.",
        request=None,
        responses={202: NUMBER_RUN},
    )
    @action(detail=True, methods=["post"])
    def route(self, request: Request, pk: str) -> Response:
        return self._started(request, numbers_route_start(numbers=[self.get_object()], source="api"))

    @extend_schema(
        summary="Restore the number's previous webhooks",
        request=None,
        responses={202: NUMBER_RUN},
    )
    @action(detail=True, methods=["post"])
    def restore(self, request: Request, pk: str) -> Response:
        return self._started(request, numbers_restore_start(numbers=[self.get_object()], source="api"))

    def _started(self, request: Request, started: NumbersStarted) -> Response:
        if started.refused:
            raise started.refused[0][1]
        return run_response(request, started.runs[0], status.HTTP_202_ACCEPTED)


# --- actions ----------------------------------------------------------------------------------
SLUG = OpenApiParameter("slug", str, OpenApiParameter.PATH, description="e.g. twilio/send-sms")


@extend_schema(tags=["actions"])
class ActionViewSet(mixins.ListModelMixin, ScopedViewSet):
    """The action catalogue, one JSON Schema per action from its field declarations."""

    serializer_class = s.ActionSerializer
    pagination_class = None
    lookup_field = "slug"
    lookup_value_regex = r"[a-z0-9_-]{1,40}/[a-z0-9_-]{1,80}"
    perms = {"run": RUN}

    def get_queryset(self) -> Any:
        return Workflow.objects.none()  # not a model; see list/retrieve

    @extend_schema(summary="The action catalogue")
    def list(self, request: Request) -> Response:
        return Response([cls.describe() for cls in action_list()])

    @extend_schema(summary="One action and its input schema", parameters=[SLUG])
    def retrieve(self, request: Request, slug: str) -> Response:
        return Response(action_get(slug).describe())

    @extend_schema(
        summary="Run one action now, as an audited ad-hoc run",
        description=(
            "Validated first (400, nothing sent); then one run through the engine: the send "
            "gate and the never-twice guarantee apply as for any workflow."
        ),
        parameters=[SLUG],
        request=s.ActionRunSerializer,
        responses={201: s.RunDetailSerializer},
    )
    @action(detail=True, methods=["post"])
    def run(self, request: Request, slug: str) -> Response:
        action_get(slug)  # 404 first
        body = s.ActionRunSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        run = action_run_adhoc(
            slug=slug,
            connection=body.validated_data["connection"],
            inputs=body.validated_data["inputs"],
            source="api",
        )
        return run_response(request, run, status.HTTP_201_CREATED)


# --- consent ----------------------------------------------------------------------------------
@extend_schema_view(
    list=extend_schema(
        summary="Consent events (opt-outs and opt-ins)",
        parameters=[OpenApiParameter("contact", str, description="Only this contact (E.164).")],
    ),
    retrieve=extend_schema(summary="One consent event"),
    create=extend_schema(
        summary="Record an opt-out or opt-in",
        description="Appended as a consent event (source `api`); every later send is gated by it.",
    ),
)
@extend_schema(tags=["consent"])
class ConsentViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, ScopedViewSet
):
    serializer_class = s.ConsentEventSerializer
    perms = {"create": MANAGE}

    def base_queryset(self) -> QuerySet[ConsentEvent]:
        return ConsentEvent.objects.all()

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        contact = self.request.query_params.get("contact", "").strip()
        return queryset.filter(contact=contact[:32]) if contact else queryset

    def perform_create(self, serializer: Any) -> None:
        data = serializer.validated_data
        workspace = self.workspace_for_create(MANAGE, data.get("workspace_id"))
        serializer.instance = consent_record(
            workspace=workspace,
            contact=data["contact"],
            kind=data["kind"],
            source=ConsentSource.API,
            channel=data.get("channel", "sms"),
            sender=data.get("sender", ""),
            user=caller_of(self.request).user,
            note=data.get("note", ""),
        )


# --- campaigns --------------------------------------------------------------------------------
CAMPAIGN_DRAFT_ONLY = "Only while the campaign is a draft (409 otherwise)."


class CrudViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    ScopedViewSet,
):
    """Create and change through the owning app's service: `save(instance, **data)` for an
    unsaved instance in the caller's workspace (`edit_perm`), or the existing one."""

    http_method_names = ["get", "post", "put", "delete"]
    edit_perm = EDIT

    def new_instance(self, workspace: Workspace) -> Any:
        return self.base_queryset().model(workspace=workspace)

    def save(self, instance: Any, **data: Any) -> Any:
        raise NotImplementedError

    def perform_create(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        workspace = self.workspace_for_create(self.edit_perm, data.pop("workspace_id", None))
        serializer.instance = self.save(self.new_instance(workspace), **data)

    def perform_update(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        data.pop("workspace_id", None)
        serializer.instance = self.save(serializer.instance, **data)


class RecipientPagination(ApiCursorPagination):
    ordering = "id"  # the audience in its order


@extend_schema_view(
    list=extend_schema(summary="List campaigns"),
    retrieve=extend_schema(summary="One campaign"),
    create=extend_schema(
        summary="Create a draft campaign",
        description="A message (or a workflow) per recipient; add recipients, then `start`. "
        "`connection` and `workflow` must be of the campaign's workspace.",
    ),
    update=extend_schema(summary="Change a draft campaign", description=CAMPAIGN_DRAFT_ONLY),
    partial_update=extend_schema(summary="Change some fields of a draft", description=CAMPAIGN_DRAFT_ONLY),
    destroy=extend_schema(summary="Delete a draft campaign", description=CAMPAIGN_DRAFT_ONLY),
)
@extend_schema(tags=["campaigns"])
class CampaignViewSet(CrudViewSet):
    serializer_class = s.CampaignSerializer
    http_method_names = ["get", "post", "put", "patch", "delete"]
    # GET recipients is a read; POST recipients (not listed) needs manage, like any write.
    perms = {
        "create": EDIT,
        "update": EDIT,
        "partial_update": EDIT,
        "destroy": EDIT,
        "start": RUN,
        "pause": RUN,
        "resume": RUN,
        "cancel": RUN,
    }

    def base_queryset(self) -> QuerySet[Campaign]:
        return Campaign.objects.all()

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        if self.action == "export":
            # The CSV answers itself; anything else (a 404…) is the one JSON error shape,
            # whatever the client accepts.
            return JSONRenderer(), JSONRenderer.media_type
        return super().perform_content_negotiation(request, force)

    def save(self, instance: Campaign, **data: Any) -> Campaign:
        if instance.pk is None:
            return campaign_create(workspace=instance.workspace, **data)
        return campaign_update(campaign=instance, **data)

    def perform_destroy(self, instance: Campaign) -> None:
        campaign_delete(campaign=instance)

    @extend_schema(
        methods=["GET"],
        summary="Per-recipient results",
        description="In audience order, cursor-paginated; `state` filters.",
        parameters=[s.RecipientFilterSerializer],
        responses=s.CampaignRecipientSerializer(many=True),
    )
    @extend_schema(
        methods=["POST"],
        summary="Add recipients",
        description=(
            'A list of numbers or of {"phone": …, "variables": {…}} objects (the body may also '
            "be the bare list). Numbers are normalised to E.164 and deduplicated; every item not "
            "taken is in `problems` with its index and why; opted-out contacts are added and "
            "will be skipped. Not once the campaign has ended."
        ),
        request=s.RecipientsAddSerializer,
        responses=s.RecipientsAddedSerializer,
    )
    @action(detail=True, methods=["get", "post"], pagination_class=RecipientPagination)
    def recipients(self, request: Request, pk: str) -> Response:
        campaign = self.get_object()
        if request.method == "GET":
            filters = s.RecipientFilterSerializer(data=request.query_params)
            filters.is_valid(raise_exception=True)
            rows = CampaignRecipient.objects.filter(campaign=campaign)
            if "state" in filters.validated_data:
                rows = rows.filter(state=filters.validated_data["state"])
            page = self.paginate_queryset(rows)
            data = s.CampaignRecipientSerializer(page, many=True).data
            return self.get_paginated_response(data)
        given = {"recipients": request.data} if isinstance(request.data, list) else request.data
        body = s.RecipientsAddSerializer(data=given)
        body.is_valid(raise_exception=True)
        added = campaign_recipients_add_list(campaign=campaign, items=body.validated_data["recipients"])
        return Response(
            {
                "added": added.added,
                "opted_out": added.opted_out,
                "already": added.already,
                "rejected": added.rejected,
                "summary": added.summary(),
                "problems": [problem.as_dict() for problem in added.problems],
            }
        )

    def _operated(self, campaign: Campaign, changed: bool, doing: str) -> Response:
        if not changed:
            raise TwilioFlowError(
                errors.CONFLICT, f"Cannot {doing} a campaign that is {campaign.get_status_display().lower()}."
            )
        campaign.refresh_from_db()
        return Response(s.CampaignSerializer(campaign, context={"request": self.request}).data)

    @extend_schema(
        summary="Start (or resume) the campaign",
        description="Draft → running (or scheduled for a future `start_at`); 400 when it could "
        "not send (no recipients, a sender unfit for the channel…).",
        request=None,
        responses=s.CampaignSerializer,
    )
    @action(detail=True, methods=["post"])
    def start(self, request: Request, pk: str) -> Response:
        campaign = self.get_object()
        if campaign.is_final:
            return self._operated(campaign, False, "start")
        return self._operated(campaign_start(campaign=campaign), True, "start")

    @extend_schema(
        summary="Pause the campaign",
        description="No new sends (one in flight finishes). 409 unless running or scheduled.",
        request=None,
        responses=s.CampaignSerializer,
    )
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str) -> Response:
        campaign = self.get_object()
        return self._operated(
            campaign, campaign_pause(campaign=campaign, note="Paused through the API."), "pause"
        )

    @extend_schema(
        summary="Resume a paused campaign",
        description="409 unless paused.",
        request=None,
        responses=s.CampaignSerializer,
    )
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str) -> Response:
        campaign = self.get_object()
        return self._operated(campaign, campaign_resume(campaign=campaign), "resume")

    @extend_schema(
        summary="Cancel the campaign",
        description="No further sends; recipients not yet sent become skipped. 409 once ended.",
        request=None,
        responses=s.CampaignSerializer,
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        campaign = self.get_object()
        changed = campaign_cancel(campaign=campaign, note="Cancelled through the API.")
        return self._operated(campaign, changed, "cancel")

    @extend_schema(
        summary="Progress",
        description="Counts per state, percent done, the pace and the ETA (the admin's bar).",
        responses=s.CampaignProgressSerializer,
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def progress(self, request: Request, pk: str) -> Response:
        campaign = self.get_object()
        return Response({"status": campaign.status, **campaign_progress(campaign).as_dict()})

    @extend_schema(
        summary="Export per-recipient results (CSV)",
        description="Every recipient's state, reason, message SID and run, then every row the "
        "import did not take; variables as columns.",
        responses={(200, "text/csv"): OpenApiTypes.STR},
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def export(self, request: Request, pk: str) -> HttpResponse:
        campaign = self.get_object()
        out = io.StringIO()
        campaign_results_write(campaign, out)
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}-results.csv"'
        return response


# --- voice ------------------------------------------------------------------------------------
@extend_schema_view(
    list=extend_schema(summary="List LLM connections", description="The API key is never returned."),
    retrieve=extend_schema(summary="One LLM connection"),
    create=extend_schema(
        summary="Add an LLM connection", description="OpenAI-compatible; the key is write-only."
    ),
    update=extend_schema(summary="Change an LLM connection", description="A blank key keeps the stored one."),
    destroy=extend_schema(summary="Delete an LLM connection", description="409 while an agent uses it."),
)
@extend_schema(tags=["voice"])
class LlmConnectionViewSet(CrudViewSet):
    serializer_class = s.LlmConnectionSerializer
    perms = {"create": MANAGE, "update": MANAGE, "destroy": MANAGE}  # it holds a secret
    edit_perm = MANAGE

    def base_queryset(self) -> QuerySet[LlmConnection]:
        return LlmConnection.objects.all()

    def save(self, instance: LlmConnection, **data: Any) -> LlmConnection:
        return llm_connection_save(llm=instance, **data)


@extend_schema_view(
    list=extend_schema(summary="List voice agents"),
    retrieve=extend_schema(summary="One voice agent"),
    create=extend_schema(
        summary="Add a voice agent",
        description="JSON questions (Indite's format) or an LLM conversation. Every mistake in "
        "`questions` is reported under its JSON path, e.g. `questions[1].options`.",
    ),
    update=extend_schema(summary="Change a voice agent"),
    destroy=extend_schema(summary="Delete a voice agent"),
)
@extend_schema(tags=["voice"])
class VoiceAgentViewSet(CrudViewSet):
    serializer_class = s.VoiceAgentSerializer
    perms = {"create": EDIT, "update": EDIT, "destroy": EDIT}

    def base_queryset(self) -> QuerySet[VoiceAgent]:
        return VoiceAgent.objects.all()

    def save(self, instance: VoiceAgent, **data: Any) -> VoiceAgent:
        return voice_agent_save(agent=instance, **data)


@extend_schema_view(
    list=extend_schema(summary="List calls", description="Live and ended calls that runs drove."),
    retrieve=extend_schema(summary="One call with its transcript", description="Turn by turn."),
)
@extend_schema(tags=["voice"])
class CallSessionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    def base_queryset(self) -> QuerySet[CallSession]:
        return CallSession.objects.all()

    def get_serializer_class(self) -> Any:
        return s.CallSessionSerializer if self.action == "list" else s.CallSessionDetailSerializer
