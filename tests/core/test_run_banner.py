"""`make run`'s banner and `send_test_webhook`'s default address come from WEB_BIND; the
first admin's password is printed last, boxed, once (issue 11)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from django.core.management import call_command

from twilioflow.core.bind import bind_host_port, bind_url

ROOT = Path(__file__).resolve().parent.parent.parent


def serve_module():
    spec = importlib.util.spec_from_file_location("serve", ROOT / "scripts" / "serve.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("bind", "url"),
    [
        ("127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("0.0.0.0:8230", "http://127.0.0.1:8230"),
        (":9000", "http://127.0.0.1:9000"),
        ("[::]:8001", "http://[::1]:8001"),
        ("[::1]:8002", "http://[::1]:8002"),
        ("flow.local:80", "http://flow.local:80"),
    ],
)
def test_bind_url(bind, url):
    assert bind_url(bind) == url


def test_a_unix_socket_has_no_host_port():
    assert bind_host_port("unix:/tmp/tf.sock") is None


def test_the_banner_uses_web_bind_and_prints_the_password_last_boxed_once(tmp_path):
    serve = serve_module()
    secret = tmp_path / ".first-admin-password"
    secret.write_text("admin\ns3cret-pw\n")
    text = serve.banner("0.0.0.0:8231", password_file=secret)
    assert "http://127.0.0.1:8231/admin/" in text and "every interface" in text
    lines = text.splitlines()
    assert "password: s3cret-pw" in lines[-3] and lines[-1].startswith("+-") and lines[-1].endswith("-+")
    assert not secret.exists()
    assert "s3cret-pw" not in serve.banner("127.0.0.1:8000", password_file=secret)


def test_gunicorn_leaves_static_files_out_of_its_access_log():
    serve = serve_module()
    web = serve.commands()["web"]
    assert web[web.index("--logger-class") + 1] == "twilioflow.gunicorn_logging.QuietStaticLogger"

    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    from twilioflow.gunicorn_logging import QuietStaticLogger

    logged = []
    original = Logger.access
    Logger.access = lambda self, resp, req, environ, request_time: logged.append(environ["PATH_INFO"])
    try:
        logger = QuietStaticLogger(Config())
        for path in ("/static/admin/css/base.css", "/favicon.ico", "/admin/"):
            logger.access(None, None, {"PATH_INFO": path}, None)
    finally:
        Logger.access = original
    assert logged == ["/admin/"]


def test_ensure_admin_writes_a_generated_password_to_a_private_file(db, tmp_path, capsys):
    target = tmp_path / "pw"
    call_command("ensure_admin", "--password-file", str(target))
    out = capsys.readouterr().out
    user, password = target.read_text().split()
    assert user == "admin" and password not in out and "shown once the server is up" in out
    assert target.stat().st_mode & 0o777 == 0o600
