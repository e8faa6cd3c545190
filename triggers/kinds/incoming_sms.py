from triggers.kinds.inbound_message import InboundMessage


class IncomingSms(InboundMessage):
    slug = "twilio/incoming-sms"
    title = "Incoming SMS/MMS"
    description = (
        "An SMS or MMS sent to one of the account's numbers or Messaging Services. The payload "
        "has Twilio's parameters (From, To, Body, NumMedia…), the media as a list of "
        "{url, content_type}, and `keyword`: the first word of the Body, upper-cased, without "
        'surrounding punctuation ("Stop." → "STOP").'
    )
    channel = "sms"
    sample = {
        "ToCountry": "US",
        "ToState": "AR",
        "SmsMessageSid": "SM4da0981b440e8b97690ffa4fdcac489f",
        "NumMedia": "0",
        "ToCity": "LITTLE ROCK",
        "FromZip": "94105",
        "SmsSid": "SM4da0981b440e8b97690ffa4fdcac489f",
        "FromState": "CA",
        "SmsStatus": "received",
        "FromCity": "SAN FRANCISCO",
        "Body": "Hours today?",
        "FromCountry": "US",
        "To": "+15017122661",
        "ToZip": "72201",
        "NumSegments": "1",
        "MessageSid": "SM4da0981b440e8b97690ffa4fdcac489f",
        "AccountSid": "ACedc0c98e309617f60508111b164becbc",
        "From": "+14155550123",
        "ApiVersion": "2010-04-01",
    }

    @classmethod
    def matches(cls, params):
        return not cls.is_whatsapp(params)
