"""Running one action outside or inside a workflow."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from actions.base import ActionContext
from actions.registry import action_get
from connections.client import Exchange, TwilioClient
from connections.models import Connection
from connections.services import client_for_connection
from twilioflow.core.errors import TwilioFlowError
from twilioflow.core.redaction import redact_data


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


def action_validate(
    *, slug: str, inputs: dict[str, Any], connection: Connection | None = None
) -> dict[str, Any]:
    action = action_get(slug)
    country = connection.workspace.default_country if connection is not None else None
    return action.validate(inputs, default_country=country)


def action_execute(
    *, slug: str, connection: Connection, inputs: dict[str, Any], client: TwilioClient | None = None
) -> ActionResult:
    """Validate (no request on bad input), then run. Errors come back, never escape."""
    try:
        action = action_get(slug)
    except TwilioFlowError as error:
        return ActionResult(output=None, error=error)
    client = client or client_for_connection(connection)
    ctx = ActionContext(
        client=client, connection=connection, default_country=connection.workspace.default_country
    )
    try:
        cleaned = action.validate(inputs, default_country=ctx.default_country)
        output = action.run(ctx, cleaned)
    except TwilioFlowError as error:
        return ActionResult(output=None, exchanges=list(client.exchanges), error=error)
    return ActionResult(output=output, exchanges=list(client.exchanges))
