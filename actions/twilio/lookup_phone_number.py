from typing import Any
from urllib.parse import quote

from actions.base import Action, ActionContext, FieldErrors, pick
from actions.fields import Field

# Lookup v2 data packages (the `Fields` query parameter).
LOOKUP_PACKAGES = (
    "validation",
    "caller_name",
    "sim_swap",
    "call_forwarding",
    "line_status",
    "line_type_intelligence",
    "identity_match",
    "reassigned_number",
    "sms_pumping_risk",
    "phone_number_quality_score",
    "pre_fill",
)


class LookupPhoneNumber(Action):
    slug = "twilio/lookup-phone-number"
    title = "Look up phone number"
    description = (
        "Validate and format a number with Lookup v2, optionally adding data packages such "
        "as line type or caller name (some are billed per request)."
    )
    group = "Phone numbers"
    idempotent = True
    fields = (
        Field(
            "phoneNumber",
            "phone",
            label="Phone number",
            required=True,
            help="E.164, or national format in the workspace's default country.",
            example="+14155552671",
        ),
        Field(
            "Fields",
            "list",
            label="Data packages",
            max_items=len(LOOKUP_PACKAGES),
            help="Comma-separated, any of: " + ", ".join(LOOKUP_PACKAGES) + ".",
            example=["line_type_intelligence", "caller_name"],
        ),
    )
    output = (
        "phone_number",
        "country_code",
        "national_format",
        "valid",
        "calling_country_code",
        "caller_name",
        "line_type_intelligence",
    )

    def clean(self, data: dict[str, Any]) -> dict[str, Any]:
        packages = [str(item).strip() for item in data["Fields"] or []]
        unknown = [item for item in packages if item not in LOOKUP_PACKAGES]
        if unknown:
            raise FieldErrors(
                {
                    "Fields": f"Unknown data package {', '.join(map(repr, unknown))}; one of: "
                    + ", ".join(LOOKUP_PACKAGES)
                    + ".",
                }
            )
        data["Fields"] = list(dict.fromkeys(packages))  # keep order, drop repeats
        return data

    def run(self, ctx: ActionContext, inputs: dict[str, Any]) -> dict[str, Any]:
        params = {"Fields": ",".join(inputs["Fields"])} if inputs["Fields"] else None
        response = ctx.client.get(
            f"/v2/PhoneNumbers/{quote(inputs['phoneNumber'], safe='')}",
            product="lookups",
            params=params,
        )
        return pick(response.json(), self.output)
