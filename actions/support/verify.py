"""Fields and requests shared by the Verify actions."""

from __future__ import annotations

from typing import Any

from actions.base import ActionContext, pick
from actions.fields import Field

VERIFICATION_OUTPUT = ("sid", "status", "to", "channel", "valid", "date_created")

SERVICE_SID = Field(
    "serviceSid",
    "sid",
    label="Verify Service",
    required=True,
    sid_prefixes=("VA",),
    picker="verify_services",
    help="The Verify Service (VA…) that sends and checks the code.",
    example="VA" + "a" * 32,
)
VERIFY_TO = Field(
    "To",
    "address",
    label="To",
    required=True,
    help="Phone number (E.164 or national format) or, for the email channel, an e-mail address.",
    example="+15558675310",
)


def verify_post(
    ctx: ActionContext, service_sid: str, resource: str, data: dict[str, Any], **kwargs: Any
) -> dict[str, Any]:
    """POST `/v2/Services/{sid}/<resource>` on Verify; both resources create (idempotent=False):
    a repeated Verifications POST sends a second code, a repeated check spends an attempt."""
    response = ctx.client.post(
        f"/v2/Services/{service_sid}/{resource}",
        product="verify",
        data=data,
        idempotent=False,
        **kwargs,
    )
    return pick(response.json(), VERIFICATION_OUTPUT)
