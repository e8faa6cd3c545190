"""Executing an action: the one place that builds its client and `ActionContext`.

`action_call` is used by the engine's action step (run and reconcile) and by
`action_execute` (pickers' callers, tests); `action_dry_run` shows the request without
sending it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from actions.base import Action, ActionContext
from actions.registry import action_get
from connections.client import Exchange, TwilioClient, encode_form
from connections.models import Connection
from connections.services import client_for_connection
from twilioflow.core.errors import TwilioFlowError
from twilioflow.core.redaction import MASK, is_secret_name, redact_data, redact_text


@dataclass
class ActionResult:
    output: dict[str, Any] | None
    exchanges: list[Exchange] = field(default_factory=list)
    error: TwilioFlowError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    # What may be printed or shown. `output` itself stays as Twilio sent it for callers that
    # act on it (restoring previous webhooks); anything a person reads goes through these.
    def redacted_output(self) -> Any:
        return redact_data(self.output)

    def redacted_error(self) -> dict[str, Any] | None:
        return redact_data(self.error.as_dict()) if self.error is not None else None

    def redacted_exchanges(self) -> list[dict[str, Any]]:
        exchanges: list[dict[str, Any]] = redact_data([exchange.as_dict() for exchange in self.exchanges])
        return exchanges


@dataclass
class ActionCall:
    """One action on one connection, with its client and context built once."""

    action: Action
    ctx: ActionContext

    @property
    def client(self) -> TwilioClient:
        return self.ctx.client

    @property
    def exchanges(self) -> list[Exchange]:
        return self.ctx.client.exchanges

    def validate(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return self.action.validate(inputs, default_country=self.ctx.default_country)

    def run(self, cleaned: dict[str, Any]) -> dict[str, Any]:
        return self.action.run(self.ctx, cleaned)

    def reconcile(self, cleaned: dict[str, Any], *, since: datetime) -> dict[str, Any] | None:
        """The record an interrupted create left at Twilio, if this action can find it."""
        if not self.action.reconcilable:
            return None
        return self.action.reconcile(self.ctx, cleaned, since=since)


def action_call(
    *,
    slug: str,
    connection: Connection,
    default_country: str | None = None,
    client: TwilioClient | None = None,
) -> ActionCall:
    action = action_get(slug)
    if default_country is None:
        default_country = connection.workspace.default_country
    client = client or client_for_connection(connection)
    return ActionCall(
        action=action,
        ctx=ActionContext(client=client, connection=connection, default_country=default_country),
    )


def action_validate(
    *, slug: str, inputs: dict[str, Any], connection: Connection | None = None
) -> dict[str, Any]:
    action = action_get(slug)
    country = connection.workspace.default_country if connection is not None else None
    return action.validate(inputs, default_country=country)


def action_execute(
    *, slug: str, connection: Connection, inputs: dict[str, Any], client: TwilioClient | None = None
) -> ActionResult:
    """Validate (no request on bad input), then run, outside any run (no audit record: the
    operator's `run_action` goes through `workflows.services.action_run_adhoc`). Errors come
    back, never escape."""
    try:
        call = action_call(slug=slug, connection=connection, client=client)
    except TwilioFlowError as error:
        return ActionResult(output=None, error=error)
    try:
        output = call.run(call.validate(inputs))
    except TwilioFlowError as error:
        return ActionResult(output=None, exchanges=list(call.exchanges), error=error)
    return ActionResult(output=output, exchanges=list(call.exchanges))


# --- dry run ---------------------------------------------------------------------------------
class _WouldSend(Exception):
    def __init__(self, request: dict[str, Any]) -> None:
        super().__init__("dry run")
        self.request = request


class _DryRunClient(TwilioClient):
    """Builds the first request exactly as the real client would, then stops before sending."""

    secret_names: frozenset[str] = frozenset()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        secret = frozenset(kwargs.get("secret_fields") or ()) | self.secret_names

        def masked(pairs: list[tuple[str, str]]) -> list[list[str]]:
            hidden = {k for k, _ in pairs if k in secret or is_secret_name(k)}
            return [[k, MASK if k in hidden and v else redact_text(v)] for k, v in pairs]

        request: dict[str, Any] = {
            "method": method.upper(),
            "url": redact_text(self.url(path, kwargs.get("product", "api"))),
        }
        if kwargs.get("params"):
            request["query"] = masked(encode_form(kwargs["params"]))
        if kwargs.get("data") is not None:
            request["form"] = masked(encode_form(kwargs["data"]))
        if kwargs.get("json_body") is not None:
            request["json"] = redact_data(kwargs["json_body"], secret)
        if kwargs.get("files"):
            request["files"] = sorted(kwargs["files"])
        raise _WouldSend(request)


def action_dry_run(*, slug: str, connection: Connection, inputs: dict[str, Any]) -> dict[str, Any]:
    """Validate, then return the (first) request the action would send; nothing is sent.
    Raises VALIDATION_ERROR (or NOT_FOUND) like a real run would."""
    client = _DryRunClient(account_sid=connection.account_sid, username="", password="")
    call = action_call(slug=slug, connection=connection, client=client)
    client.secret_names = call.action.secret_fields()
    cleaned = call.validate(inputs)
    try:
        call.run(cleaned)
    except _WouldSend as would:
        return would.request
    return {"method": None, "note": "This action sends no request for these inputs."}
