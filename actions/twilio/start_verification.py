from typing import Any

from actions.base import Action, ActionContext, FieldErrors
from actions.fields import Field
from actions.support.verify import SERVICE_SID, VERIFICATION_OUTPUT, VERIFY_TO, verify_post

CHANNELS = ("sms", "call", "email", "whatsapp")


class StartVerification(Action):
    slug = "twilio/start-verification"
    title = "Start verification"
    description = (
        "Send a one-time code with Twilio Verify by SMS, voice call, e-mail or WhatsApp. "
        "Check it afterwards with Check verification."
    )
    group = "Verify"
    idempotent = False
    fields = (
        SERVICE_SID,
        VERIFY_TO,
        Field(
            "Channel",
            "choice",
            label="Channel",
            required=True,
            choices=CHANNELS,
            help="How the code is delivered. email needs an e-mail address in To (and "
            "an e-mail integration on the service).",
            example="sms",
        ),
    )
    output = VERIFICATION_OUTPUT

    def clean(self, data: dict[str, Any]) -> dict[str, Any]:
        is_email = "@" in data["To"]
        if data["Channel"] == "email" and not is_email:
            raise FieldErrors({"To": "The email channel sends to an e-mail address."})
        if data["Channel"] != "email" and is_email:
            raise FieldErrors(
                {
                    "To": f"The {data['Channel']} channel needs a phone number; "
                    "an e-mail address only works with the email channel."
                }
            )
        return data

    def run(self, ctx: ActionContext, inputs: dict[str, Any]) -> dict[str, Any]:
        return verify_post(
            ctx, inputs["serviceSid"], "Verifications", {"To": inputs["To"], "Channel": inputs["Channel"]}
        )
