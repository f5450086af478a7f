"""Settings for interviewsvc, read from the environment through one ``env`` object.

Every variable is documented in ``.env.example``. Defaults are safe for a local checkout
(SQLite, in-memory channel layer); nothing starts without a SECRET_KEY, and with DEBUG off
the security settings default to their production values (docs/operations.md, "Security").

Size: one module, as Django expects of settings.
"""

import ipaddress
import os
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from interviewsvc.jwt_keys import asymmetric_jwt_keys
from interviewsvc.logging import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent


class _SetVariables(Mapping):
    """``os.environ`` without its empty variables: an empty value means "the default" for every
    setting, so ``.env.example`` (most values empty) works when copied to ``.env`` as is."""

    def __getitem__(self, name: str) -> str:
        value = os.environ[name]
        if value == "":
            raise KeyError(name)
        return value

    def __iter__(self) -> Iterator[str]:
        return (name for name, value in os.environ.items() if value != "")

    def __len__(self) -> int:
        return sum(1 for _ in self)


env = environ.Env()
env.ENVIRON = _SetVariables()  # reads only; read_env below still writes to os.environ
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

# Signs sessions and, unless JWT_SIGNING_KEY is set, the API's tokens: required with DEBUG on
# too (a public development key would let anyone mint tokens). ``./dev run`` writes a random one
# into .env the first time.
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY must be set (in the environment or .env). `./dev run` generates one into .env; "
        "elsewhere use: python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )

# The same list as .env.example (the test settings add the test client's "testserver").
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_EXPOSE_HEADERS = ["X-Request-ID", "Retry-After"]

INSTALLED_APPS = [
    "daphne",
    # django.contrib.admin, with every admin page's query string bounded (interviewsvc/admin_site.py).
    "interviewsvc.apps.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "csp",
    "axes",
    "accounts",
    "interviews",
]

