"""The single place that speaks HTTP to Twilio.

Built on pooled `requests.Session`s, with Basic auth, one configurable base URL per product,
(connect, read) timeouts, Twilio's form encoding, error mapping to stable codes, an
in-process retry policy for what is known to be safe, pagination for both page styles, and
a redacted record of every request/response pair for the audit log.

Retrying is deliberately conservative: a 429 and a failed connect never reached Twilio and
are always safe; a 5xx, a read timeout or a dropped connection on a create may already have
sent the SMS, so those raise with `outcome_unknown=True` and the engine reconciles.

One module per concern; import the public names from here:

- `twilio_client`: `TwilioClient`, the request loop (send once, record, map, retry)
- `session`: pooled sessions, product base URLs, default timeouts
- `encoding`: Twilio's form encoding
- `errors`: HTTP status / transport failure -> `TwilioFlowError` with a stable code
- `retry`: `RetryPolicy` and `Retry-After`
- `paging`: both page styles (`next_page_uri`, `meta.next_page_url`)
- `exchange`: the redacted `Exchange` record of one request/response pair
- `response`: `TwilioResponse`, what a successful request returns
"""

from connections.client.encoding import encode_form
from connections.client.errors import error_from_exception, error_from_response
from connections.client.exchange import Exchange
from connections.client.paging import next_page_of
from connections.client.response import TwilioResponse
from connections.client.retry import NO_RETRY, RetryPolicy, parse_retry_after
from connections.client.session import IDEMPOTENT_METHODS, PRODUCT_BASE_SETTINGS, USER_AGENT
from connections.client.twilio_client import TwilioClient

__all__ = [
    "IDEMPOTENT_METHODS",
    "NO_RETRY",
    "PRODUCT_BASE_SETTINGS",
    "USER_AGENT",
    "Exchange",
    "RetryPolicy",
    "TwilioClient",
    "TwilioResponse",
    "encode_form",
    "error_from_exception",
    "error_from_response",
    "next_page_of",
    "parse_retry_after",
]
