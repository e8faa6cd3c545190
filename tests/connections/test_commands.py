import base64
import os

import pytest
import responses
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection as db
from fernet_fields import hkdf

from connections.models import Connection, ConnectionStatus
from tests.conftest import (
    ACCOUNT_SID,
    API_KEY_SECRET,
    API_KEY_SID,
    AUTH_TOKEN,
    account_body,
    account_url,
)

OLD_KEY = base64.urlsafe_b64encode(b"o" * 32).decode()
NEW_KEY = base64.urlsafe_b64encode(b"n" * 32).decode()


def raw_secret(pk: int, column: str = "auth_token") -> bytes:
    with db.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM connections_connection WHERE id = %s", [pk])
        return bytes(cursor.fetchone()[0])


def decrypts_with(token: bytes, key: str) -> bool:
    try:
        Fernet(hkdf.derive_fernet_key(key)).decrypt(token)
    except Exception:
        return False
    return True


class TestRotateSecrets:
    def test_rotation_with_two_keys_is_complete_and_idempotent(self, settings, make_connection, capsys):
        settings.FERNET_KEYS = [OLD_KEY]
        first = make_connection(name="a")
        second = make_connection(
            name="b", kind="api_key", api_key_sid=API_KEY_SID, api_key_secret=API_KEY_SECRET
        )
        assert decrypts_with(raw_secret(first.pk), OLD_KEY)

        settings.FERNET_KEYS = [NEW_KEY, OLD_KEY]
        call_command("rotate_secrets")
        assert "rotated: 3, already current: 0, unreadable: 0" in capsys.readouterr().out
        for pk, column in [
            (first.pk, "auth_token"),
            (second.pk, "auth_token"),
            (second.pk, "api_key_secret"),
        ]:
            token = raw_secret(pk, column)
            assert decrypts_with(token, NEW_KEY)
            assert not decrypts_with(token, OLD_KEY)

        call_command("rotate_secrets")
        assert "rotated: 0, already current: 3, unreadable: 0" in capsys.readouterr().out

        settings.FERNET_KEYS = [NEW_KEY]  # the old key can now be dropped
        assert Connection.objects.get(pk=second.pk).api_key_secret == API_KEY_SECRET
        assert Connection.objects.get(pk=first.pk).auth_token == AUTH_TOKEN

    def test_a_secret_no_key_can_read_is_reported_not_destroyed(self, settings, make_connection, capsys):
        settings.FERNET_KEYS = [OLD_KEY]
        connection = make_connection()
        before = raw_secret(connection.pk)
        settings.FERNET_KEYS = [NEW_KEY]
        with pytest.raises(CommandError, match="could not be decrypted"):
            call_command("rotate_secrets")
        assert "unreadable: 1" in capsys.readouterr().out
        assert raw_secret(connection.pk) == before


class TestConnectionAdd:
    def test_from_env_creates_and_verifies(self, workspace, twilio, monkeypatch, capsys):
        monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
        twilio.add(responses.GET, account_url(), json=account_body())
        call_command(
            "connection_add",
            "--workspace",
            "acme",
            "--name",
            "main",
            "--account-sid",
            ACCOUNT_SID,
            "--from-env",
        )
        connection = Connection.objects.get()
        assert connection.auth_token == AUTH_TOKEN
        assert connection.status == ConnectionStatus.VERIFIED
        out = capsys.readouterr()
        assert AUTH_TOKEN not in out.out + out.err

    def test_prompts_without_echo(self, workspace, monkeypatch):
        prompts = []
        monkeypatch.setattr("getpass.getpass", lambda prompt: prompts.append(prompt) or AUTH_TOKEN)
        call_command(
            "connection_add",
            "--workspace",
            "acme",
            "--name",
            "main",
            "--account-sid",
            ACCOUNT_SID,
            "--no-verify",
        )
        assert prompts and "hidden" in prompts[0]
        assert Connection.objects.get().auth_token == AUTH_TOKEN

    def test_bad_input_names_the_field(self, workspace, monkeypatch):
        monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
        with pytest.raises(CommandError, match="account_sid"):
            call_command(
                "connection_add",
                "--workspace",
                "acme",
                "--name",
                "main",
                "--account-sid",
                "AC123",
                "--from-env",
                "--no-verify",
            )
        assert Connection.objects.count() == 0

    def test_missing_secret_is_an_error(self, workspace, monkeypatch):
        monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
        with pytest.raises(CommandError, match="Auth Token is required"):
            call_command(
                "connection_add",
                "--workspace",
                "acme",
                "--name",
                "main",
                "--account-sid",
                ACCOUNT_SID,
                "--from-env",
            )

    def test_unknown_workspace_is_explained(self, db, monkeypatch):
        monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
        with pytest.raises(CommandError, match="No workspace 'ghost'"):
            call_command(
                "connection_add",
                "--workspace",
                "ghost",
                "--name",
                "m",
                "--account-sid",
                ACCOUNT_SID,
                "--from-env",
            )


