import re
from typing import Any

from actions.base import Action, ActionContext, FieldErrors
from actions.fields import Field
from actions.support.verify import SERVICE_SID, VERIFICATION_OUTPUT, VERIFY_TO, verify_post
from twilioflow.core.errors import TwilioFlowError
from twilioflow.core.redaction import MASK

CODE_PATTERN = re.compile(r"[A-Za-z0-9]{4,10}")


def _scrub(value: Any, secret: str) -> Any:
    """`value` with the code masked wherever it stands as a word of its own (deep). Only
    whole words: a 6-digit code also occurs inside SIDs, which must stay readable."""
    if isinstance(value, str):
        return re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", MASK, value)
    if isinstance(value, dict):
        return {key: _scrub(item, secret) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item, secret) for item in value]
    return value


class CheckVerification(Action):
    slug = "twilio/check-verification"
    title = "Check verification"
    description = (
        "Check the code a person entered against Twilio Verify. The output's `valid` is true "
        "and `status` approved when it matches. The code is never stored or logged."
    )
    group = "Verify"
    # Each check spends one of the verification's attempts, so it is never repeated blindly.
    idempotent = False
    fields = (
        SERVICE_SID,
        VERIFY_TO,
        Field(
            "Code",
            "string",
            label="Code",
            required=True,
            secret=True,
            max_length=10,
            help="The code the person received (4–10 letters or digits).",
            example="123456",
        ),
    )
    output = VERIFICATION_OUTPUT

    def clean(self, data: dict[str, Any]) -> dict[str, Any]:
        data["Code"] = data["Code"].strip()
        if not CODE_PATTERN.fullmatch(data["Code"]):
            # Never echo the value: it is a secret even when malformed.
            raise FieldErrors({"Code": "A verification code is 4 to 10 letters or digits."})
        return data

    def run(self, ctx: ActionContext, inputs: dict[str, Any]) -> dict[str, Any]:
        code = inputs["Code"]
        first = len(ctx.client.exchanges)
        try:
            return verify_post(
                ctx,
                inputs["serviceSid"],
                "VerificationCheck",
                {"To": inputs["To"], "Code": code},
                secret_fields=("Code",),
            )
        except TwilioFlowError as error:
            # The client masks the Code parameter by name; also mask the value wherever
            # Twilio might echo it (error text and details here, recorded bodies below).
            error.message = _scrub(error.message, code)
            error.details = _scrub(error.details, code)
            error.args = (error.message,)
            raise
        finally:
            for exchange in ctx.client.exchanges[first:]:
                exchange.response_body = _scrub(exchange.response_body, code)
                exchange.error = _scrub(exchange.error, code)
