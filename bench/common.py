"""What the benchmarks share: environments (SQLite or a fresh PostgreSQL `bench_h8*` database,
ORM or Redis broker), processes (fake Twilio, gunicorn, qcluster), interleaved repetitions
with the machine's load beside each figure, and the JSON under var/bench/.

Smoke mode (`BENCH_SMOKE=1`): tiny sizes, one repetition, results under var/bench/smoke/, so
CI can run every benchmark in seconds and they cannot rot. Smoke figures are not published.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
BIN = Path(PY).parent
SMOKE = os.environ.get("BENCH_SMOKE", "") not in ("", "0", "false")
REPS = 1 if SMOKE else int(os.environ.get("BENCH_REPS", "3"))
OUT = ROOT / "var" / "bench" / ("smoke" if SMOKE else "")
ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
_PORT_BASE = int(os.environ.get("BENCH_PORT_BASE", "8180"))
PORTS = iter(range(_PORT_BASE, _PORT_BASE + 20))


def load() -> float:
    return round(os.getloadavg()[0], 2)


def answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def postgres_available() -> bool:
    return answers(5432) and answers(6379)


def free_port() -> int:
    for port in PORTS:
        if not answers(port):
            return port
    raise RuntimeError("no free port in 8180-8199")


# --- environments ------------------------------------------------------------------------------
@contextlib.contextmanager
def environment(database: str = "sqlite", broker: str = "orm", **extra: str) -> Iterator[dict[str, str]]:
    """Environment variables for TwilioFlow processes on a fresh database."""
    tmp = Path(tempfile.mkdtemp(prefix="tf-bench-"))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TWILIO", "DATABASE_URL", "REDIS_URL", "SQLITE_PATH", "Q_", "DJANGO_"))
    }
    env.update(
        ENV_FILE="/nonexistent",
        DEBUG="false",
        SECRET_KEY="bench-" + "x" * 50,
        FERNET_KEYS="JQbFNqBd3tWzGSdvAMeSs1cmWl-sr9Hhg5XMAhRmeyE=",
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="twilioflow.settings",
        STATIC_ROOT=str(tmp / "static"),
        Q_CLUSTER_NAME=f"bench-h8-{secrets.token_hex(4)}",
        Q_WORKERS="2",
        PYTHONUNBUFFERED="1",
        TMPDIR_BENCH=str(tmp),
        **extra,
    )
    dbname = None
    if database == "postgres":
        dbname = f"bench_h8_{secrets.token_hex(4)}"
        _pg_admin(f'CREATE DATABASE "{dbname}"')
        env["DATABASE_URL"] = urlunsplit(urlsplit(PG_URL)._replace(path="/" + dbname))
    else:
        env["SQLITE_PATH"] = str(tmp / "db.sqlite3")
    if broker == "redis":
        env["REDIS_URL"] = REDIS_URL
    try:
        yield env
    finally:
        if dbname:
            _pg_admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{dbname}'")
            _pg_admin(f'DROP DATABASE IF EXISTS "{dbname}"')
        if broker == "redis":
            import redis

            client = redis.Redis.from_url(REDIS_URL)
            keys = list(client.scan_iter(match=f"*{env['Q_CLUSTER_NAME']}*"))
            if keys:
                client.delete(*keys)
            client.close()


def _pg_admin(statement: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL.replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute(statement)  # type: ignore[arg-type]


def django_setup(env: dict[str, str]) -> None:
    """Configure this process from `env` and set Django up (once per process)."""
    for key in [k for k in os.environ if k.startswith(("DATABASE_URL", "REDIS_URL", "SQLITE_PATH"))]:
        del os.environ[key]
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode:
        raise RuntimeError(f"manage.py {args[0]} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


# --- processes -----------------------------------------------------------------------------------
class Proc:
    def __init__(self, argv: list[str], env: dict[str, str], name: str) -> None:
        self.name = name
        self.log = Path(env.get("TMPDIR_BENCH", tempfile.gettempdir())) / f"{name}.log"
        self._log = self.log.open("wb")
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self._log.close()

    def tail(self, n: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


@contextlib.contextmanager
def fake_twilio(messages: int = 0) -> Iterator[str]:
    proc = subprocess.Popen(
        [PY, str(ROOT / "bench" / "fake.py"), "--messages", str(messages)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"fake Twilio did not start: {line!r}")
    try:
        yield f"http://127.0.0.1:{line.split()[1]}"
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def fake_get(url: str, path: str) -> Any:
    import urllib.request

    with urllib.request.urlopen(url + path, timeout=10) as response:
        return json.loads(response.read())


def fake_reset(url: str) -> None:
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(url + "/_reset", data=b"", method="POST"), timeout=10)


@contextlib.contextmanager
def gunicorn(
    env: dict[str, str], app: str, name: str, workers: int = 2, threads: int = 4
) -> Iterator[tuple[int, Proc]]:
    port = free_port()
    proc = Proc(
        [
            str(BIN / "gunicorn"),
            app,
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--log-level",
            "warning",
        ],
        env,
        name,
    )
    try:
        deadline = time.monotonic() + 30
        while not answers(port):
            if proc.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn {name} did not start:\n{proc.tail()}")
            time.sleep(0.1)
        yield port, proc
    finally:
        proc.stop()


@contextlib.contextmanager
def qcluster(env: dict[str, str], name: str, prefix: list[str] | None = None) -> Iterator[Proc]:
    proc = Proc([PY, *(prefix or ["manage.py"]), "qcluster"], env, name)
    try:
        yield proc
    finally:
        proc.stop()


def worker_cpu_seconds(master_pid: int) -> float:
    """user+system CPU of a gunicorn master's children (its workers)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == master_pid:
                total += (int(fields[11]) + int(fields[12])) / tick
    return total


