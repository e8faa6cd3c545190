"""Encryption at rest for Twilio credentials (django-fernet-fields-v2 underneath).

The library derives a Fernet key per `FERNET_KEYS` entry and caches it on each field;
we add re-encryption under the primary key (`rotate_secrets`) and cache resets when the
setting changes (tests, and a process that rereads its configuration).
"""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.apps import apps
from django.conf import settings
from django.db.models import Model
from fernet_fields import EncryptedField, hkdf


def _fernets() -> list[Fernet]:
    use_hkdf = getattr(settings, "FERNET_USE_HKDF", True)
    return [Fernet(hkdf.derive_fernet_key(k) if use_hkdf else k) for k in settings.FERNET_KEYS]


def encrypted_fields(model: type[Model]) -> list[EncryptedField]:
    return [f for f in model._meta.concrete_fields if isinstance(f, EncryptedField)]


def reset_fernet_caches(*, setting: str = "FERNET_KEYS", **kwargs: Any) -> None:
    if setting not in ("FERNET_KEYS", "FERNET_USE_HKDF", "SECRET_KEY"):
        return
    for model in apps.get_models():
        for field in encrypted_fields(model):
            for attr in ("keys", "fernet_keys", "fernet"):
                field.__dict__.pop(attr, None)


def is_current(token: bytes) -> bool:
    """True when the primary (first) key can decrypt this ciphertext."""
    try:
        _fernets()[0].decrypt(token)
    except InvalidToken:
        return False
    return True


def rotate_token(token: bytes) -> bytes:
    """Re-encrypt under the primary key; raises InvalidToken if no configured key fits."""
    return MultiFernet(_fernets()).rotate(token)
