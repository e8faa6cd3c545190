"""TwilioFlow settings: one module, driven by the environment (and an optional `.env` file).

Every variable is documented in the README's configuration table. Nothing here is a secret:
`SECRET_KEY` and `FERNET_KEYS` come from the environment or the gitignored `.env` that
`make run` generates; without them a system check refuses to start with DEBUG off.
"""

import os
from pathlib import Path

import django_stubs_ext
import environ

# `ModelAdmin[Connection]`, `ModelForm[Connection]`…: generic at runtime too, for the type checker.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
ENV_FILE = env.str("ENV_FILE", default=str(BASE_DIR / ".env"))
if Path(ENV_FILE).is_file():
    environ.Env.read_env(ENV_FILE, overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

# Placeholders keep `manage.py` importable on a bare checkout and in tests; the
# `twilioflow.E001`/`E002` checks refuse to run a non-DEBUG server that still uses them.
INSECURE_SECRET_KEY = "insecure-placeholder-set-SECRET_KEY"
INSECURE_FERNET_KEY = "insecure-placeholder-set-FERNET_KEYS"
SECRET_KEY = env.str("SECRET_KEY", default=INSECURE_SECRET_KEY)
# The first key encrypts; every key decrypts (rotate with `manage.py rotate_secrets`).
FERNET_KEYS = env.list("FERNET_KEYS", default=[INSECURE_FERNET_KEY])

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Public URL Twilio reaches us at (webhook signatures are computed over it).
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="").rstrip("/")
# Honour X-Forwarded-Proto/Host only behind a proxy that sets them; otherwise they are
# attacker-controlled and would let anyone choose the URL a signature is checked against.
TRUST_PROXY_HEADERS = env.bool("TRUST_PROXY_HEADERS", default=False)
if TRUST_PROXY_HEADERS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True
    USE_X_FORWARDED_PORT = True

# Twilio product hosts. Tests and CI point these at Prism or a local fake.
TWILIO_API_BASE = env.str("TWILIO_API_BASE", default="https://api.twilio.com").rstrip("/")
TWILIO_LOOKUPS_BASE = env.str("TWILIO_LOOKUPS_BASE", default="https://lookups.twilio.com").rstrip("/")
TWILIO_VERIFY_BASE = env.str("TWILIO_VERIFY_BASE", default="https://verify.twilio.com").rstrip("/")
TWILIO_CONVERSATIONS_BASE = env.str(
    "TWILIO_CONVERSATIONS_BASE", default="https://conversations.twilio.com"
).rstrip("/")
TWILIO_MESSAGING_BASE = env.str("TWILIO_MESSAGING_BASE", default="https://messaging.twilio.com").rstrip("/")
TWILIO_PRICING_BASE = env.str("TWILIO_PRICING_BASE", default="https://pricing.twilio.com").rstrip("/")
# (connect, read) seconds. A create that times out after sending has an unknown outcome,
# so the read timeout is generous rather than tight.
TWILIO_CONNECT_TIMEOUT = env.float("TWILIO_CONNECT_TIMEOUT", default=5.0)
TWILIO_READ_TIMEOUT = env.float("TWILIO_READ_TIMEOUT", default=30.0)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "rest_framework_api_key",
    "django_q",
    "django_htmx",
    "twilioflow.core",
    "workspaces",
    "workflows",
    "connections",
    "actions",
    "compliance",
    "triggers",
    "voice",
    "campaigns",
    "api",
    "staff",
]