MIDDLEWARE = [
    "interviewsvc.middleware.RequestIdMiddleware",
    "interviewsvc.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as axes asks: turns a login refused during a lockout into the 429 page/envelope.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "interviewsvc.urls"
ASGI_APPLICATION = "interviewsvc.asgi.application"
WSGI_APPLICATION = None

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
                "csp.context_processors.nonce",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# SQLite by default; PostgreSQL through DATABASE_URL. Under ASGI every request may run in a
# different thread, so persistent connections are off (CONN_MAX_AGE=0) and PostgreSQL uses
# psycopg's connection pool instead.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
_db = DATABASES["default"]
_db["CONN_MAX_AGE"] = 0
_db.setdefault("OPTIONS", {})
if _db["ENGINE"] == "django.db.backends.postgresql":
    _db["ENGINE"] = "django.db.backends.postgresql"
    if env.bool("DATABASE_POOL", default=True):
        _db["OPTIONS"]["pool"] = {
            "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=2),
            "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=20),
            "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
        }
    _db["OPTIONS"].setdefault("connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5))
elif _db["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes SQLite's write lock at BEGIN, so two writers never read the same
    # "last sequence number" (SQLite ignores SELECT ... FOR UPDATE).
    _db["OPTIONS"].update({"transaction_mode": "IMMEDIATE", "timeout": 20})
    _db["OPTIONS"]["init_command"] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
if env.str("TEST_DATABASE_NAME", default=""):
    _db["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# django-axes first: it refuses a locked-out login before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Channels -------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # Redis pub/sub: one PUBLISH per event (interviewsvc/channel_layer.py).
            "BACKEND": "interviewsvc.channel_layer.ResilientRedisPubSubChannelLayer",
            "CONFIG": {
                # How long one Redis command of the layer may wait before the connection
                # counts as lost (the layer then reconnects and sockets catch up).
                "hosts": [{"address": REDIS_URL, "socket_timeout": env.float("CHANNELS_SOCKET_TIMEOUT", default=15.0)}],
                "prefix": env.str("CHANNELS_PREFIX", default="interviewsvc"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- I18N, static ---------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# The ZIPs of export jobs (docs/exports.md, "Export jobs"): files under EXPORT_FILES_DIR, or an
# S3-compatible bucket (django-storages) when EXPORT_S3_BUCKET is set. Never served by URL:
# downloads go through the API's permission check.
EXPORT_FILES_DIR = env.str("EXPORT_FILES_DIR", default=str(BASE_DIR / "var" / "exports"))
EXPORT_S3_BUCKET = env.str("EXPORT_S3_BUCKET", default="")
if EXPORT_S3_BUCKET:
    from boto3.s3.transfer import TransferConfig

    STORAGES["exports"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": EXPORT_S3_BUCKET,
            # Credentials come from boto3's usual chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
            # an instance role ...), never from here.
            "endpoint_url": env.str("EXPORT_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("EXPORT_S3_REGION", default="") or None,
            "location": env.str("EXPORT_S3_PREFIX", default="exports"),
            "default_acl": None,
            "file_overwrite": True,
            # The ZIP is read from its generator in the task's own thread (its database
            # connection and cursor), uploaded in 8 MB parts: at most one part in memory.
            "transfer_config": TransferConfig(use_threads=False, multipart_chunksize=8 * 2**20),
        },
    }
else:
    STORAGES["exports"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": EXPORT_FILES_DIR,
            "base_url": None,
            "allow_overwrite": True,
            # Transcripts: readable by the service's user only.
            "file_permissions_mode": 0o600,
            "directory_permissions_mode": 0o700,
        },
    }
LOGIN_URL = "admin:login"

# --- Client address and logins (docs/operations.md, "Security") ----------------------------
# Proxies we run in front of daphne that write X-Forwarded-For (0: ignore the header, use the
# peer's address). Throttles and login lockouts key on the address this yields
# (interviewsvc/client_ip.py); a client-written header must never count.
NUM_PROXIES = env.int("NUM_PROXIES", default=0)
# Peers (IPs or CIDRs) whose X-Forwarded-For is believed when NUM_PROXIES > 0; empty: any peer
# (then daphne must be reachable through the proxy only).
TRUSTED_PROXIES = [str(ipaddress.ip_network(p, strict=False)) for p in env.list("TRUSTED_PROXIES", default=[])]
# Failed logins (API token, /login/, /admin/login/) allowed within LOGIN_COOLOFF_MINUTES before
# a lockout (accounts/lockout.py): one account from one address; one account from any address
# (guessing spread over many addresses); one address for any account (higher: offices share
# one NAT address). Each is at least 1.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_ACCOUNT_FAILURE_LIMIT = env.int("LOGIN_ACCOUNT_FAILURE_LIMIT", default=20)
LOGIN_IP_FAILURE_LIMIT = env.int("LOGIN_IP_FAILURE_LIMIT", default=50)
if min(LOGIN_FAILURE_LIMIT, LOGIN_ACCOUNT_FAILURE_LIMIT, LOGIN_IP_FAILURE_LIMIT) < 1:
    raise ImproperlyConfigured(
        "LOGIN_FAILURE_LIMIT, LOGIN_ACCOUNT_FAILURE_LIMIT and LOGIN_IP_FAILURE_LIMIT must be >= 1."
    )
# A lockout lasts this long after the last failure (every refused attempt restarts it); an
# admin lifts it sooner in the admin (Axes > Access attempts) or with `manage.py axes_reset*`.
LOGIN_COOLOFF_MINUTES = env.int("LOGIN_COOLOFF_MINUTES", default=15)
AXES_HANDLER = "accounts.lockout.LoginLimitsHandler"  # the database: shared by every process
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "username", "ip_address"]
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_COOLOFF_MINUTES)
AXES_CLIENT_IP_CALLABLE = "interviewsvc.client_ip.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
# A success does not wipe the failures: it would let a guesser with one valid account of its
# own reset its address's count between guesses at others.
AXES_RESET_ON_SUCCESS = False
# Every failure is kept for the admin (Axes > Access failures); successes are not logged there.
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_DISABLE_ACCESS_LOG = True
# The password is always masked (and the CSRF token); username and address stay readable in logs
# and the admin.
AXES_SENSITIVE_PARAMETERS = ["csrfmiddlewaretoken"]
# Log lines name the username, address and path (not the user agent); no start-up banner.
AXES_VERBOSE = False

# --- Limits ---------------------------------------------------------------------------------
# Request bodies over this size are refused with 413 before they are read.
MAX_REQUEST_BODY_BYTES = env.int("MAX_REQUEST_BODY_BYTES", default=1_048_576)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES
# JSON (REST bodies, socket frames) nested deeper is refused before parsing: json recurses per level.
MAX_JSON_DEPTH = env.int("MAX_JSON_DEPTH", default=32)
MAX_MESSAGE_CHARS = env.int("MAX_MESSAGE_CHARS", default=10_000)
MIGRATE_MAX_MESSAGES = env.int("MIGRATE_MAX_MESSAGES", default=2_000)
# Interviews one bulk export (GET interviews/export) may hold; more is a 422 (docs/exports.md).
EXPORT_BULK_MAX_INTERVIEWS = env.int("EXPORT_BULK_MAX_INTERVIEWS", default=1_000)
# Export jobs (POST interviews/export-jobs, the admin's export action; docs/exports.md): the
# interviews one job may hold (more is a 422), the jobs one user may have queued or running at
# once (one more is a 429), seconds a finished file is kept, and seconds after which a job that
# never finished is marked failed (its worker and every retry are gone).
EXPORT_JOB_MAX_INTERVIEWS = env.int("EXPORT_JOB_MAX_INTERVIEWS", default=10_000)
# PDF and DOCX cost ~0.4 s per interview on two loaded cores (docs/operations.md, export
# benchmark): 2,000 of them fit well inside CELERY_TASK_TIME_LIMIT's default 30 minutes.
EXPORT_JOB_MAX_DOCUMENT_INTERVIEWS = env.int("EXPORT_JOB_MAX_DOCUMENT_INTERVIEWS", default=2_000)
EXPORT_JOB_MAX_ACTIVE_PER_USER = env.int("EXPORT_JOB_MAX_ACTIVE_PER_USER", default=2)
EXPORT_JOB_TTL = env.int("EXPORT_JOB_TTL", default=86_400)
EXPORT_JOB_SWEEP_SECONDS = env.int("EXPORT_JOB_SWEEP_SECONDS", default=300)
# A list total of at least LIST_COUNT_CACHE_MIN_ITEMS is cached this many seconds (0: never),
# so counting 100k rows is not paid on every page (docs/operations.md, "Benchmarks").
LIST_COUNT_CACHE_SECONDS = env.int("LIST_COUNT_CACHE_SECONDS", default=10)
LIST_COUNT_CACHE_MIN_ITEMS = env.int("LIST_COUNT_CACHE_MIN_ITEMS", default=1_000)

# --- REST framework -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["interviewsvc.parsers.DepthLimitedJSONParser"],
    "DEFAULT_FILTER_BACKENDS": [],
    "EXCEPTION_HANDLER": "interviewsvc.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": [
        "interviewsvc.throttling.AnonRateThrottle",
        "interviewsvc.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("THROTTLE_ANON_RATE", default="60/minute"),
        "user": env.str("THROTTLE_USER_RATE", default="600/minute"),
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Our throttles use interviewsvc.client_ip; this keeps DRF's own get_ident off raw XFF too.
    "NUM_PROXIES": NUM_PROXIES,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "interviewsvc API",
    "DESCRIPTION": "REST API of interviewsvc. Every response uses the success or error envelope.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and Swagger UI are public: they describe the API, they expose no data.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # No view validates partially: PATCH bodies have the same required fields as the serializer.
    "COMPONENT_SPLIT_PATCH": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # Input constraints DRF checks but drf-spectacular does not declare (interviewsvc/openapi.py).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "interviewsvc.openapi.postprocess"],
    "ENUM_NAME_OVERRIDES": {
        "InterviewStatusEnum": "interviews.models.InterviewStatus",
        "SuccessStatusEnum": ["success"],
        "ErrorStatusEnum": ["error"],
        "UserRoleEnum": "accounts.models.Role",
        "MessageRoleEnum": "interviews.models.MessageRole",
    },
}

# --- JWT ------------------------------------------------------------------------------------
# Tokens minted here and tokens minted by an external auth service share these settings.
JWT_ALGORITHM = env.str("JWT_ALGORITHM", default="HS256")
JWT_SIGNING_KEY = env.str("JWT_SIGNING_KEY", default="")
JWT_VERIFYING_KEY = env.str("JWT_VERIFYING_KEY", default="")
if not JWT_ALGORITHM.startswith("HS"):
    # An asymmetric algorithm signs with the PEM private key and verifies with its public key;
    # without them every login would be a 500, so refuse to start and say what is missing.
    JWT_SIGNING_KEY, JWT_VERIFYING_KEY = asymmetric_jwt_keys(JWT_ALGORITHM, JWT_SIGNING_KEY, JWT_VERIFYING_KEY)
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": JWT_ALGORITHM,
    "SIGNING_KEY": JWT_SIGNING_KEY or SECRET_KEY,
    "VERIFYING_KEY": JWT_VERIFYING_KEY or None,
    "ISSUER": env.str("JWT_ISSUER", default="") or None,
    "AUDIENCE": env.str("JWT_AUDIENCE", default="") or None,
    "LEEWAY": env.int("JWT_LEEWAY_SECONDS", default=0),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "AUTH_TOKEN_CLASSES": ("accounts.tokens.ServiceAccessToken",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "TOKEN_OBTAIN_SERIALIZER": "accounts.serializers.TokenObtainSerializer",
}

# --- Interviewer engine ---------------------------------------------------------------------
INTERVIEWER_PROVIDERS = env.list("INTERVIEWER_PROVIDERS", default=["scripted"])
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="")
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_MODEL = env.str("OPENAI_MODEL", default="gpt-4o-mini")
OPENAI_TIMEOUT_SECONDS = env.float("OPENAI_TIMEOUT_SECONDS", default=20.0)
# How many recent messages of the transcript the LLM sees on each turn.
OPENAI_HISTORY_MESSAGES = env.int("OPENAI_HISTORY_MESSAGES", default=20)
# How long the openai provider may take to write an interview's report (one request, not
# streamed, run by a background task); past it the scripted report is stored (docs/engine.md).
REPORT_TIMEOUT_SECONDS = env.float("REPORT_TIMEOUT_SECONDS", default=60.0)
# A turn whose worker is gone (its process died) is taken over by the next caller or the sweep
# this long after the worker last showed it was alive; a live worker pushes the deadline ahead
# every third of it while the interviewer writes, however slow the model.
TURN_TIMEOUT_SECONDS = env.float("TURN_TIMEOUT_SECONDS", default=90.0)
# Question deltas of one turn are sent at most once per this many milliseconds.
TURN_DELTA_INTERVAL_MS = env.int("TURN_DELTA_INTERVAL_MS", default=50)
# Threads per process that run the short database steps of turns (socket, SSE, sweep), one
# pooled connection each at most. More threads contend for the GIL: 1-6 measured alike, 20 worse
# (docs/operations.md, "Benchmarks").
TURN_DB_THREADS = env.int("TURN_DB_THREADS", default=4)
# How often each daphne process sweeps for turns past TURN_TIMEOUT_SECONDS (0: never; then run
# ``manage.py sweep_turns`` from cron).
TURN_SWEEP_SECONDS = env.float("TURN_SWEEP_SECONDS", default=30.0)
STT_PROVIDER = env.str("STT_PROVIDER", default="")
TTS_PROVIDER = env.str("TTS_PROVIDER", default="")
# Speech server (OpenAI-compatible audio endpoints); empty: OPENAI_BASE_URL / OPENAI_API_KEY.
SPEECH_BASE_URL = env.str("SPEECH_BASE_URL", default="")
SPEECH_API_KEY = env.str("SPEECH_API_KEY", default="")
STT_MODEL = env.str("STT_MODEL", default="whisper-1")
TTS_MODEL = env.str("TTS_MODEL", default="tts-1")
TTS_VOICE = env.str("TTS_VOICE", default="alloy")

# --- Realtime -------------------------------------------------------------------------------
WS_TICKET_TTL_SECONDS = env.int("WS_TICKET_TTL_SECONDS", default=60)
WS_MAX_FRAME_BYTES = env.int("WS_MAX_FRAME_BYTES", default=65_536)
WS_IDLE_TIMEOUT_SECONDS = env.int("WS_IDLE_TIMEOUT_SECONDS", default=300)
WS_RATE_LIMIT_PER_MINUTE = env.int("WS_RATE_LIMIT_PER_MINUTE", default=120)
# Costly frames (answers, resume, get_next_question) per user and per interview over all sockets
# and processes (interviews/realtime/quotas.py): more sockets must not multiply the limit above.
WS_USER_RATE_LIMIT_PER_MINUTE = env.int("WS_USER_RATE_LIMIT_PER_MINUTE", default=60)
WS_INTERVIEW_RATE_LIMIT_PER_MINUTE = env.int("WS_INTERVIEW_RATE_LIMIT_PER_MINUTE", default=90)
# Open sockets per user over all processes; the next one is closed with 4429.
WS_MAX_SOCKETS_PER_USER = env.int("WS_MAX_SOCKETS_PER_USER", default=10)
PUBLIC_WS_BASE_URL = env.str("PUBLIC_WS_BASE_URL", default="")

# --- Cache (tickets, throttling) ------------------------------------------------------------
if REDIS_URL:
    # Django's Redis cache, its connection pool shared by the process (interviewsvc/cache.py).
    CACHES = {"default": {"BACKEND": "interviewsvc.cache.SharedPoolRedisCache", "LOCATION": REDIS_URL}}
else:
    # One process's memory: room for every WebSocket ticket and throttle counter of a busy
    # process (LocMemCache culls a third of its entries when full; Django's default is 300).
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "OPTIONS": {"MAX_ENTRIES": env.int("LOCAL_CACHE_MAX_ENTRIES", default=100_000)},
        }
    }

