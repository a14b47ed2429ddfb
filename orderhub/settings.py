"""Settings for OrderHub, read from the environment (12-factor).

Only what differs between deployments comes from the environment; everything
else is fixed here. With no ``DATABASE_URL`` the hub runs on SQLite under
``var/``; with no ``REDIS_URL`` Celery uses kombu's on-disk broker there too.
"""

import base64
import hashlib
import os
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
VAR_DIR = Path(env("ORDERHUB_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = env("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY in the environment "
            "(or DEBUG=1 for local development only)."
        )
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "simple_history",
    # Login throttling (failed attempts, lockouts; admins unlock in the admin).
    "axes",
    "csp",
    # For manage.py graph_transitions (README: the state machine picture); no models.
    "django_fsm",
    "orderhub",
    "channels",
    "warehouse",
    "fulfillment",
    "fulfillment.shipping",
    "fulfillment.notifications",
    "fulfillment.tickets",
    "fulfillment.changes",
    "reporting",
    "webhooks",
    # The open API (/api/v1/): django-ninja serves its schema and docs pages' static files.
    "ninja",
    "api",
]

MIDDLEWARE = [
    # First, so every later middleware's log lines and responses carry the request id.
    "orderhub.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Outside everything that renders, so every page (error pages, lockouts too) gets the
    # policy; django-csp's, minus PDFs (orderhub/security.py says why).
    "orderhub.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as axes asks: it turns a login refused for a lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "orderhub.urls"
WSGI_APPLICATION = "orderhub.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
SQLITE_PATH = VAR_DIR / "orderhub.sqlite3"
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{SQLITE_PATH}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes; IMMEDIATE takes the
    # write lock at BEGIN so two writers queue up instead of failing mid-transaction.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    # PostgreSQL's JIT compiles the dashboard's aggregates on every run, costing more
    # than it saves on queries of this size (measured: SLA query 1.46 s -> 0.75 s).
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME", default=None)}
USING_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
# Optional PostgreSQL streaming replica of "default": the dashboard reads there
# (orderhub/dbrouter.py says which reads may); without it everything uses "default".
DATABASE_REPLICA_URL = env("DATABASE_REPLICA_URL", default="")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = env.db("DATABASE_REPLICA_URL")
    DATABASES["replica"].setdefault("CONN_MAX_AGE", DATABASES["default"].get("CONN_MAX_AGE", 0))
    DATABASES["replica"]["CONN_HEALTH_CHECKS"] = True
    if DATABASES["replica"]["ENGINE"].endswith("postgresql"):
        options = DATABASES["replica"].setdefault("OPTIONS", {})
        # The dashboard's aggregates run here: no JIT, as on "default".
        options.setdefault("options", "-c jit=off")
        # An unreachable replica is given up on quickly (the dashboard then reads "default").
        options.setdefault("connect_timeout", 3)
    # Tests read the test database through this alias instead of creating another.
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["orderhub.dbrouter.ReplicaRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
# The cache only speeds pages up: with Redis down, django-redis logs each failed call
# and answers as a miss (a write does nothing), so pages are served from the database.
# Short socket timeouts keep a Redis that hangs (rather than refuses) from holding a
# request for long.
DJANGO_REDIS_IGNORE_EXCEPTIONS = True
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
CACHE_REDIS_OPTIONS = {
    "IGNORE_EXCEPTIONS": True,
    "SOCKET_CONNECT_TIMEOUT": 1,
    "SOCKET_TIMEOUT": 1,
}
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "orderhub",
            "OPTIONS": CACHE_REDIS_OPTIONS,
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
# The public tracking page's rate limit counts in the cache. With the cache down it
# fails open: every buyer would otherwise get "too many look-ups" for our outage, and a
# look-up needs the order number and the phone's last four digits, so the few minutes
# unlimited are not a way to list orders.
RATELIMIT_FAIL_OPEN = True

# --- Celery -------------------------------------------------------------------
CELERY_FILESYSTEM_DIR = VAR_DIR / "celery"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 3600,
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
    }
    # Waiting for a dead result store must not hold a web request: Celery's default
    # retries 20 times, a second apart, before giving up.
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {
        "retry_policy": {"max_retries": 1, "interval_start": 0, "interval_step": 0.2,
                         "interval_max": 0.2},
    }
    CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 2
    CELERY_REDIS_SOCKET_TIMEOUT = 5
else:
    for sub in ("queue", "processed", "results", "control"):
        (CELERY_FILESYSTEM_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_FILESYSTEM_DIR / "queue"),
        "data_folder_out": str(CELERY_FILESYSTEM_DIR / "queue"),
        "processed_folder": str(CELERY_FILESYSTEM_DIR / "processed"),
        # Exchange bindings; kombu's default is "control" in the working directory.
        "control_folder": str(CELERY_FILESYSTEM_DIR / "control"),
        "store_processed": False,
    }
    CELERY_RESULT_BACKEND = f"file://{CELERY_FILESYSTEM_DIR / 'results'}"