MIDDLEWARE = [
    # First: everything below may call request.get_host(), which must see the proxy's
    # normalised X-Forwarded-* headers (TRUST_PROXY_HEADERS only).
    "twilioflow.core.middleware.ForwardedHeadersMiddleware",
    "twilioflow.core.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Admin pages show times in the workspace's zone (after the user is known).
    "workspaces.middleware.AdminTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "twilioflow.urls"
WSGI_APPLICATION = "twilioflow.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
# Embedded default: SQLite tuned for several concurrent writers (web + qcluster workers).
# WAL lets readers run beside the writer; IMMEDIATE takes the write lock at BEGIN so a
# read-then-write transaction waits on busy_timeout instead of failing with "database is
# locked"; synchronous=NORMAL is durable across application crashes under WAL.
# Persistent connections (CONN_MAX_AGE=None) measured ~6-10x the req/s of per-request ones.
SQLITE_PATH = env.str("SQLITE_PATH", default=str(BASE_DIR / "var" / "twilioflow.sqlite3"))
DATABASES = {
    "default": env.db_url(
        "DATABASE_URL",
        default=f"sqlite:///{SQLITE_PATH}",
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Django's backend, with a process's threads queueing for SQLite's one write lock in
    # Python instead of its busy handler's sleeps (twilioflow/core/sqlite/base.py).
    DATABASES["default"]["ENGINE"] = "twilioflow.core.sqlite"
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL;"
            "PRAGMA synchronous=NORMAL;"
            "PRAGMA busy_timeout=20000;"
            "PRAGMA foreign_keys=ON;"
        ),
    }
    DATABASES["default"]["CONN_MAX_AGE"] = None
    # Tests use a real file too (not shared-cache memory, whose table locks ignore the busy
    # timeout), so concurrency tests see what production sees. One file per test process.
    DATABASES["default"]["TEST"] = {"NAME": str(Path(SQLITE_PATH).parent / f"test-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and task queue ------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "twilioflow",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# django-q2's defaults (retry 60 s, no timeout, unlimited attempts, failures not acked) would
# re-run a task behind our back, and a re-run task could send an SMS twice. So:
# - `timeout` < `retry`: a task is killed before the broker would hand it to a second worker.
#   Tasks never wait long inside a worker (delays and backoff sleep in the DB), so 90 s
#   is ample for one step batch.
# - `max_attempts` 2: one redelivery after a crashed worker is fine (the engine reconciles
#   any step left "dispatching" before it sends again); more is a loop, and the sweeper
#   resumes anything still stuck.
# - `ack_failures`: a task that raised is done; the engine owns its own retries and backoff.
# - `save_limit` -1: django-q2 stores no successes (failures are always kept); Run/StepRun are
#   the audit. A positive limit makes every saved task lock and count the Success rows in a
#   transaction (~13 ms of CPU per run measured in the monitor, bench/end_to_end.py).
# - `catch_up` off: a schedule missed while the cluster was down runs once, not N times.
Q_CLUSTER = {
    # Clusters sharing a broker must share a name; separate installations on one Redis
    # must not (the name is the queue key).
    "name": env.str("Q_CLUSTER_NAME", default="twilioflow"),
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": 90,
    "retry": 120,
    "max_attempts": 2,
    "ack_failures": True,
    "save_limit": -1,
    "catch_up": False,
    "queue_limit": 50,
    # The ORM broker polls an empty queue this often (seconds): the wait a run can add to
    # its start on SQLite (0.5 s was the floor of the trigger → request latency there).
    # Redis blocks on its list instead, so this costs nothing with it.
    "poll": env.float("Q_POLL", default=0.1),
    # Tasks claimed per poll of the ORM broker (one SELECT and an UPDATE each time).
    "bulk": env.int("Q_BULK", default=5),
    # A worker is replaced after this many tasks (a new process rebuilds every cache).
    "recycle": env.int("Q_RECYCLE", default=5000),
    "label": "Task queue",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# A worker holds a run for this long per step; a lapsed lease means the worker died and the
# sweeper may resume the run (after reconciling any request that was in flight).
TWILIOFLOW_RUN_LEASE_SECONDS = env.int("RUN_LEASE_SECONDS", default=120)
# A campaign lane's lease beyond its slice (campaigns.services): a killed worker's lane is
# taken over by the minute tick once it lapses.
TWILIOFLOW_CAMPAIGN_LANE_LEASE_SECONDS = env.int("CAMPAIGN_LANE_LEASE_SECONDS", default=60)
TWILIOFLOW_SWEEP_MINUTES = env.int("SWEEP_MINUTES", default=1)

# --- Auth, i18n, static --------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.str("STATIC_ROOT", default=str(BASE_DIR / "var" / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

LOGIN_URL = "admin:login"

# --- Security ------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Exception pages (DEBUG) and error e-mails scrub secret-named variables and POST fields.
DEFAULT_EXCEPTION_REPORTER_FILTER = "twilioflow.core.redaction.SecretSafeExceptionReporterFilter"

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.BasicAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "twilioflow.core.api.exception_handler",
    # Per API key (or staff user): api/throttling.py. 429 answers carry Retry-After.
    "DEFAULT_THROTTLE_RATES": {"api": env.str("API_RATE", default="600/min")},
}
# `POST /api/v1/workflows/{id}/runs?wait=N` holds a web worker at most this long.
API_MAX_WAIT_SECONDS = env.int("API_MAX_WAIT_SECONDS", default=60)
# Run-end webhooks (api/notifications.py) go to public https URLs only (no SSRF into this
# network). Plain http, or private/local targets (a receiver on the LAN), only when allowed.
RUN_WEBHOOK_ALLOW_HTTP = env.bool("RUN_WEBHOOK_ALLOW_HTTP", default=False)
RUN_WEBHOOK_ALLOW_PRIVATE = env.bool("RUN_WEBHOOK_ALLOW_PRIVATE", default=False)
SPECTACULAR_SETTINGS = {
    "TITLE": "TwilioFlow API",
    "VERSION": "1.0.0",
    "DESCRIPTION": "Workflows, runs, connections, triggers, actions and consent of one workspace. "
    "Authenticate with a workspace API key: `Authorization: Api-Key <key>`.",
    # Swagger UI and Redoc from drf-spectacular-sidecar: the docs work with no internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "workflows.models.RunStatus",
        "ConnectionStatusEnum": "connections.models.ConnectionStatus",
        "CampaignStatusEnum": "campaigns.models.CampaignStatus",
        "RecipientStateEnum": "campaigns.models.RecipientState",
        "CallStateEnum": "voice.models.SessionState",
    },
    # Only the REST API: the Twilio webhook endpoints are not for API clients.
    "PREPROCESSING_HOOKS": ["api.schema.only_api_endpoints"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.add_error_responses",
    ],
}

# --- Logging -------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "twilioflow.core.logging.RequestIdFilter"},
        "redact_secrets": {"()": "twilioflow.core.logging.RedactSecretsFilter"},
    },
    "formatters": {
        "default": {
            "format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "default",
            # Handler-level filters run for records from every logger, children included.
            "filters": ["request_id", "redact_secrets"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "django_q": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        # django-q2 logs as "django-q": a line per task enqueued and per task processed at
        # INFO (inside the webhook's transaction, through the redaction filter). Runs are
        # audited in the database, so only its warnings and errors by default.
        "django-q": {
            "handlers": ["console"],
            "level": env.str("Q_LOG_LEVEL", default="WARNING"),
            "propagate": False,
        },
        # Security log lines (bad webhook signatures, auth failures): never with secrets.
        "twilioflow.security": {"level": "INFO"},
    },
}
