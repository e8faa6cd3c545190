from typing import Any

from actions.base import Action, ActionContext, FieldErrors, pick, twilio_params
from actions.fields import Field

METHODS = ("GET", "POST")
SETTINGS = ("SmsUrl", "SmsMethod", "VoiceUrl", "VoiceMethod", "StatusCallback",
            "StatusCallbackMethod")


def _method(name: str, what: str) -> Field:
    return Field(name, "choice", label=f"{what} method", choices=METHODS,
                 help=f"HTTP method Twilio uses for the {what.lower()} URL.")


class ConfigurePhoneNumberWebhooks(Action):
    slug = "twilio/configure-phone-number-webhooks"
    title = "Configure phone number webhooks"
    description = (
        "Point one of the account's numbers at webhook URLs for incoming SMS, incoming calls "
        "and status callbacks. Settings left empty are not changed."
    )
    group = "Phone numbers"
    # Setting fixed values: repeating the update leaves the number in the same state.
    idempotent = True
    fields = (
        Field("phoneNumberSid", "sid", label="Phone number SID", required=True,
              sid_prefixes=("PN",), help="PN followed by 32 hexadecimal characters.",
              example="PN" + "a" * 32),
        Field("SmsUrl", "url", label="SMS webhook URL",
              help="Twilio requests this URL when the number receives a message."),
        _method("SmsMethod", "SMS"),
        Field("VoiceUrl", "url", label="Voice webhook URL",
              help="Twilio requests this URL when the number receives a call."),
        _method("VoiceMethod", "Voice"),
        Field("StatusCallback", "url", label="Status callback URL",
              help="Twilio sends call status changes for this number here."),
        _method("StatusCallbackMethod", "Status callback"),
    )
    output = ("sid", "phone_number", "friendly_name", "sms_url", "voice_url", "status_callback")

    def clean(self, data: dict[str, Any]) -> dict[str, Any]:
        if not any(data[name] for name in SETTINGS):
            raise FieldErrors({"__all__": "Nothing to change: give at least one of "
                               + ", ".join(SETTINGS) + "."})
        return data

    def run(self, ctx: ActionContext, inputs: dict[str, Any]) -> dict[str, Any]:
        response = ctx.client.post(
            ctx.client.account_path(f"IncomingPhoneNumbers/{inputs['phoneNumberSid']}.json"),
            data=twilio_params(inputs, SETTINGS),
            idempotent=True,
        )
        return pick(response.json(), self.output)
