"""Run the web server and the django-q2 worker together; Ctrl-C stops both.

A tiny supervisor rather than a Procfile runner: the worker needs more than the usual five
seconds to finish its current task on shutdown, and a step interrupted mid-request is
exactly what we want to avoid (the engine recovers from it, but should rarely have to).
If either process dies, the other is stopped too, so `make run` never half-runs.

Once the web server answers, the banner says where (from `WEB_BIND`, the address gunicorn
really binds) and, last, boxed, the first admin's one-time password when `ensure_admin`
just generated it (`var/.first-admin-password`, read once and deleted). Gunicorn's access
log leaves out static files (`WEB_LOG_STATIC=true` keeps them).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
GRACE_SECONDS = 30
READY_SECONDS = 30
PASSWORD_FILE = ROOT / "var" / ".first-admin-password"

sys.path.insert(0, str(ROOT))
from twilioflow.core.bind import bind_host_port, bind_url, web_bind  # noqa: E402


def commands() -> dict[str, list[str]]:
    bind = web_bind()
    workers = os.environ.get("WEB_WORKERS", "2")
    return {
        "web": [
            str(BIN / "gunicorn"),
            "twilioflow.wsgi",
            "--bind",
            bind,
            "--workers",
            workers,
            "--threads",
            "4",
            "--access-logfile",
            "-",
            "--graceful-timeout",
            "20",
            "--logger-class",
            "twilioflow.gunicorn_logging.QuietStaticLogger",
        ],
        "worker": [sys.executable, "manage.py", "qcluster"],
    }


def wait_until_up(bind: str, processes: dict[str, subprocess.Popen], timeout: float = READY_SECONDS) -> bool:
    """True once something accepts connections on the bind address (False: gave up, or a
    process died first)."""
    target = bind_host_port(bind)
    if target is None:
        return True  # a unix socket: nothing to poll here
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes.values()):
            return False
        try:
            with socket.create_connection(target, timeout=0.5):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def boxed(lines: list[str]) -> str:
    width = max(len(line) for line in lines)
    rule = "+" + "-" * (width + 2) + "+"
    return "\n".join([rule, *(f"| {line.ljust(width)} |" for line in lines), rule])


def banner(bind: str, password_file: Path = PASSWORD_FILE) -> str:
    url = bind_url(bind)
    lines = [f"TwilioFlow is up: {url}/admin/  (web on {bind}, worker running; Ctrl-C stops both)"]
    host = bind[: bind.index("]") + 1] if bind.startswith("[") else bind.rsplit(":", 1)[0]
    if host in ("0.0.0.0", "", "[::]", "*"):  # noqa: S104  (reading the bind, not binding)
        lines.append("Listening on every interface: other machines reach it at this host's address.")
    secret = take_password(password_file)
    if secret:
        user, _, password = secret.partition("\n")
        lines.append(
            boxed(
                [
                    "First admin account (shown once; change it in the admin):",
                    f"  username: {user}",
                    f"  password: {password}",
                    f"  sign in:  {url}/admin/",
                ]
            )
        )
    return "\n".join(lines)


def take_password(path: Path) -> str:
    """The generated first-admin credentials, read once: the file is deleted after reading."""
    try:
        text = path.read_text().strip()
    except OSError:
        return ""
    with contextlib.suppress(OSError):
        path.unlink()
    return text


def main() -> int:
    processes = {
        name: subprocess.Popen(argv, cwd=ROOT, start_new_session=True)  # noqa: S603
        for name, argv in commands().items()
    }
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    bind = web_bind()
    if wait_until_up(bind, processes):
        print("\n" + banner(bind) + "\n", flush=True)
    while not stopping and all(p.poll() is None for p in processes.values()):
        time.sleep(0.2)
    for name, process in processes.items():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        elif not stopping:
            print(f"serve: {name} exited with {process.returncode}; stopping the rest.", file=sys.stderr)
    deadline = time.monotonic() + GRACE_SECONDS
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return 0 if stopping else 1


if __name__ == "__main__":
    sys.exit(main())
