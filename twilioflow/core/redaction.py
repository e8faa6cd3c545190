"""Removing secrets from anything we print, log, store or show.

`redact_data` (structures) and `redact_text` (strings) are the one way out for every output,
run context, error, HTTP exchange, log line and command output. Layers, because each catches
what the others cannot:
1. by *name*: a field/header/variable whose name says it is secret (auth_token, secret,
   password…), in structures and in `name: value` / `name=value` text (JSON and form bodies);
2. by *value*: secrets this process has decrypted are remembered (`remember_secret`) and
   masked wherever they appear: verbatim, URL-encoded, JSON-escaped, and inside base64 (the
   `Basic base64(user:secret)` an upstream error may echo);
3. by *shape*: `Authorization`/`Basic`/`Bearer` credentials, `user:pass@` in URLs,
   Twilio-token-like hex strings that are not SIDs.
Redacting twice gives the same result as redacting once, so a safety net may re-apply it.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import html
import json
import re
import threading
import traceback
from collections.abc import Callable, Mapping
from types import FrameType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

from django.http import HttpRequest
from django.views.debug import SafeExceptionReporterFilter

if TYPE_CHECKING:
    from twilioflow.core.errors import TwilioFlowError

MASK = "********"

# Names compared case-insensitively after removing "_" and "-".
SECRET_NAME_RE = re.compile(
    r"(token|secret|password|passwd|authorization|apikey|signature|cookie|sessionid|fernet|"
    r"^otp$|^pin$|customcode|verificationcode|^key$|privatekey|^credential$)",
    re.IGNORECASE,
)
# Compared exactly. Twilio's Verify parameter is `Code` (PascalCase); every error object, ours
# and Twilio's, says `code` for a stable error code that operators need to read. So a key
# named code is a secret only as a Verify code input (or where an action declares it secret).
CASE_SENSITIVE_SECRET_NAMES = frozenset({"Code"})
# Names that match the pattern above but hold nothing secret (paging cursors).
NOT_SECRET_NAMES = frozenset({"pagetoken", "nextpagetoken", "previouspagetoken"})


@functools.lru_cache(maxsize=4096)  # field and header names: a small, fixed vocabulary
def is_secret_name(name: str) -> bool:
    if name in CASE_SENSITIVE_SECRET_NAMES:
        return True
    compact = name.replace("_", "").replace("-", "")
    return compact.lower() not in NOT_SECRET_NAMES and bool(SECRET_NAME_RE.search(compact))


def mask_secret(value: str | None, visible: int = 4) -> str:
    """`••••1234`: enough to tell two credentials apart, never enough to use one."""
    if not value:
        return ""
    tail = value[-visible:] if len(value) > visible * 2 else ""
    return "••••" + tail


# --- known secrets (by value) ----------------------------------------------------------------
_B64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_")
MIN_B64_CORE = 12  # shorter base64 fragments would match ordinary words


@dataclasses.dataclass
class _Known:
    texts: list[str] = dataclasses.field(default_factory=list)  # longest first
    b64_cores: list[str] = dataclasses.field(default_factory=list)
    secrets: set[str] = dataclasses.field(default_factory=set)
    remembered: set[tuple[str, str | None]] = dataclasses.field(default_factory=set)
    # One regex over all of the above: a string holding none of them (nearly every string)
    # skips the per-secret loops in one pass.
    detector: re.Pattern[str] | None = None


_known = _Known()
_known_lock = threading.Lock()


def _b64_cores(secret: bytes) -> set[str]:
    """The part of the base64 of any data containing `secret` that depends only on the
    secret: one per alignment (its offset mod 3) and alphabet. Finding one finds the secret
    inside `Basic base64(anyone:secret)`, a Bearer blob or a base64 body, whatever precedes it."""
    cores: set[str] = set()
    for offset in range(3):
        data = b"\0" * offset + secret
        first_group = 1 if offset else 0
        last_group = len(data) // 3  # groups made only of secret bytes end here
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            core = encode(data).decode("ascii")[4 * first_group : 4 * last_group]
            if len(core) >= MIN_B64_CORE:
                cores.add(core)
    return cores


def _text_forms(secret: str, username: str | None) -> set[str]:
    forms = {
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        html.escape(secret),
    }
    if username:
        pair = f"{username}:{secret}".encode()
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(pair).decode("ascii")
            forms.update({encoded, encoded.rstrip("=")})
    return {form for form in forms if len(form) >= 6}


def remember_secret(value: str | None, *, username: str | None = None) -> None:
    """Mask this value (and its encoded forms) in everything this process later redacts.
    `username` is whoever authenticates with it, for the exact `Basic` form."""
    if not value or len(value) < 6 or (value, username) in _known.remembered:
        return  # every client built for a connection remembers its secret again: once is enough
    with _known_lock:
        _known.remembered.add((value, username))
        texts = set(_known.texts) | _text_forms(value, username)
        cores = set(_known.b64_cores) | _b64_cores(value.encode())
        _known.texts = sorted(texts, key=len, reverse=True)
        _known.b64_cores = sorted(cores, key=len, reverse=True)
        _known.secrets.add(value)
        _known.detector = re.compile("|".join(re.escape(t) for t in [*_known.b64_cores, *_known.texts]))


def known_secrets() -> frozenset[str]:
    with _known_lock:
        return frozenset(_known.secrets)


def _mask_b64_runs(text: str, core: str) -> str:
    """Mask every base64 run containing `core`, the whole run: its edges hold secret bits too."""
    parts: list[str] = []
    position = 0
    while True:
        found = text.find(core, position)
        if found < 0:
            break
        start = found
        while start > position and text[start - 1] in _B64_CHARS:
            start -= 1
        end = found + len(core)
        while end < len(text) and text[end] in _B64_CHARS:
            end += 1
        while end < len(text) and text[end] == "=":
            end += 1
        parts.append(text[position:start])
        parts.append(MASK)
        position = end
    parts.append(text[position:])
    return "".join(parts)


def _decoded_b64(token: str) -> str | None:
    token = token.strip()
    padded = token + "=" * (-len(token) % 4)
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            raw = decode(padded)
        except (binascii.Error, ValueError):
            continue
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
    return None


# --- shapes ----------------------------------------------------------------------------------
# `Basic <base64>` anywhere (an echoed header, a curl line in an error body): masked when it
# decodes to user:password or to anything holding a known secret.
_BASIC_RE = re.compile(r"(?<![A-Za-z0-9])(basic)(\s+|%20|\+)([A-Za-z0-9+/_-]{6,}={0,2})", re.IGNORECASE)
_CREDENTIAL_PAIR_RE = re.compile(r"^[^\s:]{0,200}:\S.*$", re.DOTALL)
# `Bearer <token>`: a bearer token is a credential by definition.
_BEARER_RE = re.compile(r"(?<![A-Za-z0-9])(bearer)(\s+|%20|\+)([A-Za-z0-9._~+/-]{12,}=*)", re.IGNORECASE)
# `Authorization: <scheme> <credentials>` in headers dumped as text.
_AUTHORIZATION_RE = re.compile(
    r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(?:(basic|bearer|digest|token)\s+)?"
    r"(?!(?:basic|bearer|digest|token)\s)([A-Za-z0-9+/=._~-]+)"
)
# name/value pairs in JSON, form, query, header or repr text. Three forms, so that prose such
# as `field "vars.token": Undefined variable` is left alone:
_QUOTED = r"""(?P<esc>\\+)"(?:(?!(?P=esc)").)*(?P=esc)"|"(?:[^"\\\n]|\\.)*"|'[^'\n]*'"""
_PAIR_RES = [
    # `"auth_token": "…"`, `'secret': '…'`, also JSON escaped into a string (`\"secret\": \"…\"`):
    # a quoted name, then a quoted value (or a number).
    re.compile(
        r"""(?P<name>\\*["'][A-Za-z_][\w.-]{0,60}\\*["'])(?P<sep>\s*:\s*)"""
        rf"""(?P<value>{_QUOTED}|-?\d[\d.]*(?![\w.]))"""
    ),
    # `secret=…` in forms, queries and key=value log lines.
    re.compile(
        r"""(?P<name>(?:\\*["'])?[A-Za-z_][\w.-]{0,60}(?:\\*["'])?)(?P<sep>\s*=\s*)"""
        rf"""(?P<value>{_QUOTED}|[^\s"'&,;{{}}\[\]<>\\]+)"""
    ),
    # `X-Auth-Token: …` / `password: …` at the start of a line (headers, YAML): the rest of it.
    re.compile(r"(?m)^(?P<name>[ \t]*[A-Za-z_][\w-]{0,60})(?P<sep>[ \t]*:[ \t]*)(?P<value>\S[^\r\n]*)"),
]
_SCHEME_OR_MASK = re.compile(r"(?i)\b(?:basic|bearer|digest|token)\b|\*")
_NOT_A_SECRET_VALUE = frozenset({"null", "none", "true", "false", "basic", "bearer", MASK})
# credentials inside URLs: https://user:pass@host
_URL_CREDENTIALS_RE = re.compile(r"(?i)(https?://[^\s:/@]+:)([^\s@/]+)(@)")
# bare 32-hex Twilio auth tokens. Not SIDs (two capitals + 32 hex, caught by the first
# lookbehind) and not django-q2's uuid-hex process names, which operators need.
_HEX_TOKEN_RE = re.compile(r"(?<![A-Za-z0-9])(?<!Process-)[0-9a-f]{32}(?![0-9A-Za-z])")


def _basic_repl(match: re.Match[str]) -> str:
    decoded = _decoded_b64(match.group(3))
    if decoded is None:
        return str(match.group(0))
    secret_inside = any(secret in decoded for secret in known_secrets())
    if secret_inside or (_CREDENTIAL_PAIR_RE.match(decoded) and decoded.isprintable()):
        return f"{match.group(1)}{match.group(2)}{MASK}"
    return str(match.group(0))


def _authorization_repl(match: re.Match[str]) -> str:
    scheme = f"{match.group(2)} " if match.group(2) else ""
    return f"{match.group(1)}{scheme}{MASK}"


def _pair_repl(match: re.Match[str]) -> str:
    name = match.group("name").strip("\\\"'")
    value = match.group("value")
    if not is_secret_name(name):
        return str(match.group(0))
    inner = value.strip("\\\"'")
    if not inner or inner.lower() in _NOT_A_SECRET_VALUE or not _SCHEME_OR_MASK.sub("", inner).strip():
        return str(match.group(0))  # nothing left to hide: keeps redaction idempotent
    if match.groupdict().get("esc"):
        quote_mark = match.group("esc") + '"'
    elif value[0] in "\"'":
        quote_mark = value[0]
    else:
        quote_mark = ""
    return f"{match.group('name')}{match.group('sep')}{quote_mark}{MASK}{quote_mark}"


def redact_text(text: str) -> str:
    if not text or not isinstance(text, str):
        return text
    known = _known
    if known.detector is not None and known.detector.search(text):
        with _known_lock:
            cores, texts = known.b64_cores, known.texts
        for core in cores:
            if core in text:
                text = _mask_b64_runs(text, core)
        for secret in texts:
            if secret in text:
                text = text.replace(secret, MASK)
    # Each pattern runs only when the text holds the literal it cannot match without (most
    # values are SIDs, numbers, statuses and dates: issue 10's profile had ~90 strings per
    # engine step go through all eight patterns). The result is the same as running them all.
    lowered = text.casefold()  # as re.IGNORECASE folds (ſ, K)
    if "basic" in lowered:
        text = _BASIC_RE.sub(_basic_repl, text)
    if "bearer" in lowered:
        text = _BEARER_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    if "authorization" in lowered:
        text = _AUTHORIZATION_RE.sub(_authorization_repl, text)
    if ":" in text and ('"' in text or "'" in text):
        text = _PAIR_RES[0].sub(_pair_repl, text)
    if "=" in text:
        text = _PAIR_RES[1].sub(_pair_repl, text)
    if ":" in text:
        text = _PAIR_RES[2].sub(_pair_repl, text)
    if "@" in text and "://" in text:
        text = _URL_CREDENTIALS_RE.sub(lambda m: f"{m.group(1)}{MASK}{m.group(3)}", text)
    if len(text) >= 32:
        text = _HEX_TOKEN_RE.sub(MASK, text)
    return text


def redact_data(value: Any, extra_names: frozenset[str] | set[str] = frozenset()) -> Any:
    """Deep copy of `value` with secret-named keys masked and every string scrubbed.

    The one function for anything we store or show: step inputs and outputs, run context
    and results, errors, HTTP exchanges, command output. `extra_names` are keys an action
    declares secret (a Verify `Code`)."""
    if isinstance(value, Mapping):
        redacted = {}
        for key, item in value.items():
            name = str(key)
            secret = is_secret_name(name) or name in extra_names
            out_key = redact_text(key) if isinstance(key, str) else key
            if secret and item not in (None, "") and not _is_masked(item):
                redacted[out_key] = MASK
            else:
                redacted[out_key] = redact_data(item, extra_names)
        return redacted
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_data(item, extra_names) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def _is_masked(value: Any) -> bool:
    return isinstance(value, str) and value == MASK


def redact_error(error: TwilioFlowError) -> TwilioFlowError:
    """A copy of a TwilioFlowError whose message, fields and details carry no secret."""
    return dataclasses.replace(
        error,
        message=redact_text(error.message),
        more_info=redact_text(error.more_info) if error.more_info else error.more_info,
        fields=redact_data(error.fields),
        details=redact_data(error.details),
    )


class RedactedTaskError(Exception):
    """What a task queue sees instead of an exception that may carry a secret."""


def redacted_task(func: Callable[..., Any]) -> Callable[..., Any]:
    """For django-q2 task entry points: their results and failures are stored in its tables
    and shown in its admin, so both go through redaction."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return redact_data(func(*args, **kwargs))
        except Exception as exc:
            text = "".join(traceback.format_exception(exc))
            raise RedactedTaskError(redact_text(text)) from None

    return wrapper


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
