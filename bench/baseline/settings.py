"""The bare Django baseline the benchmarks measure TwilioFlow against: one app, one model,
a view that checks Twilio's signature (twilio's RequestValidator) and does one INSERT, and
for the end-to-end figures a django-q2 task that sends one request to the fake Twilio and
records its SID. Same database settings as TwilioFlow (SQLite WAL + IMMEDIATE, or
DATABASE_URL), same broker (ORM, or REDIS_URL), same queue settings; no middleware beyond
what a bare project needs.
"""

import os
from pathlib import Path

import environ

env = environ.Env()
SECRET_KEY = "baseline-" + "x" * 50
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "bench.baseline.urls"
INSTALLED_APPS = ["django_q", "bench.baseline"]
MIDDLEWARE: list[str] = []
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
WSGI_APPLICATION = "bench.baseline.wsgi.application"

SQLITE_PATH = os.environ.get("SQLITE_PATH", "/tmp/baseline.sqlite3")
DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{SQLITE_PATH}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA busy_timeout=20000;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = None
else:
    DATABASES["default"]["CONN_MAX_AGE"] = 60

Q_CLUSTER = {
    "name": os.environ.get("Q_CLUSTER_NAME", "baseline"),
    "workers": int(os.environ.get("Q_WORKERS", "2")),
    "timeout": 90,
    "retry": 120,
    "max_attempts": 2,
    "ack_failures": True,
    "save_limit": -1,
    "catch_up": False,
    "queue_limit": 50,
    "poll": float(os.environ.get("Q_POLL", "0.1")),
    "bulk": int(os.environ.get("Q_BULK", "5")),
    "recycle": int(os.environ.get("Q_RECYCLE", "5000")),
    # It shares TwilioFlow's database in the benchmarks: never run TwilioFlow's schedules.
    "scheduler": False,
}
if os.environ.get("REDIS_URL"):
    Q_CLUSTER["redis"] = os.environ["REDIS_URL"]
else:
    Q_CLUSTER["orm"] = "default"
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
