"""Run the web server and the django-q2 worker together; Ctrl-C stops both.

A tiny supervisor rather than a Procfile runner: the worker needs more than the usual five
seconds to finish its current task on shutdown, and a step interrupted mid-request is
exactly what we want to avoid (the engine recovers from it, but should rarely have to).
If either process dies, the other is stopped too, so `make run` never half-runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
GRACE_SECONDS = 30


def commands() -> dict[str, list[str]]:
    bind = os.environ.get("WEB_BIND", "127.0.0.1:8000")
    workers = os.environ.get("WEB_WORKERS", "2")
    return {
        "web": [str(BIN / "gunicorn"), "twilioflow.wsgi", "--bind", bind, "--workers", workers,
                "--threads", "4", "--access-logfile", "-", "--graceful-timeout", "20"],
        "worker": [sys.executable, "manage.py", "qcluster"],
    }


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
