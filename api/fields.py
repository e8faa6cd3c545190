"""Serializer fields every resource shares: workspace-scoped ids that never reach the
database out of range, and redacted JSON."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.auth import READ, caller_of

MAX_ID = 2**63 - 1


class ScopedIdField(serializers.PrimaryKeyRelatedField):
    """The id of an object of the caller's workspaces (with `perm` there); anything else,
    another workspace's id included, is "does not exist" (no hint that it does)."""

    def __init__(self, *, perm: str = READ, **kwargs: Any) -> None:
        self.perm = perm
        super().__init__(**kwargs)

    def get_queryset(self) -> Any:
        queryset = super().get_queryset()
        request = self.context.get("request")
        if request is None or queryset is None:
            return queryset.none() if queryset is not None else None
        lookup = getattr(self, "workspace_lookup", "workspace")
        return queryset.filter(**{f"{lookup}__in": caller_of(request).ids(self.perm)})

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, bool) or not isinstance(data, (int, str)):
            self.fail("incorrect_type", data_type=type(data).__name__)
        try:
            number = int(data)
        except (TypeError, ValueError):
            self.fail("incorrect_type", data_type=type(data).__name__)
        if not 0 < number <= MAX_ID:
            self.fail("does_not_exist", pk_value=data)
        return super().to_internal_value(number)


@extend_schema_field(OpenApiTypes.OBJECT)
class JSONObjectField(serializers.JSONField):
    """A JSON object (not a list or a scalar)."""

    default_error_messages = {"not_object": "Expected a JSON object."}

    def to_internal_value(self, data: Any) -> Any:
        data = super().to_internal_value(data)
        if not isinstance(data, dict):
            self.fail("not_object")
        return data


class BoundedIntegerField(serializers.IntegerField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)