class TestConnectionVerify:
    def test_reports_each_and_fails_when_any_fails(self, make_connection, twilio, capsys):
        make_connection(name="good")
        make_connection(name="bad", account_sid="AC" + "9" * 32)
        twilio.add(responses.GET, account_url(), json=account_body())
        twilio.add(
            responses.GET,
            f"https://api.twilio.com/2010-04-01/Accounts/AC{'9' * 32}.json",
            status=401,
            json={"code": 20003, "message": "Authenticate"},
        )
        with pytest.raises(CommandError, match="1 connection"):
            call_command("connection_verify")
        out = capsys.readouterr()
        assert "ok  acme/good" in out.out
        assert "FAIL acme/bad: Reconnect" in out.err
        assert Connection.objects.get(name="bad").status == ConnectionStatus.AUTH_FAILED

    def test_named_connection_only(self, make_connection, twilio):
        make_connection(name="good")
        make_connection(name="other")
        twilio.add(responses.GET, account_url(), json=account_body())
        call_command("connection_verify", "good")
        assert len(twilio.calls) == 1

    def test_unknown_name(self, db):
        with pytest.raises(CommandError, match="NOT_FOUND"):
            call_command("connection_verify", "nope")


class TestEnsureAdmin:
    def test_creates_once_with_a_generated_password(self, db, django_user_model, capsys, monkeypatch):
        monkeypatch.delenv("ADMIN_PASSWORD", raising=False)
        call_command("ensure_admin")
        out = capsys.readouterr().out
        password = out.split("password: ")[1].split()[0]
        user = django_user_model.objects.get(username="admin")
        assert user.is_superuser and user.check_password(password)
        call_command("ensure_admin")
        assert "password" not in capsys.readouterr().out.split("exists")[0]

    def test_uses_admin_password(self, db, django_user_model, monkeypatch, capsys):
        monkeypatch.setenv("ADMIN_PASSWORD", "correct horse battery")
        call_command("ensure_admin")
        assert "correct horse" not in capsys.readouterr().out
        assert django_user_model.objects.get(username="admin").check_password("correct horse battery")


def test_env_file_generator_writes_once(tmp_path, monkeypatch):
    import subprocess
    import sys

    env_file = tmp_path / ".env"
    env = {**os.environ, "ENV_FILE": str(env_file)}
    env.pop("SECRET_KEY", None)
    env.pop("FERNET_KEYS", None)
    subprocess.run([sys.executable, "scripts/local_env.py"], env=env, check=True)
    first = env_file.read_text()
    subprocess.run([sys.executable, "scripts/local_env.py"], env=env, check=True)
    assert env_file.read_text() == first
    values = dict(line.split("=", 1) for line in first.splitlines() if "=" in line)
    assert len(values["SECRET_KEY"]) >= 50
    Fernet(values["FERNET_KEYS"].encode())  # a usable Fernet key
    assert oct(env_file.stat().st_mode)[-3:] == "600"