# A publish to a dead broker gives up after about half a second (3 tries): the work
# is a database row already and a beat sweep queues it again (orderhub.queue).
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0,
                                    "interval_step": 0.2, "interval_max": 0.2}
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

# --- Auth -------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Staff roles are groups whose permissions orderhub/roles.py defines (synced by a
# migration per app); every staff view checks them with orderhub.guard.staff_view.
# Stored credentials are encrypted with CHANNEL_CREDENTIALS_KEY (orderhub/crypto.py).
# Axes first: it refuses a locked-out username+address before the password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "orders:list"
LOGOUT_REDIRECT_URL = "login"

# --- Login throttling (django-axes) ---------------------------------------------------
# /login/ and /admin/login/ alike: after AXES_FAILURE_LIMIT wrong passwords for one username
# from one address, that pair is refused for AXES_COOLOFF_MINUTES (429 and the lockout page).
# Locking the pair, not the username alone, means an attacker cannot lock a colleague out
# from everywhere by typing their name; not the address alone, so one mistyping picker behind
# the warehouse's shared NAT does not lock out the whole shift.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_MINUTES = env.int("AXES_COOLOFF_MINUTES", default=15)
AXES_COOLOFF_TIME = timedelta(minutes=AXES_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# A successful login forgets earlier typos; tries during a lockout do not extend it (the real
# user typing the right password meanwhile would otherwise keep themself locked out).
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_CALLABLE = "orderhub.security.lockout_response"
AXES_CLIENT_IP_CALLABLE = "orderhub.security.client_ip"
# Axes logs the username and address tried (what an operator needs); the stored request
# data masks the password (always) and the CSRF token.
AXES_SENSITIVE_PARAMETERS = ["password", "csrfmiddlewaretoken"]

# --- Content-Security-Policy (django-csp) ------------------------------------------------
# Scripts and styles come only from our own static files (no inline code, no eval: htmx's
# trigger filters and inline indicator style are off, see base.html). Images may be data:
# and blob: URLs (barcodes, QR codes, the camera scanner's frames); the camera's video is a
# MediaStream (ZXing decodes on the page, no worker).
# The one style attribute a third-party page needs (django-simple-history's admin history
# list: style="border-top: 0"), allowed by its exact hash rather than all inline styles.
_HISTORY_STYLE = base64.b64encode(hashlib.sha256(b"border-top: 0").digest()).decode()
_CSP = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-hashes'", f"'sha256-{_HISTORY_STYLE}'"],
        "img-src": ["'self'", "data:", "blob:"],
        "media-src": ["'self'", "blob:", "mediastream:"],
        "worker-src": ["'self'"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}
# CSP_REPORT_ONLY=1 sends the policy as Content-Security-Policy-Report-Only: browsers report
# what it would block (console) and block nothing; for trying a change in production.
# (Not kept as a CSP_REPORT_ONLY setting: django-csp 4 refuses to start on its 3.x names.)
if env.bool("CSP_REPORT_ONLY", default=False):
    CONTENT_SECURITY_POLICY_REPORT_ONLY = _CSP
else:
    CONTENT_SECURITY_POLICY = _CSP

# --- Languages and time -------------------------------------------------------
LANGUAGE_CODE = env("LANGUAGE_CODE", default="en")
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env("TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True

# --- Static files -------------------------------------------------------------
STATIC_URL = "static/"
# The Docker image bakes collected files in; var/ is a volume there.
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = VAR_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Security (production) --------------------------------------------------------
# Health probes (load balancer, container healthcheck) speak plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True

# --- Logging --------------------------------------------------------------------------
# Production writes one JSON object per line (for a log collector), each line of a
# request carrying its request_id and each line of a task its task_id (orderhub/middleware.py);
# development keeps plain text. LOG_FORMAT overrides either.
LOG_FORMAT = env("LOG_FORMAT", default="plain" if DEBUG else "json")
if LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be 'json' or 'plain', not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"log_context": {"()": "orderhub.middleware.RequestIdLogFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(levelname)s %(name)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            # ISO 8601 in UTC, whatever TIME_ZONE the pages use.
            "timestamp": "time",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["log_context"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's own console handler would print its lines a second time, unformatted.
        "django": {"handlers": [], "propagate": True},
        # Axes narrates every failed login at INFO; its warnings (new failure, lockout) and
        # our one line per refused login (orderhub.security) are what an operator needs.
        "axes": {"level": "WARNING"},
    },
}

# --- Client addresses behind proxies ---------------------------------------------
# How many proxies of our own stand in front of the hub (README "Production"): the
# client's address is that many entries from the right of X-Forwarded-For
# (orderhub/net.py). 0: the socket address is the client's.
_proxies = env("TRUSTED_PROXY_COUNT", default="0").strip()
if not _proxies.isdigit():
    raise ImproperlyConfigured(
        f"TRUSTED_PROXY_COUNT must be a whole number, 0 or more, not {_proxies!r}.")
TRUSTED_PROXY_COUNT = int(_proxies)
# django-ratelimit's key="ip" (the public tracking page) counts per real client.
RATELIMIT_IP_META_KEY = "orderhub.net.client_ip"

# --- OrderHub -----------------------------------------------------------------------
ORDERS_PER_PAGE = 25
# Seconds the dashboard keeps tracking, complaint and SLA figures (they read waybills
# and tickets, which change without touching orders); 0 computes them on every request.
DASHBOARD_FULFILLMENT_CACHE_SECONDS = env.int("DASHBOARD_FULFILLMENT_CACHE_SECONDS", default=60)
# The dashboard's today and changed days come from rollup rows rebuilt every
# DASHBOARD_LIVE_REFRESH_SECONDS (beat) and used while younger than
# DASHBOARD_MAX_STALE_SECONDS (0: only complete days, the rest read live); a page is
# cached DASHBOARD_CACHE_SECONDS per filter (0: not at all). See reporting/rollup.py.
DASHBOARD_LIVE_REFRESH_SECONDS = env.int("DASHBOARD_LIVE_REFRESH_SECONDS", default=20)
DASHBOARD_MAX_STALE_SECONDS = env.int("DASHBOARD_MAX_STALE_SECONDS", default=60)
DASHBOARD_CACHE_SECONDS = env.int("DASHBOARD_CACHE_SECONDS", default=10)
# Processes a large order import runs in parallel (import_orders --workers).
INGEST_WORKERS = env.int("INGEST_WORKERS", default=min(4, os.cpu_count() or 1))
SANDBOX_ENABLED = env.bool("SANDBOX_ENABLED", default=DEBUG)
# The hub's own address, for links that leave it (e-mails, carrier callbacks).
SITE_URL = env("SITE_URL", default="")
# An order left unpaid this long is cancelled by the payment-timeout sweep.
PAYMENT_TIMEOUT_MINUTES = env.int("PAYMENT_TIMEOUT_MINUTES", default=1440)
# A booked parcel with no new tracking event for this long is flagged as stalled.
TRACKING_STALL_HOURS = env.float("TRACKING_STALL_HOURS", default=24.0)
# A delivered order completes (after-sales window over) after this many days.
ORDER_COMPLETE_AFTER_DAYS = env.int("ORDER_COMPLETE_AFTER_DAYS", default=7)
# Lookups on the public tracking page per client (django-ratelimit rate, e.g. "10/m").
TRACK_RATE_LIMIT = env("TRACK_RATE_LIMIT", default="10/m")
# Channel health: a channel pauses after this many failed polls in a row (a definite
# credential rejection pauses at once); its owner is told.
CHANNEL_MAX_FAILURES = env.int("CHANNEL_MAX_FAILURES", default=5)
# The daily gap check compares each of this many past days' order counts with the platform's.
GAP_CHECK_DAYS = env.int("GAP_CHECK_DAYS", default=7)
# Format drift: a channel pauses when this many payloads in a row, or this percentage of
# its last FORMAT_DRIFT_WINDOW payloads, could not be read (a platform changed its format).
FORMAT_DRIFT_STREAK = env.int("FORMAT_DRIFT_STREAK", default=5)
FORMAT_DRIFT_WINDOW = env.int("FORMAT_DRIFT_WINDOW", default=50)
FORMAT_DRIFT_PERCENT = env.float("FORMAT_DRIFT_PERCENT", default=20.0)
# Outbound webhooks (webhooks/): a subscription pauses after this many deliveries in a row
# failed for good (each after its retries), and its owner is told.
WEBHOOK_MAX_FAILURES = env.int("WEBHOOK_MAX_FAILURES", default=5)
# Seconds one delivery attempt may take (connecting: at most 5 of them).
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# Refuse webhook URLs on private, loopback, link-local or reserved addresses (SSRF):
# on unless DEBUG, so a demo can post to a receiver on localhost.
WEBHOOK_BLOCK_PRIVATE_ADDRESSES = env.bool("WEBHOOK_BLOCK_PRIVATE_ADDRESSES", default=not DEBUG)
# Presale orders enter picking this many days before their promised ship date (a
# warehouse's own "presale lead time" wins); until then they wait in the deferred queue.
PRESALE_LEAD_DAYS = env.int("PRESALE_LEAD_DAYS", default=1)
# Other apps' cards on the order page (each gets ``order`` and ``request``), so the
# order core shows their data without importing them.
# Called once as each web process starts (orderhub/wsgi.py); Celery workers run the same
# warm-ups from their apps' worker_process_init hooks.
PROCESS_WARMUPS = [
    "warehouse.pdf.prewarm_in_background",
]
ORDER_PAGE_PANELS = [
    "fulfillment/order_panel.html",
    "changes/order_panel.html",
    "warehouse/order_panel.html",
    "shipping/order_panel.html",
    "channels/order_panel.html",
    "tickets/order_panel.html",
    "notifications/order_panel.html",
    "api/order_panel.html",
]

# --- Open API (/api/v1/, app ``api``) -----------------------------------------------------
# Requests per minute per token unless the token sets its own (fails open without the cache).
API_RATE_LIMIT_PER_MINUTE = env.int("API_RATE_LIMIT_PER_MINUTE", default=120)
# A request body larger than this is refused with 413 before it is read.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1_000_000)
# Incremental feeds (orders, audit) serve only rows older than this many seconds, so a
# change still being committed is never passed by a cursor (no skip).
API_SYNC_LAG_SECONDS = env.float("API_SYNC_LAG_SECONDS", default=2.0)
