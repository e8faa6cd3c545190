"""One page of a 2010-API list, shared by the list actions: the paging fields and request.

The list actions return one page per run, like TaskJuice: the records (reduced to the
declared keys) and Twilio's relative `next_page_uri`, whose `PageToken` a later run can pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from actions.base import ActionContext, pick
from actions.fields import Field

PAGE_SIZE = Field(
    "PageSize",
    "integer",
    default=50,
    min_value=1,
    max_value=1000,
    label="Page size",
    help="Records per page (1–1000).",
)
PAGE_TOKEN = Field(
    "PageToken", "string", label="Page token", help="Opaque token from a previous page's next_page_uri."
)

DATETIME_HELP = "ISO 8601 date (2024-05-01) or date-time (2024-05-01T09:00:00Z), UTC."


def range_fields(name: str, label: str) -> tuple[Field, Field, Field]:
    """`<name>` (on), `<name>Before` (sent as `<name><`) and `<name>After` (`<name>>`)."""
    return (
        Field(name, "datetime", label=f"{label} on", help=DATETIME_HELP),
        Field(f"{name}Before", "datetime", label=f"{label} before", help=DATETIME_HELP),
        Field(f"{name}After", "datetime", label=f"{label} after", help=DATETIME_HELP),
    )


def range_params(inputs: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Twilio's three query names for a date filter: `X`, `X<` and `X>`."""
    wire = {name: name, f"{name}Before": f"{name}<", f"{name}After": f"{name}>"}
    return {twilio: inputs[ours] for ours, twilio in wire.items() if inputs.get(ours)}


def page_query(value: str | None) -> dict[str, str]:
    """`PageToken` (and `Page`, when known) from a bare token or a pasted `next_page_uri`."""
    if not value:
        return {}
    if "PageToken=" not in value:
        return {"PageToken": value}
    query = parse_qs(urlsplit(value).query)
    return {name: query[name][0] for name in ("Page", "PageToken") if query.get(name)}


def list_page(
    ctx: ActionContext,
    resource: str,
    key: str,
    record_keys: Iterable[str],
    params: Mapping[str, Any],
) -> dict[str, Any]:
    """GET one page of `Accounts/{sid}/<resource>` and map each record to `record_keys`."""
    query = {name: value for name, value in params.items() if value not in (None, "", [])}
    query.update(page_query(query.pop("PageToken", None)))
    response = ctx.client.get(ctx.client.account_path(resource), params=query)
    body = response.json() or {}
    keys = tuple(record_keys)
    return {
        key: [pick(record, keys) for record in body.get(key) or []],
        "next_page_uri": body.get("next_page_uri"),
    }