# --- figures -------------------------------------------------------------------------------------
def interleave(
    measure_tf: Callable[[int], dict[str, Any]],
    measure_base: Callable[[int], dict[str, Any]] | None,
    reps: int = REPS,
) -> dict[str, Any]:
    """Alternate the two measurements (the baseline first on odd repetitions), each
    repetition recording the 1-minute load average beside it."""
    samples: dict[str, list[dict[str, Any]]] = {"twilioflow": [], "baseline": []}
    for rep in range(reps):
        order = [("baseline", measure_base), ("twilioflow", measure_tf)]
        if rep % 2:
            order.reverse()
        for side, measure in order:
            if measure is None:
                continue
            sample = measure(rep)
            sample["load"] = load()
            samples[side].append(sample)
            print(
                f"  rep {rep + 1}/{reps} {side:10s} "
                + " ".join(f"{k}={v}" for k, v in sample.items() if not isinstance(v, list | dict)),
                flush=True,
            )
    return samples


def median(samples: list[dict[str, Any]], key: str) -> Any:
    values = [s[key] for s in samples if s.get(key) is not None]
    return round(statistics.median(values), 3) if values else None


def conditions(database: str, broker: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "database": database,
        "broker": broker,
        "python": platform.python_version(),
        "smoke": SMOKE,
        **extra,
    }


def figure(
    name: str,
    unit: str,
    tf: Any,
    base: Any,
    *,
    higher_is_better: bool,
    goal: str = "",
    load: float | None = None,
    cond: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    ratio = None
    if isinstance(tf, int | float) and isinstance(base, int | float) and base:
        ratio = round(tf / base, 3)
    return {
        "figure": name,
        "unit": unit,
        "twilioflow": tf,
        "baseline": base,
        "ratio": ratio,
        "higher_is_better": higher_is_better,
        "goal": goal,
        "load": load,
        "conditions": cond or {},
        **extra,
    }


def write_result(
    bench: str, figures: list[dict[str, Any]], checks: dict[str, Any], samples: dict[str, Any]
) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{bench}.json"
    failed = [name for name, ok in checks.items() if ok is False]
    path.write_text(
        json.dumps(
            {
                "bench": bench,
                "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "git": _git_head(),
                "reps": REPS,
                "smoke": SMOKE,
                "figures": figures,
                "checks": checks,
                "failed_checks": failed,
                "samples": samples,
            },
            indent=2,
            default=str,
        )
    )
    for f in figures:
        print(
            f"{bench}: {f['figure']}: TwilioFlow {f['twilioflow']} {f['unit']} | baseline "
            f"{f['baseline']} | ratio {f['ratio']} | load {f['load']}"
        )
    print(f"{bench}: checks {checks}" + (f"  FAILED {failed}" if failed else ""))
    print(f"{bench}: wrote {path.relative_to(ROOT)}")
    if failed:
        sys.exit(1)
    return path


def _git_head() -> str:
    with contextlib.suppress(Exception):
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()
    return ""


def brokers() -> list[tuple[str, str]]:
    """(database, broker) legs: SQLite + ORM always, PostgreSQL + Redis when both answer."""
    legs = [("sqlite", "orm")]
    if postgres_available() and os.environ.get("BENCH_SKIP_POSTGRES", "") in ("", "0"):
        legs.append(("postgres", "redis"))
    return legs
