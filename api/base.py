"""What every API view shares: authentication, the workspace permission, throttling, the
strict JSON parser, cursor pagination and workspace-scoped querysets."""

from __future__ import annotations

from typing import Any

from django.db.models import Model, QuerySet
from rest_framework import viewsets
from rest_framework.pagination import CursorPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request

from api.auth import (
    READ,
    ApiKeyAuthentication,
    ApiKeyRateThrottle,
    StaffSessionAuthentication,
    WorkspacePermission,
    caller_of,
)
from api.parsers import StrictJSONParser
from twilioflow.core.errors import validation_error
from workspaces.models import Workspace

ID_PATTERN = r"[0-9]{1,18}"  # a longer number cannot be an id: 404, never a database error


class ApiCursorPagination(CursorPagination):
    """Newest first; `next`/`previous` are opaque cursor URLs (stable while rows are added)."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class ScopedViewSet(viewsets.GenericViewSet):
    """A model's rows in the caller's workspaces (`workspace_path` leads to the workspace);
    any other id is a 404."""

    authentication_classes = [ApiKeyAuthentication, StaffSessionAuthentication]
    permission_classes = [WorkspacePermission]
    throttle_classes = [ApiKeyRateThrottle]
    parser_classes = [StrictJSONParser]
    renderer_classes = [JSONRenderer]
    workspace_path = "workspace"
    pagination_class: type[ApiCursorPagination] | None = ApiCursorPagination
    lookup_value_regex = ID_PATTERN
    perms: dict[str, str] = {}
    request: Request

    def base_queryset(self) -> QuerySet[Any]:
        raise NotImplementedError

    def get_queryset(self) -> QuerySet[Any]:
        ids = caller_of(self.request).ids(READ)
        return self.base_queryset().filter(**{f"{self.workspace_path}__in": ids})

    def workspace_for_create(self, perm: str, given: Any = None) -> Workspace:
        """The workspace a new object goes to: an API key's own; for a staff user the one
        given (or their only one) where they have `perm`."""
        caller = caller_of(self.request)
        allowed = caller.ids(perm)
        if caller.api_key is not None:
            if given not in (None, "", caller.api_key.workspace_id):
                raise validation_error({"workspace": "An API key works in its own workspace only."})
            return caller.api_key.workspace
        if given in (None, ""):
            if len(allowed) != 1:
                raise validation_error({"workspace": "Required: you belong to several workspaces."})
            given = next(iter(allowed))
        if given not in allowed:
            raise validation_error({"workspace": "No such workspace (or you may not add to it)."})
        return Workspace.objects.get(pk=given)

    def scoped_object(self, model_obj: Model) -> Model:
        self.check_object_permissions(self.request, model_obj)
        return model_obj
