from triggers.kinds.base import MAX_MEDIA, first, present, to_count
from triggers.kinds.inbound_message import InboundMessage

# Sent only for some messages: button replies, replies quoting a message, locations,
# click-to-WhatsApp ad referrals, forwarded messages.
OPTIONAL = (
    "MessageType",
    "ButtonText",
    "ButtonPayload",
    "OriginalRepliedMessageSender",
    "OriginalRepliedMessageSid",
    "Latitude",
    "Longitude",
    "Address",
    "Label",
    "Forwarded",
    "FrequentlyForwarded",
    "ReferralBody",
    "ReferralHeadline",
    "ReferralSourceId",
    "ReferralSourceType",
    "ReferralSourceUrl",
    "ReferralMediaId",
    "ReferralMediaContentType",
    "ReferralMediaUrl",
    "ReferralCtwaClid",
)


class IncomingWhatsapp(InboundMessage):
    slug = "twilio/incoming-whatsapp"
    title = "Incoming WhatsApp message"
    description = (
        "A WhatsApp message to one of the account's WhatsApp senders. As an incoming SMS, plus "
        "ProfileName and WaId, and button replies (ButtonText, ButtonPayload), referrals and "
        "locations when Twilio sends them. From/To keep the whatsapp: prefix; from_number and "
        "to_number are the bare E.164 numbers."
    )
    channel = "whatsapp"
    optional_fields = ("ReferralNumMedia", *OPTIONAL, *InboundMessage.optional_fields)
    sample = {
        "SmsMessageSid": "SM1c07e045896e4b2f7b0947471a77e33b",
        "NumMedia": "0",
        "ProfileName": "Ada Lovelace",
        "MessageType": "text",
        "SmsSid": "SM1c07e045896e4b2f7b0947471a77e33b",
        "WaId": "14155550123",
        "SmsStatus": "received",
        "Body": "Is there a table for two at 8?",
        "To": "whatsapp:+14155238886",
        "NumSegments": "1",
        "ReferralNumMedia": "0",
        "MessageSid": "SM1c07e045896e4b2f7b0947471a77e33b",
        "AccountSid": "ACedc0c98e309617f60508111b164becbc",
        "From": "whatsapp:+14155550123",
        "ApiVersion": "2010-04-01",
    }

    @classmethod
    def matches(cls, params):
        return cls.is_whatsapp(params)

    @classmethod
    def parse(cls, params):
        return {
            **super().parse(params),
            "ProfileName": first(params, "ProfileName"),
            "WaId": first(params, "WaId"),
            **present(params, OPTIONAL),
            # A click-to-WhatsApp ad's media count, bounded like NumMedia.
            **(
                {"ReferralNumMedia": to_count(first(params, "ReferralNumMedia"), MAX_MEDIA)}
                if first(params, "ReferralNumMedia")
                else {}
            ),
        }
