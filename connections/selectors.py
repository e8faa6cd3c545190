from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from connections.models import Connection, ConnectionExchange, WebhookRejection, WebhookRejectionCount


def connection_get(*, ref: str, workspace_ids: Iterable[int] | None = None) -> Connection:
    """A connection by id, public id or name (names are unique per workspace)."""
    queryset: QuerySet[Connection] = Connection.objects.select_related("workspace")
    if workspace_ids is not None:
        queryset = queryset.filter(workspace_id__in=workspace_ids)
    lookup = Q(name=ref)
    if ref.isdigit():
        lookup |= Q(pk=int(ref))
    matches = list(queryset.filter(lookup)[:2])
    if not matches:
        try:
            return queryset.get(public_id=ref)
        except (Connection.DoesNotExist, ValidationError, ValueError):
            raise Connection.DoesNotExist(f"No connection {ref!r}.") from None
    if len(matches) > 1:
        raise Connection.MultipleObjectsReturned(f"Several connections are called {ref!r}; use its id.")
    return matches[0]


def connection_list(*, refs: list[str] | None = None) -> list[Connection]:
    """The connections named by `refs` (names, ids or public ids), or all of them."""
    if refs:
        return [connection_get(ref=ref) for ref in refs]
    return list(Connection.objects.select_related("workspace").order_by("workspace__name", "name"))


def connection_exchanges_recent(*, connection: Connection, limit: int = 50) -> list[ConnectionExchange]:
    """The connection's logged read-only requests (verify, numbers sync, pickers), newest first."""
    return list(ConnectionExchange.objects.filter(connection_id=connection.pk).order_by("-at", "-id")[:limit])


def webhook_rejections_recent(
    *, connection: Connection, limit: int = 10
) -> tuple[int, list[WebhookRejection]]:
    """How many webhooks to this connection were refused in all, and the latest few."""
    total = (
        WebhookRejectionCount.objects.filter(scope=f"connection:{connection.pk}")
        .values_list("count", flat=True)
        .first()
    ) or 0
    rows = list(WebhookRejection.objects.filter(connection_id=connection.pk).order_by("-at", "-id")[:limit])
    return total, rows


def webhook_rejections_unknown() -> WebhookRejectionCount | None:
    """Requests to webhook URLs naming no connection (counted globally), or None."""
    return WebhookRejectionCount.objects.filter(scope="unknown").first()


def connections_for_workspaces(*, workspace_ids: Iterable[int] | None) -> QuerySet[Connection]:
    """Connections of these workspaces (all when None), by workspace then name."""
    queryset = Connection.objects.select_related("workspace").order_by("workspace__name", "name")
    return queryset if workspace_ids is None else queryset.filter(workspace_id__in=list(workspace_ids))