# --- Background jobs (Celery; docs/operations.md, "Background jobs") -----------------------
# The broker is the service's Redis unless CELERY_BROKER_URL names another one. Without a broker
# tasks run in-process right after the commit that enqueued them (interviewsvc/tasks.py), so a
# checkout needs no servers; with one, run `celery -A interviewsvc worker` and `... beat`.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
TASKS_IN_PROCESS = env.bool("TASKS_IN_PROCESS", default=not CELERY_BROKER_URL)
# Job state (progress, files) lives in the database: no result backend to run or expire.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="interviewsvc")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Long tasks (exports) with late acks: a worker takes one message at a time, and a message a
# worker took but never acked (it died) is redelivered after the visibility timeout, which must
# outlast the longest task and the longest retry countdown.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=1800)
CELERY_TASK_SOFT_TIME_LIMIT = max(1, CELERY_TASK_TIME_LIMIT - 30)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": max(3600, 2 * CELERY_TASK_TIME_LIMIT)}
# Our LOGGING (structured JSON lines) stays in charge of the worker's output.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = "UTC"
# With a worker, the turn sweep (interviews/sweep.py) is a beat task instead of a loop in every
# daphne process; TURN_SWEEP_IN_WEB=1 keeps the daphne loop as well (both are safe together).
TURN_SWEEP_IN_WEB = env.bool("TURN_SWEEP_IN_WEB", default=TASKS_IN_PROCESS)
CELERY_BEAT_SCHEDULE = {}
if TURN_SWEEP_SECONDS > 0:
    CELERY_BEAT_SCHEDULE["turns-sweep"] = {
        "task": "interviews.tasks.turns_sweep",
        "schedule": TURN_SWEEP_SECONDS,
        # A sweep nobody ran in time is dropped: the next one does the same work.
        "options": {"expires": TURN_SWEEP_SECONDS},
    }

# Export files past EXPORT_JOB_TTL are deleted by this sweep (interviews/exports/jobs.py).
CELERY_BEAT_SCHEDULE["export-jobs-sweep"] = {
    "task": "interviews.exports.export_jobs_sweep",
    "schedule": EXPORT_JOB_SWEEP_SECONDS,
    "options": {"expires": EXPORT_JOB_SWEEP_SECONDS},
}
# A queued or running job older than this never finishes: the longest task plus every retry.
EXPORT_JOB_STALE_SECONDS = env.int("EXPORT_JOB_STALE_SECONDS", default=CELERY_TASK_TIME_LIMIT + 3600)

# --- Data lifecycle (docs/operations.md, "Data lifecycle") ----------------------------------
# A soft-deleted interview is restorable from the admin for SOFT_DELETE_DAYS, then purged.
SOFT_DELETE_DAYS = max(0, env.int("SOFT_DELETE_DAYS", default=30))
# Per deployment, off by default (0): interviews that ended (never ended: started) more than
# RETENTION_DAYS ago are purged for good.
RETENTION_DAYS = max(0, env.int("RETENTION_DAYS", default=0))
PURGE_BATCH_SIZE = max(1, env.int("PURGE_BATCH_SIZE", default=500))
PURGE_INTERVAL_SECONDS = env.int("PURGE_INTERVAL_SECONDS", default=3600)
if PURGE_INTERVAL_SECONDS > 0:
    CELERY_BEAT_SCHEDULE["lifecycle-purge"] = {
        "task": "interviews.tasks.lifecycle_purge",
        "schedule": PURGE_INTERVAL_SECONDS,
        "options": {"expires": PURGE_INTERVAL_SECONDS},
    }

# --- Logging --------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# JSON lines in production; readable key=value lines while developing.
LOG_JSON = env.bool("LOG_JSON", default=not DEBUG)
LOGGING = logging_config(level=LOG_LEVEL, json=LOG_JSON)

# --- HTTPS and browser protections (docs/operations.md, "Security") --------------------------
# With DEBUG off every default is the production one; each can be turned down from the
# environment (e.g. plain HTTP on localhost in docker-compose).
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# The probes are called over plain HTTP from inside the network (load balancer, compose).
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^ready$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Trust X-Forwarded-Proto only when a proxy we run sets it; a client could send it otherwise.
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp) on every response. The built-in pages carry a nonce on
# their inline <script>; inline styles are allowed (the admin and Swagger UI use them).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF, *([PUBLIC_WS_BASE_URL] if PUBLIC_WS_BASE_URL else [])],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
if env.bool("CSP_REPORT_ONLY", default=False):
    CONTENT_SECURITY_POLICY_REPORT_ONLY, CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY, {}

# --- Error monitoring (Sentry; docs/operations.md, "Error monitoring") ----------------------
# Off without SENTRY_DSN. Events are scrubbed before they leave the process (interviewsvc/monitoring.py).
SENTRY_DSN = env.str("SENTRY_DSN", default="")
ENVIRONMENT = env.str("ENVIRONMENT", default="development" if DEBUG else "production")
SENTRY_RELEASE = env.str("SENTRY_RELEASE", default="")
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0)
if SENTRY_DSN:
    from interviewsvc.monitoring import sentry_init

    sentry_init(
        dsn=SENTRY_DSN,
        environment=ENVIRONMENT,
        release=SENTRY_RELEASE or None,
        traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
    )
