"""The one settings module. Everything comes from the environment; see deploy/production.env.example."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext
from kombu import Queue

from audit import task_names as audit_task_names
from console import task_names as console_task_names
from core import task_names as core_task_names
from core.periodic import beat_schedule
from encryption import task_names as encryption_task_names
from events import task_names as events_task_names
from gateway.env import env_bool, env_int, env_list, env_secret, env_str, new_root_key_entry
from messaging import task_names as messaging_task_names
from policies import task_names as policies_task_names
from webhooks import task_names as webhooks_task_names

django_stubs_ext.monkeypatch()  # lets ModelAdmin[Model] and friends be subscripted at run time

BASE_DIR = Path(__file__).resolve().parent.parent
# An empty GATEWAY_VAR_DIR is unset, not the current folder (where it would scatter a database and secrets).
VAR_DIR = Path(env_str("GATEWAY_VAR_DIR") or BASE_DIR / "var")

GATEWAY_ENV = env_str("GATEWAY_ENV", "development")
IS_PRODUCTION = GATEWAY_ENV == "production"
DEV_SECRETS_DIR = None if IS_PRODUCTION else VAR_DIR / "secrets"


def _dev_file(name: str) -> Path | None:
    return DEV_SECRETS_DIR / name if DEV_SECRETS_DIR else None


SECRET_KEY = env_secret("DJANGO_SECRET_KEY", dev_file=_dev_file("django_secret_key"), is_production=IS_PRODUCTION)
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "" if IS_PRODUCTION else "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

# Encryption at rest (docs/encryption.md): root key versions "version:base64url,..." (newest primary); dev: var/secrets/
GATEWAY_KEY_PROVIDER = env_str("GATEWAY_KEY_PROVIDER", "local")
GATEWAY_ROOT_KEYS = env_secret(
    "GATEWAY_ROOT_KEYS", dev_file=_dev_file("root_keys"), is_production=IS_PRODUCTION, generate=new_root_key_entry
)
# How long an unwrapped key may stay cached in a process (never past its key's destroy time).
ENCRYPTION_KEY_CACHE_SECONDS = env_int("GATEWAY_KEY_CACHE_SECONDS", 60, minimum=1, maximum=3600)
# How long backups of the key store are kept: a destroyed key is gone from every backup after this.
ENCRYPTION_KEYSTORE_BACKUP_DAYS = env_int("GATEWAY_KEYSTORE_BACKUP_DAYS", 7, minimum=0)
# Pepper for API key hashes: a leaked database alone does not let anyone test key guesses offline.
GATEWAY_API_KEY_PEPPER = env_secret(
    "GATEWAY_API_KEY_PEPPER", dev_file=_dev_file("api_key_pepper"), is_production=IS_PRODUCTION
)
# The audit chain's HMAC key, checkpoint signing and pruning (gateway/settings_audit.py).
from gateway.settings_audit import *  # noqa: E402, F403 - the names are listed in its __all__

INSTALLED_APPS = [
    "unfold.apps.BasicAppConfig",  # the admin's theme, its templates before the stock admin's; it keeps our site
    "accounts.apps.GatewayAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_otp",
    "django_otp_webauthn",
    "gateway",
    "core",
    "audit",
    "encryption",
    "accounts",
    "messaging",
    "webhooks",
    "policies",
    "events",
    "console",
    "drf_spectacular_sidecar",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "webhooks.middleware.WebhookEdgeMiddleware",  # webhooks skip everything below: they carry no session
    "core.api_edge.ApiProblemMiddleware",  # every error of an /api/ path is a problem document
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "accounts.middleware.SessionLifetimeMiddleware",
    "accounts.middleware.RedisUnavailableMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "gateway.urls"
WSGI_APPLICATION = "gateway.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]


def _sqlite_database(name: str | Path) -> dict[str, Any]:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": name,
        "OPTIONS": {
            # WAL lets the web process read while a worker writes; IMMEDIATE serialises writers up front.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
        # A file, not shared-cache memory, so concurrency tests see the same locking as production.
        "TEST": {"NAME": VAR_DIR / "test.sqlite3"},
    }


def _database(url: str) -> dict[str, Any]:
    if not url:
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        return _sqlite_database(VAR_DIR / "gateway.sqlite3")
    config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True))
    if config["ENGINE"] == "django.db.backends.sqlite3":  # a sqlite:/// URL: a test's worker, a bench run
        return _sqlite_database(config["NAME"])
    # Parameters are bound on the server (sent apart from the SQL, not quoted into it), so psycopg prepares a
    # statement once it has run 5 times on a connection: the webhook INSERT and ingest's lookups are planned
    # once per connection instead of once per run. DATABASE_PREPARED_STATEMENTS=0 keeps the binding but
    # prepares nothing, for a transaction-pooling PgBouncer older than 1.21.
    prepared = env_bool("DATABASE_PREPARED_STATEMENTS", True)
    config["OPTIONS"] = {
        **config.get("OPTIONS", {}),
        "server_side_binding": True,
        "prepare_threshold": 5 if prepared else None,
    }
    return config


DATABASE_URL = env_str("DATABASE_URL")
DATABASES = {"default": _database(DATABASE_URL)}
# Operator jobs (pruning the audit log) connect as the operator role when this is set (docs/isolation.md).
if DATABASE_OPERATOR_URL := env_str("DATABASE_OPERATOR_URL", ""):
    DATABASES["operator"] = _database(DATABASE_OPERATOR_URL)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "admin:index"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Inbound media, encrypted before it is written; never served by URL (GATEWAY_MEDIA_ROOT, below).
    "media": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": env_str("GATEWAY_MEDIA_ROOT", str(VAR_DIR / "media")),
            "file_permissions_mode": 0o600,
            "directory_permissions_mode": 0o700,
        },
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- HTTP security -------------------------------------------------------------------------------
# Number of reverse proxies in front of the web process that append to X-Forwarded-For. Unset in
# production is an error (gateway.E006): the client IP used by the throttles depends on it.
TRUSTED_PROXY_COUNT: int | None = (
    env_int("GATEWAY_TRUSTED_PROXY_COUNT", 0, minimum=0, maximum=5)
    if env_str("GATEWAY_TRUSTED_PROXY_COUNT") or not IS_PRODUCTION
    else None
)
if TRUSTED_PROXY_COUNT:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Production redirects plain HTTP and asks browsers to preload HSTS; either may be turned off only when the
# TLS-terminating proxy declared above does it itself, said by GATEWAY_PROXY_ENFORCES_HTTPS=1 (gateway.E012, E013).
PROXY_ENFORCES_HTTPS = env_bool("GATEWAY_PROXY_ENFORCES_HTTPS", False)
SECURE_SSL_REDIRECT = env_bool("GATEWAY_SSL_REDIRECT", IS_PRODUCTION)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # load balancers probe the web processes over plain HTTP
SECURE_HSTS_SECONDS = env_int("GATEWAY_HSTS_SECONDS", 31_536_000 if IS_PRODUCTION else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("GATEWAY_HSTS_INCLUDE_SUBDOMAINS", IS_PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("GATEWAY_HSTS_PRELOAD", IS_PRODUCTION)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_COOKIES = env_bool("GATEWAY_SECURE_COOKIES", IS_PRODUCTION)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
# The __Host- prefix pins the cookie to this exact host over HTTPS; browsers refuse it over HTTP.
SESSION_COOKIE_NAME = "__Host-sessionid" if SECURE_COOKIES else "sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken" if SECURE_COOKIES else "csrftoken"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_IDLE_SECONDS = env_int("GATEWAY_SESSION_IDLE_SECONDS", 30 * 60, minimum=60)
SESSION_ABSOLUTE_SECONDS = env_int("GATEWAY_SESSION_ABSOLUTE_SECONDS", 12 * 3600, minimum=300)
SESSION_COOKIE_AGE = SESSION_IDLE_SECONDS
SESSION_SAVE_EVERY_REQUEST = True  # slides the idle timeout
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# Webhook bodies: Meta batches up to 1,000 updates per POST; larger bodies are refused with 413.
GATEWAY_WEBHOOK_MAX_BYTES = 3 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = GATEWAY_WEBHOOK_MAX_BYTES
# How long the webhook edge keeps an app's secrets in memory (a deactivated app is refused within this time).
GATEWAY_WEBHOOK_APP_CACHE_SECONDS = env_int("GATEWAY_WEBHOOK_APP_CACHE_SECONDS", 10, minimum=0, maximum=300)
# How long raw webhook bodies are kept (their day key is destroyed after that; see policies).
GATEWAY_RAW_DELIVERY_DAYS = env_int("GATEWAY_RAW_DELIVERY_DAYS", 7, minimum=1, maximum=90)
# Processing runs a delivery gets before it is marked failed (dead-lettered) instead of requeued again.
GATEWAY_DELIVERY_MAX_ATTEMPTS = env_int("GATEWAY_DELIVERY_MAX_ATTEMPTS", 5, minimum=1, maximum=100)
# The longest any message content may live (its day key is destroyed after); tenant policies may be shorter.
GATEWAY_CONTENT_MAX_DAYS = env_int("GATEWAY_CONTENT_MAX_DAYS", 365, minimum=1, maximum=3650)

# --- Outbound HTTP (core/http/, the one client) and inbound media -----------------------------------
GATEWAY_HTTP_CONNECT_TIMEOUT = env_int("GATEWAY_HTTP_CONNECT_TIMEOUT", 5, minimum=1, maximum=60)
GATEWAY_HTTP_READ_TIMEOUT = env_int("GATEWAY_HTTP_READ_TIMEOUT", 30, minimum=1, maximum=240)
GATEWAY_GRAPH_BASE_URL = env_str("GATEWAY_GRAPH_BASE_URL", "https://graph.facebook.com").rstrip("/")
GATEWAY_GRAPH_API_VERSION = env_str("GATEWAY_GRAPH_API_VERSION", "v25.0")
# WhatsApp's largest inbound file is a 100 MB document; a body past this is refused while it streams.
GATEWAY_MEDIA_MAX_BYTES = env_int("GATEWAY_MEDIA_MAX_BYTES", 100 * 1024 * 1024, minimum=1024, maximum=1024**3)
# Host suffixes media may be fetched from, over https only (an SSRF guard). The Graph base URL's own
# scheme, host and port are always allowed (so a local Graph stand-in works over http in dev and tests).
GATEWAY_MEDIA_ALLOWED_HOSTS = env_list(
    "GATEWAY_MEDIA_ALLOWED_HOSTS", "fbsbx.com,fbcdn.net,cdninstagram.com,facebook.com"
)

# --- The senders: outbound messages and events (gateway/settings_senders.py) ------------------------------
from gateway.settings_senders import *  # noqa: E402, F403 - the names are listed in its __all__

# --- Event delivery's SSRF guard, which depends on the environment ---------------------------------------
# Plain http only outside production; private, loopback, link-local, multicast and reserved addresses
# are refused unless one of these networks (CIDRs) holds them (development allows loopback, for a local receiver).
GATEWAY_EVENTS_ALLOW_HTTP = env_bool("GATEWAY_EVENTS_ALLOW_HTTP", not IS_PRODUCTION)
GATEWAY_EVENTS_ALLOWED_NETWORKS = env_list(
    "GATEWAY_EVENTS_ALLOWED_NETWORKS", "" if IS_PRODUCTION else "127.0.0.0/8,::1/128"
)

# --- MFA, step-up, throttles, API keys -------------------------------------------------------------
OTP_TOTP_ISSUER = env_str("GATEWAY_OTP_ISSUER", "Meta gateway")
STEP_UP_SECONDS = env_int("GATEWAY_STEP_UP_SECONDS", 600, minimum=30, maximum=3600)
# Attempts allowed per window before a cool-off; cool-offs grow per strike and are capped (never permanent).
THROTTLE_ACCOUNT_ATTEMPTS = env_int("GATEWAY_THROTTLE_ACCOUNT_ATTEMPTS", 5, minimum=1)
THROTTLE_IP_ATTEMPTS = env_int("GATEWAY_THROTTLE_IP_ATTEMPTS", 20, minimum=1)
THROTTLE_WINDOW_SECONDS = env_int("GATEWAY_THROTTLE_WINDOW_SECONDS", 15 * 60, minimum=1)
THROTTLE_COOLOFF_SECONDS = [int(value) for value in env_list("GATEWAY_THROTTLE_COOLOFF_SECONDS", "60,300,900,3600")]
THROTTLE_STRIKE_MEMORY_SECONDS = env_int("GATEWAY_THROTTLE_STRIKE_MEMORY_SECONDS", 24 * 3600, minimum=60)
API_KEY_ENVIRONMENT = env_str("GATEWAY_API_KEY_ENVIRONMENT", "live" if IS_PRODUCTION else "test")

# --- Topic modules (gateway/settings_<topic>.py), each listing its names in __all__ ------------------------
from gateway.settings_admin import *  # noqa: E402, F403 - the names are listed in its __all__
from gateway.settings_alerts import *  # noqa: E402, F403 - the names are listed in its __all__
from gateway.settings_authguard import *  # noqa: E402, F403 - the names are listed in its __all__
from gateway.settings_limits import *  # noqa: E402, F403 - the names are listed in its __all__
from gateway.settings_metrics import *  # noqa: E402, F403 - the names are listed in its __all__
from gateway.settings_passkeys import *  # noqa: E402, F403 - the names are listed in its __all__
from gateway.settings_tenancy import *  # noqa: E402, F403 - the names are listed in its __all__

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.api_auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.api_parsers.BoundedJSONParser"],
    "EXCEPTION_HANDLER": "core.api_errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "core.api_schema.ProblemAutoSchema",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": API_THROTTLE_CLASSES,  # noqa: F405 - from gateway.settings_limits
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Meta gateway API",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",  # served from our static files, no CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ApiScope": "accounts.models.ApiScope",
        "PayloadMode": "events.models.PayloadMode",
        "DeliveryStatus": "events.models.DeliveryStatus",
        "MessageType": "messaging.providers.representation.MessageType.choices",
        "TemplateStatus": "messaging.providers.templates.TemplateStatus.choices",
        "StatusEnum": "messaging.models.MessageStatus",  # its name before templates had a status too
    },
}

# --- Celery ---------------------------------------------------------------------------------------
# No loss: late acks, requeue when a worker dies, one message prefetched at a time, no results stored (they could
# carry data), and a hard time limit well below the visibility timeout, so a running task never goes to a second worker.
CELERY_QUEUE_NAMES = ("ingest", "outbound", "media", "events", "maintenance")
CELERY_TASK_QUEUES = [Queue(name) for name in CELERY_QUEUE_NAMES]
CELERY_TASK_DEFAULT_QUEUE = "maintenance"
CELERY_TASK_ROUTES = {f"{name}.*": {"queue": name} for name in CELERY_QUEUE_NAMES}
CELERY_VISIBILITY_TIMEOUT = env_int("GATEWAY_CELERY_VISIBILITY_TIMEOUT", 1800, minimum=600)
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 270
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_TASK_IGNORE_RESULT = True
# Celery's own closing of every database connection around every task gives way to core.task_connections' rule
# (Celery then closes them only after this many tasks, each counted twice: in practice never).
CELERY_DB_REUSE_MAX = 1_000_000_000
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Each app declares its periodic tasks beside their names (``PERIODIC``, Django-free): one place for each name.
CELERY_BEAT_SCHEDULE = beat_schedule(
    audit_task_names.PERIODIC,
    core_task_names.PERIODIC,
    encryption_task_names.PERIODIC,
    policies_task_names.PERIODIC,
    webhooks_task_names.PERIODIC,
    messaging_task_names.PERIODIC,
    events_task_names.PERIODIC,
    console_task_names.PERIODIC,
)
if REDIS_URL:
    CELERY_BROKER_URL: str | None = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
    CELERY_WORKER_ENABLE_REMOTE_CONTROL = True
else:
    # Embedded default: core.broker, kombu's filesystem transport made safe for several processes. Messages are
    # written whole and renamed into the queue folder, claimed by a rename, deleted on acknowledgement, and put back
    # when their worker dies (requeued by the worker's parent, or after the visibility timeout), as on Redis.
    # kombu's own filesystem transport lets a consumer read a file before it is written (about 0.3 % of messages
    # lost to JSONDecodeError with several processes, and a worker that meets one dies); its SQLAlchemy transport
    # never gives back a message whose worker was killed before acknowledging it.
    CELERY_BROKER_URL = None
    CELERY_BROKER_TRANSPORT = "core.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(VAR_DIR / "broker" / "queue"),
        "data_folder_out": str(VAR_DIR / "broker" / "queue"),
        "control_folder": str(VAR_DIR / "broker" / "control"),
        "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
        "polling_interval": 0.2,  # seconds between looks at the queue folder when it is empty
    }
    CELERY_WORKER_ENABLE_REMOTE_CONTROL = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "core.logging.JsonFormatter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["stderr"], "level": env_str("GATEWAY_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.security.DisallowedHost": {"level": "ERROR"},
        # runserver's request lines, through the JSON formatter (which redacts query values) instead of Django's own.
        "django.server": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        # One line per task received and finished drowns everything else (the outbound relay runs every 2 s).
        "celery.app.trace": {"level": env_str("GATEWAY_TASK_LOG_LEVEL", "WARNING")},
        "celery.worker.strategy": {"level": env_str("GATEWAY_TASK_LOG_LEVEL", "WARNING")},
        "celery.beat": {"level": env_str("GATEWAY_TASK_LOG_LEVEL", "WARNING")},
        # httpx logs every request with its full URL at INFO: media URLs and Graph paths carry ids.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # The PDF renderer narrates each step at INFO, from its import on.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}
