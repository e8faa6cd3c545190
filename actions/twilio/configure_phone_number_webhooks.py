from typing import Any

from actions.base import Action, ActionContext, FieldErrors, pick, twilio_params
from actions.fields import Field

METHODS = ("GET", "POST")
SETTINGS = ("SmsUrl", "SmsMethod", "VoiceUrl", "VoiceMethod", "StatusCallback", "StatusCallbackMethod")
URL_SETTINGS = ("SmsUrl", "VoiceUrl", "StatusCallback")


def _method(name: str, what: str) -> Field:
    return Field(
        name,
        "choice",
        label=f"{what} method",
        choices=METHODS,
        help=f"HTTP method Twilio uses for the {what.lower()} URL.",
    )


class ConfigurePhoneNumberWebhooks(Action):
    slug = "twilio/configure-phone-number-webhooks"
    title = "Configure phone number webhooks"
    description = (
        "Point one of the account's numbers at webhook URLs for incoming SMS, incoming calls "
        "and status callbacks. Settings left empty are not changed; list a URL setting in "
        '"Clear" to remove it (sent as an empty value).'
    )
    group = "Phone numbers"
    # Setting fixed values: repeating the update leaves the number in the same state.
    idempotent = True
    fields = (
        Field(
            "phoneNumberSid",
            "sid",
            label="Phone number SID",
            required=True,
            sid_prefixes=("PN",),
            help="PN followed by 32 hexadecimal characters.",
            example="PN" + "a" * 32,
        ),
        Field(
            "SmsUrl",
            "url",
            label="SMS webhook URL",
            help="Twilio requests this URL when the number receives a message.",
        ),
        _method("SmsMethod", "SMS"),
        Field(
            "VoiceUrl",
            "url",
            label="Voice webhook URL",
            help="Twilio requests this URL when the number receives a call.",
        ),
        _method("VoiceMethod", "Voice"),
        Field(
            "StatusCallback",
            "url",
            label="Status callback URL",
            help="Twilio sends call status changes for this number here.",
        ),
        _method("StatusCallbackMethod", "Status callback"),
        Field(
            "clear",
            "list",
            label="Clear",
            help="URL settings to remove from the number (sent as an empty value): any of "
            + ", ".join(URL_SETTINGS)
            + ".",
            example=["StatusCallback"],
        ),
    )
    output = ("sid", "phone_number", "friendly_name", "sms_url", "voice_url", "status_callback")

    def clean(self, data: dict[str, Any]) -> dict[str, Any]:
        clear = data.get("clear") or []
        unknown = [name for name in clear if name not in URL_SETTINGS]
        if unknown:
            raise FieldErrors(
                {"clear": f"Not a URL setting: {', '.join(unknown)}; one of " + ", ".join(URL_SETTINGS) + "."}
            )
        both = [name for name in clear if data.get(name)]
        if both:
            raise FieldErrors(
                {"clear": f"{', '.join(both)} has a value and is to be cleared; give one or the other."}
            )
        if not any(data[name] for name in SETTINGS) and not clear:
            raise FieldErrors(
                {
                    "__all__": "Nothing to change: give at least one of "
                    + ", ".join(SETTINGS)
                    + ", or a setting to clear."
                }
            )
        return data

    def run(self, ctx: ActionContext, inputs: dict[str, Any]) -> dict[str, Any]:
        given = twilio_params(inputs, SETTINGS)
        clear = set(inputs.get("clear") or [])
        # In Twilio's order; an explicit empty value clears a URL (leaving it out keeps it).
        data = {
            name: ("" if name in clear else given[name])
            for name in SETTINGS
            if name in clear or name in given
        }
        response = ctx.client.post(
            ctx.client.account_path(f"IncomingPhoneNumbers/{inputs['phoneNumberSid']}.json"),
            data=data,
            idempotent=True,
        )
        return pick(response.json(), self.output)
