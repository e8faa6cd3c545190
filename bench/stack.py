"""A running stack for the HTTP benchmarks: a fresh database, the fake Twilio, TwilioFlow's
gunicorn and the bare baseline's gunicorn, and (per measurement) the matching qcluster.

`Stack.side("twilioflow" | "baseline")` knows its webhook URL, how to sign a request and
how to count what was stored, run and sent."""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from bench import common

VALIDATOR = RequestValidator(common.AUTH_TOKEN)


@dataclass
class Side:
    name: str
    port: int
    path: str
    master_pid: int
    env: dict[str, str]
    manage_py: list[str] = field(default_factory=list)

    def sign(self, params: dict[str, str]) -> str:
        return VALIDATOR.compute_signature(f"http://127.0.0.1:{self.port}{self.path}", params)


def message_params(prefix: str, n: int, body: str | None = None) -> dict[str, str]:
    return {
        "MessageSid": f"SM{prefix}{n:0{32 - len(prefix)}x}",
        "AccountSid": common.ACCOUNT_SID,
        "From": "+14155550123",
        "To": "+15017122661",
        "Body": body if body is not None else f"bench {prefix} {n}",
        "NumMedia": "0",
    }


class Stack:
    def __init__(
        self, env: dict[str, str], fake_url: str | None, info: dict[str, Any], tf: Side, base: Side
    ) -> None:
        self.env, self.fake_url, self.info = env, fake_url, info
        self.sides = {"twilioflow": tf, "baseline": base}
        self._db: Any = None

    # counts, straight from the database with a plain DB-API connection (this process may
    # measure several legs; Django's settings could only be loaded once)
    def scalar(self, sql: str) -> Any:
        if self._db is None:
            if self.env.get("DATABASE_URL"):
                import psycopg

                self._db = psycopg.connect(
                    self.env["DATABASE_URL"].replace("postgres://", "postgresql://", 1), autocommit=True
                )
            else:
                import sqlite3

                self._db = sqlite3.connect(self.env["SQLITE_PATH"], timeout=30, isolation_level=None)
        return self._db.execute(sql).fetchone()[0]

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def stored(self, side: str) -> int:
        table = "triggers_triggerevent" if side == "twilioflow" else "baseline_hook"
        return int(self.scalar(f"SELECT COUNT(*) FROM {table}"))

    def failed_runs(self) -> int:
        return int(
            self.scalar(
                "SELECT COUNT(*) FROM workflows_run WHERE status NOT IN ('succeeded', 'pending', 'running')"
                " AND finished_at IS NOT NULL"
            )
        )

    def runs(self) -> int:
        return int(self.scalar("SELECT COUNT(*) FROM workflows_run"))

    def done(self, side: str) -> tuple[int, float | None]:
        """(finished units, time.time() of the last one): final runs / sent hooks."""
        if side == "twilioflow":
            count = self.scalar("SELECT COUNT(*) FROM workflows_run WHERE finished_at IS NOT NULL")
            last = self.scalar("SELECT MAX(finished_at) FROM workflows_run WHERE finished_at IS NOT NULL")
        else:
            count = self.scalar("SELECT COUNT(*) FROM baseline_hook WHERE done_at IS NOT NULL")
            last = self.scalar("SELECT MAX(done_at) FROM baseline_hook WHERE done_at IS NOT NULL")
        if isinstance(last, str):  # SQLite through a raw cursor
            from datetime import datetime

            last = datetime.fromisoformat(last)
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=UTC)
        return int(count), (last.timestamp() if last is not None else None)

    @contextlib.contextmanager
    def worker(self, side: str) -> Iterator[None]:
        s = self.sides[side]
        with common.qcluster(s.env, f"qcluster-{side}", s.manage_py or None) as proc:
            time.sleep(2.0)  # the cluster forks its workers and starts polling
            if proc.proc.poll() is not None:
                raise RuntimeError(f"qcluster {side} died:\n{proc.tail()}")
            yield

    def post(
        self,
        side: str,
        requests: list[tuple[dict[str, str], str]],
        concurrency: int = 8,
        spacing: float = 0.0,
        path: str | None = None,
    ) -> list[tuple[str, float, int]]:
        """Send (params, signature) pairs over `concurrency` keep-alive connections (to the
        side's path, or `path`: what the signatures were made for); returns (Body,
        time.time() answered, status) for each."""
        s = self.sides[side]
        target = path or s.path
        results: list[tuple[str, float, int]] = []
        lock = threading.Lock()
        queue = list(reversed(requests))

        def run() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
            while True:
                with lock:
                    if not queue:
                        break
                    params, signature = queue.pop()
                body = urlencode(params)
                conn.request(
                    "POST",
                    target,
                    body=body,
                    headers={
                        "Content-Type": "application/x-www-form-urlencoded",
                        "X-Twilio-Signature": signature,
                    },
                )
                response = conn.getresponse()
                response.read()
                with lock:
                    results.append((params["Body"], time.time(), response.status))
                if spacing:
                    time.sleep(spacing)
            conn.close()

        threads = [threading.Thread(target=run) for _ in range(concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results

    def fake_sends(self) -> list[tuple[float, str, str]]:
        assert self.fake_url
        return [tuple(x) for x in common.fake_get(self.fake_url, "/_sends")]

    def fake_stats(self) -> dict[str, int]:
        assert self.fake_url
        return common.fake_get(self.fake_url, "/_stats")


@contextlib.contextmanager
def stack(
    database: str = "sqlite",
    broker: str = "orm",
    *,
    fake: bool = True,
    web_workers: int = 2,
    threads: int = 4,
) -> Iterator[Stack]:
    with (
        common.environment(database, broker) as env,
        common.fake_twilio() if fake else contextlib.nullcontext(None) as fake_url,
    ):
        if fake_url:
            env["TWILIO_API_BASE"] = fake_url
        out = json.loads(_run(env, [common.PY, "bench/setup_tf.py"]).split("SETUP ", 1)[1])
        base_env = {
            **env,
            "DJANGO_SETTINGS_MODULE": "bench.baseline.settings",
            "PYTHONPATH": str(common.ROOT),
            "Q_CLUSTER_NAME": env["Q_CLUSTER_NAME"] + "-baseline",
        }
        _run(base_env, [common.PY, "-m", "django", "migrate", "--run-syncdb", "--verbosity", "0"])
        with (
            common.gunicorn(env, "twilioflow.wsgi", "web-twilioflow", web_workers, threads) as (
                tf_port,
                tf_proc,
            ),
            common.gunicorn(
                base_env, "bench.baseline.wsgi:application", "web-baseline", web_workers, threads
            ) as (base_port, base_proc),
        ):
            tf = Side(
                "twilioflow", tf_port, f"/hooks/twilio/{out['public_id']}/messages", tf_proc.proc.pid, env
            )
            base = Side("baseline", base_port, "/hook-q/x", base_proc.proc.pid, base_env, ["-m", "django"])
            st = Stack(env, fake_url, out, tf, base)
            try:
                yield st
            finally:
                st.close()


def _run(env: dict[str, str], argv: list[str]) -> str:
    import subprocess

    result = subprocess.run(argv, cwd=common.ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode:
        raise RuntimeError(f"{argv} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout
