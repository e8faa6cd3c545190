import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError


def check_ids():
    return {message.id for message in run_checks(include_deployment_checks=False)}


def test_placeholder_secrets_fail_loudly_with_debug_off(settings):
    settings.DEBUG = False
    settings.SECRET_KEY = settings.INSECURE_SECRET_KEY
    settings.FERNET_KEYS = [settings.INSECURE_FERNET_KEY]
    assert {"twilioflow.E001", "twilioflow.E002"} <= check_ids()
    with pytest.raises(SystemCheckError, match="FERNET_KEYS is not set"):
        call_command("check")


def test_missing_fernet_keys_fail(settings):
    settings.DEBUG = False
    settings.SECRET_KEY = "a-real-secret-key-" + "x" * 40
    settings.FERNET_KEYS = []
    ids = check_ids()
    assert "twilioflow.E002" in ids
    assert "twilioflow.E001" not in ids


def test_configured_secrets_pass(settings):
    settings.DEBUG = False
    settings.SECRET_KEY = "a-real-secret-key-" + "x" * 40
    settings.FERNET_KEYS = ["a-real-fernet-key"]
    assert not {"twilioflow.E001", "twilioflow.E002", "twilioflow.E003"} & check_ids()


def test_debug_mode_tolerates_placeholders(settings):
    settings.DEBUG = True
    settings.SECRET_KEY = settings.INSECURE_SECRET_KEY
    assert "twilioflow.E001" not in check_ids()
