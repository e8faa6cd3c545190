"""Pickers: the account's own objects offered as choices for a field (`Field.picker`).

`picker_options(connection=…, picker="phone_numbers")` returns (value, label) pairs for a
datalist/dropdown. Each list is one Twilio read of at most 200 records (TaskJuice's picker
size), cached per connection and picker for five minutes; `refresh=True` reloads it.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable

from django.core.cache import cache

from connections.client import TwilioClient
from connections.models import Connection
from connections.services import client_for_connection, connection_exchanges_record
from twilioflow.core.errors import NOT_FOUND, TwilioFlowError

PICKER_LIMIT = 200
MESSAGES_LIMIT = 50
CACHE_SECONDS = 5 * 60

Options = list[tuple[str, str]]


def _phone_numbers(client: TwilioClient) -> Options:
    records = client.list_records(
        client.account_path("IncomingPhoneNumbers.json"),
        "incoming_phone_numbers",
        params={"PageSize": PICKER_LIMIT},
        limit=PICKER_LIMIT,
    )
    return [
        (r["phone_number"], _label(r.get("friendly_name"), r["phone_number"]))
        for r in records
        if r.get("phone_number")
    ]


def _services(product: str, path: str) -> Callable[[TwilioClient], Options]:
    def load(client: TwilioClient) -> Options:
        records = client.list_records(
            path,
            "services",
            product=product,
            params={"PageSize": PICKER_LIMIT},
            limit=PICKER_LIMIT,
        )
        return [(r["sid"], _label(r.get("friendly_name"), r["sid"])) for r in records if r.get("sid")]

    return load


def _messages(client: TwilioClient) -> Options:
    records = client.list_records(
        client.account_path("Messages.json"),
        "messages",
        params={"PageSize": MESSAGES_LIMIT},
        limit=MESSAGES_LIMIT,
    )
    options = []
    for r in records:
        if not r.get("sid"):
            continue
        when = _short_date(r.get("date_sent") or r.get("date_created"))
        body = " ".join((r.get("body") or "").split())[:40]
        label = f"{when} {r.get('to') or ''}: {body}".strip()
        options.append((r["sid"], label))
    return options


PICKERS: dict[str, Callable[[TwilioClient], Options]] = {
    "phone_numbers": _phone_numbers,
    "verify_services": _services("verify", "/v2/Services"),
    "messaging_services": _services("messaging", "/v1/Services"),
    "messages": _messages,
}


def picker_options(*, connection: Connection, picker: str, refresh: bool = False) -> Options:
    """(value, label) pairs for `picker` on this connection's account. Raises
    TwilioFlowError: NOT_FOUND for an unknown picker, or whatever Twilio answered."""
    try:
        load = PICKERS[picker]
    except KeyError:
        raise TwilioFlowError(NOT_FOUND, f"No picker {picker!r}; one of {', '.join(PICKERS)}.") from None
    key = cache_key(connection, picker)
    if not refresh:
        cached = cache.get(key)
        if cached is not None:
            return [tuple(option) for option in cached]
    client = client_for_connection(connection)
    try:
        options = load(client)
    finally:  # a read outside any run: kept in the connection's exchange log
        connection_exchanges_record(
            connection=connection, purpose=f"picker:{picker}", exchanges=client.exchanges
        )
    cache.set(key, options, CACHE_SECONDS)
    return options


def picker_forget(*, connection: Connection, picker: str | None = None) -> None:
    """Drop cached options (all pickers of the connection when `picker` is None)."""
    cache.delete_many([cache_key(connection, name) for name in ([picker] if picker else PICKERS)])


def cache_key(connection: Connection, picker: str) -> str:
    return f"twilioflow:picker:{connection.pk}:{picker}"


def _label(name: str | None, ident: str) -> str:
    name = (name or "").strip()
    return f"{name} ({ident})" if name and name != ident else ident


def _short_date(value: str | None) -> str:
    """RFC 2822 (2010 API) → `2023-08-24 05:01`; anything else as given."""
    if not value:
        return ""
    try:
        return email.utils.parsedate_to_datetime(value).strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return value
