"""Refuse to serve with placeholder secrets (healthchecks-style system checks)."""

from collections.abc import Sequence
from typing import Any

from cryptography.fernet import Fernet
from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register
from fernet_fields import hkdf


@register(Tags.security, deploy=False)
def check_secrets_configured(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    if settings.DEBUG:
        return problems
    if not settings.SECRET_KEY or settings.SECRET_KEY == settings.INSECURE_SECRET_KEY:
        problems.append(
            Error(
                "SECRET_KEY is not set.",
                hint="Set SECRET_KEY in the environment or .env (e.g. "
                "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`), "
                "or run `make run` once to generate local development secrets.",
                id="twilioflow.E001",
            )
        )
    keys = list(getattr(settings, "FERNET_KEYS", None) or [])
    if not keys or settings.INSECURE_FERNET_KEY in keys:
        problems.append(
            Error(
                "FERNET_KEYS is not set: Twilio credentials cannot be encrypted at rest.",
                hint="Set FERNET_KEYS to a comma-separated list (the first encrypts, all "
                "decrypt), e.g. `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`.",
                id="twilioflow.E002",
            )
        )
    else:
        for key in keys:
            try:
                Fernet(hkdf.derive_fernet_key(key))
            except Exception:
                problems.append(
                    Error("FERNET_KEYS contains a key that cannot be used.", id="twilioflow.E003")
                )
                break
    return problems
