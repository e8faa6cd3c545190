"""Where requests go and how: the product base URLs and default timeouts (from settings),
and the pool of `requests.Session`s (one per connection, so keep-alive survives between
steps; never an ambient proxy)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

from twilioflow.core import errors
from twilioflow.core.errors import TwilioFlowError

PRODUCT_BASE_SETTINGS = {
    "api": "TWILIO_API_BASE",
    "lookups": "TWILIO_LOOKUPS_BASE",
    "verify": "TWILIO_VERIFY_BASE",
    "conversations": "TWILIO_CONVERSATIONS_BASE",
    "messaging": "TWILIO_MESSAGING_BASE",
    "pricing": "TWILIO_PRICING_BASE",
}
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
USER_AGENT = "TwilioFlow/0.1 (+requests)"


def base_url(product: str) -> str:
    try:
        setting = PRODUCT_BASE_SETTINGS[product]
    except KeyError:
        raise TwilioFlowError(
            errors.CONFIGURATION_ERROR,
            f"Unknown Twilio product {product!r}; one of {', '.join(PRODUCT_BASE_SETTINGS)}.",
        ) from None
    value: str = getattr(settings, setting)
    return value.rstrip("/")


def default_timeout() -> tuple[float, float]:
    """(connect, read) seconds from settings."""
    return (settings.TWILIO_CONNECT_TIMEOUT, settings.TWILIO_READ_TIMEOUT)


_POOL_SIZE = 64
_sessions: OrderedDict[Hashable, requests.Session] = OrderedDict()
_sessions_lock = threading.Lock()


def session_for(key: Hashable) -> requests.Session:
    """One pooled session per connection, so keep-alive survives between steps."""
    with _sessions_lock:
        session = _sessions.get(key)
        if session is not None:
            _sessions.move_to_end(key)
            return session
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers["User-Agent"] = USER_AGENT
        session.trust_env = False  # never route credentials through an ambient proxy
        _sessions[key] = session
        while len(_sessions) > _POOL_SIZE:
            _, old = _sessions.popitem(last=False)
            old.close()
        return session
