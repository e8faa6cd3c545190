"""Removing secrets from anything we print, log or store.

Three layers, because each catches what the others cannot:
1. by *name*: a field/header/variable whose name says it is secret (token, secret, Code…);
2. by *shape*: `Authorization` header values, `user:pass@` in URLs, Twilio-token-like hex
   strings that are not SIDs;
3. by *value*: secrets this process has decrypted are remembered (`remember_secret`) and
   masked wherever they appear verbatim.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from types import FrameType
from typing import Any

from django.http import HttpRequest
from django.views.debug import SafeExceptionReporterFilter

MASK = "********"

# Names compared case-insensitively after removing "_" and "-".
SECRET_NAME_RE = re.compile(
    r"(token|secret|password|passwd|authorization|apikey|signature|cookie|sessionid|fernet|"
    r"^code$|^otp$|^pin$|customcode|^key$|privatekey)",
    re.IGNORECASE,
)

_SHAPES = [
    # Authorization: Basic xxx / Bearer xxx, in headers dumped as text
    (
        re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(basic|bearer)?\s*[A-Za-z0-9+/=._~-]+"),
        lambda m: f"{m.group(1)}{(m.group(2) + ' ') if m.group(2) else ''}{MASK}",
    ),
    # credentials inside URLs: https://user:pass@host
    (re.compile(r"(?i)(https?://[^\s:/@]+:)([^\s@/]+)(@)"), lambda m: f"{m.group(1)}{MASK}{m.group(3)}"),
    # key=value / "key": "value" pairs whose key names a secret
    (
        re.compile(
            r"(?i)([\"']?\b(?:auth_?token|api_?key_?secret|secret|password|fernet_?keys?)[\"']?\s*[:=]\s*[\"']?)"
            r"([^\s\"'&,}]+)"
        ),
        lambda m: f"{m.group(1)}{MASK}",
    ),
    # bare 32-hex Twilio auth tokens. Not SIDs (two capitals + 32 hex, caught by the first
    # lookbehind) and not django-q2's uuid-hex process names, which operators need.
    (re.compile(r"(?<![A-Za-z0-9])(?<!Process-)[0-9a-f]{32}(?![0-9A-Za-z])"), lambda m: MASK),
]

_known_secrets: set[str] = set()
_known_lock = threading.Lock()


def remember_secret(value: str | None) -> None:
    """Mask this exact value in every later log line of this process."""
    if value and len(value) >= 6:
        with _known_lock:
            _known_secrets.add(value)


# Names that match the pattern above but hold nothing secret (paging cursors).
NOT_SECRET_NAMES = frozenset({"pagetoken", "nextpagetoken", "previouspagetoken"})


def is_secret_name(name: str) -> bool:
    compact = name.replace("_", "").replace("-", "")
    return compact.lower() not in NOT_SECRET_NAMES and bool(SECRET_NAME_RE.search(compact))


def mask_secret(value: str | None, visible: int = 4) -> str:
    """`••••1234`: enough to tell two credentials apart, never enough to use one."""
    if not value:
        return ""
    tail = value[-visible:] if len(value) > visible * 2 else ""
    return "••••" + tail


def redact_text(text: str) -> str:
    if not text:
        return text
    with _known_lock:
        known = sorted(_known_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, repl in _SHAPES:
        text = pattern.sub(repl, text)
    return text


def redact_data(value: Any, extra_names: frozenset[str] = frozenset()) -> Any:
    """Deep-copy `value` with secret-named keys masked and strings scrubbed."""
    if isinstance(value, Mapping):
        return {
            key: MASK
            if (is_secret_name(str(key)) or str(key) in extra_names) and value[key] not in (None, "")
            else redact_data(value[key], extra_names)
            for key in value
        }
    if isinstance(value, list | tuple):
        return [redact_data(item, extra_names) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


class SecretSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    """Debug pages and error mails never show a secret, whatever DEBUG says.

    Django hides secret-looking *settings* and only the POST fields a view marks with
    `sensitive_post_parameters`; we also hide secret-named POST fields and frame locals,
    and scrub known secret values from every other variable.
    """

    hidden_settings = re.compile(
        r"API|TOKEN|KEY|SECRET|PASS|SIGNATURE|FERNET|DATABASE_URL|REDIS_URL", flags=re.I
    )

    def is_active(self, request: HttpRequest | None) -> bool:
        return True

    def get_post_parameters(self, request: HttpRequest | None) -> Any:
        params = super().get_post_parameters(request)
        if not params:
            return params
        cleansed = params.copy()
        for key in cleansed:
            if is_secret_name(key):
                cleansed[key] = self.cleansed_substitute
        return cleansed

    def cleanse_special_types(self, request: HttpRequest | None, value: Any) -> Any:
        value = super().cleanse_special_types(request, value)
        if isinstance(value, str):
            return redact_text(value)
        return value

    # The stubs promise ItemsView; Django only iterates the pairs, and a list is what we build.
    def get_traceback_frame_variables(  # type: ignore[override]
        self, request: HttpRequest | None, tb_frame: FrameType
    ) -> list[tuple[str, Any]]:
        cleansed = []
        for name, value in super().get_traceback_frame_variables(request, tb_frame):
            if is_secret_name(name):
                value = self.cleansed_substitute
            elif isinstance(value, str):
                value = redact_text(value)
            cleansed.append((name, value))
        return cleansed
