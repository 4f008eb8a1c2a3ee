"""Settings for EchoStream, read from the environment with working local defaults."""

import math
import re
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from echostream.logs import config as logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env(
    DEBUG=(bool, True),
    ALLOWED_HOSTS=(list, ["127.0.0.1", "localhost"]),
)


# Past this a duration overflows what Redis takes as an expiry in milliseconds, and no rate or
# duration a deployment means is anywhere near it.
_AMOUNT_MAX = 1_000_000


def _amount(name: str, default: float, *, positive: bool = False) -> float:
    """A setting in seconds or per second, read as Python reads a float. django-environ's own
    float parsing drops every character but digits, dots, commas and minus signs ("1e3" becomes 13,
    "2s" becomes 2) and fails on "nan" with a bare ValueError; and "inf", "-1", or 0 for a rate or
    an interval (`positive`) would break what the setting sizes: a rate limit that never refills,
    a wait with no end, a loop with no pause."""
    raw = env.str(name, default=str(default)).strip()
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    low = "above 0" if positive else "from 0"
    if not (0 < value if positive else 0 <= value) or not value <= _AMOUNT_MAX:
        raise ImproperlyConfigured(
            f"{name} must be a number {low} to {_AMOUNT_MAX} (seconds, or per second), not {raw!r}"
        )
    return value


if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env("DEBUG")
SECRET_KEY = env("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        # A default key in production would let anyone forge sessions: refuse to start.
        raise ImproperlyConfigured(
            "SECRET_KEY is not set and DEBUG is off. Set the SECRET_KEY environment variable to a long random "
            "value, for example the output of: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    SECRET_KEY = "echostream-insecure-local-development-key"
ALLOWED_HOSTS = env("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list(
    "CSRF_TRUSTED_ORIGINS",
    default=[f"http://{host}:{port}" for host in ALLOWED_HOSTS for port in (8000, 8001)],
)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "csp",
    "chat",
    "presence",
    "moderation",
    "replay",
    "ops",
]

SESSION_ENGINE = "echostream.sessions"

MIDDLEWARE = [
    # First: probes and scrapes name the container, not an allowed host (ops/middleware.py).
    "ops.middleware.answer_probes_first",
    "echostream.jsonapi.JsonErrorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# --- HTTPS and browser protections ----------------------------------------------
# Off in development (plain http on localhost); on by default once DEBUG is off.
# Where TLS ends at a proxy, set SECURE_PROXY_SSL_HEADER to the header it sets,
# for example "HTTP_X_FORWARDED_PROTO,https", so that Django knows the request was https.
SECURE_PROXY_SSL_HEADER = tuple(env.list("SECURE_PROXY_SSL_HEADER", default=[])) or None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# The same strict policy in development and production, so that the browser tests
# prove the client works under it: scripts and styles only from our static files
# (templates have no inline ones; the page's data is a JSON block, not a script),
# the socket and the API only to our own origin ('self' covers ws: and wss: there).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}

ROOT_URLCONF = "echostream.urls"
ASGI_APPLICATION = "echostream.asgi.application"

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

# Users, rooms, memberships and moderation records. By default the project's own PostgreSQL
# cluster, which `scripts/services.sh up` runs on 127.0.0.1:5432 (docs/operations.md);
# DATABASE_URL names another. SQLite (DATABASE_URL=sqlite:////abs/path/db.sqlite3) is for a quick
# look only: the three roles then take turns writing one file.
DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://echostream@127.0.0.1:5432/echostream"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, moderation, bridge) share the file: wait for locks
    # instead of failing, and let readers proceed while one writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"}
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].update(
        # Seconds a connection is kept for the next batch (workers) or frame (sockets) before a
        # new one is opened. An HTTP request's connection is closed when it ends whatever this
        # says: each runs in a thread of its own under ASGI (echostream/asgi.py).
        CONN_MAX_AGE=env.int("DATABASE_CONN_MAX_AGE", default=60),
        # A kept connection is tried before its first use in each request, frame or batch, so
        # one that a database restart broke is replaced instead of failing a query.
        CONN_HEALTH_CHECKS=True,
    )
    # A database that does not answer fails the request within seconds rather than hanging it.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5)
    )
    # Each test run (its own ECHOSTREAM_NAMESPACE, tests/testenv.py) gets its own test database,
    # so that runs at the same time on one server never drop each other's.
    DATABASES["default"]["TEST"] = {
        "NAME": "test_" + re.sub(r"[^a-z0-9_]", "_", env("ECHOSTREAM_NAMESPACE", default="echostream").lower())[:58]
    }

# A web process's sockets renew their (shared) database connection before a frame received at
# most this often: a connection broken meanwhile answers that frame `unavailable`, and the next
# renewal replaces it (echostream/consumer.py).
DATABASE_RENEW_SECONDS = _amount("DATABASE_RENEW_SECONDS", default=1.0)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / ".local" / "staticfiles"

# --- Attachments (chat/attachments.py) -----------------------------------------
# Files go through Django's storage API: the file system under MEDIA_ROOT by default, an
# S3-compatible store (django-storages) with ATTACHMENT_STORAGE=s3 (docs/operations.md).
# Nothing under MEDIA_ROOT is served directly: downloads go through a membership check.
MEDIA_ROOT = env("MEDIA_ROOT", default=str(BASE_DIR / ".local" / "media"))
MEDIA_URL = "/media/"
ATTACHMENT_STORAGE = env("ATTACHMENT_STORAGE", default="filesystem")
if ATTACHMENT_STORAGE == "s3":
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env("ATTACHMENT_S3_BUCKET"),
            "endpoint_url": env("ATTACHMENT_S3_ENDPOINT_URL", default=None),
            "region_name": env("ATTACHMENT_S3_REGION", default=None),
            "access_key": env("ATTACHMENT_S3_ACCESS_KEY_ID", default=None),
            "secret_key": env("ATTACHMENT_S3_SECRET_ACCESS_KEY", default=None),
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
elif ATTACHMENT_STORAGE == "filesystem":
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
else:
    raise ImproperlyConfigured(f"ATTACHMENT_STORAGE must be `filesystem` or `s3`, not {ATTACHMENT_STORAGE!r}")
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# The largest file one upload may hold (25 MB); a bigger one is answered 413.
ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_BYTES", default=25 * 1024 * 1024)
# The most pixels an image may decode to: a decompression bomb is refused (Pillow's check).
ATTACHMENT_MAX_PIXELS = env.int("ATTACHMENT_MAX_PIXELS", default=50_000_000)
# The longer side of a thumbnail, in pixels.
ATTACHMENT_THUMBNAIL_PX = env.int("ATTACHMENT_THUMBNAIL_PX", default=320)

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

# --- Outside systems -------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
KAFKA_BOOTSTRAP_SERVERS = env("KAFKA_BOOTSTRAP_SERVERS", default="127.0.0.1:9092")
MONGODB_URI = env("MONGODB_URI", default="mongodb://127.0.0.1:27017/")
# One namespace names the Kafka topics, the MongoDB database and the Redis key
# prefix, so that a test run or a second deployment never sees another's data.
ECHOSTREAM_NAMESPACE = env("ECHOSTREAM_NAMESPACE", default="echostream")
KAFKA_ROOM_RETENTION_MS = env.int("KAFKA_ROOM_RETENTION_MS", default=-1)
KAFKA_INBOUND_PARTITIONS = env.int("KAFKA_INBOUND_PARTITIONS", default=4)

# Django's cache is only the HTTP throttles' counter store (echostream/throttle.py).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": f"{ECHOSTREAM_NAMESPACE}:cache",
        # A Redis that hangs must not hang sign-in: fail fast, and the door answers 503.
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    },
}

CHANNEL_LAYERS = {
    "default": {
        # One PUBLISH per room event, received once per web process (echostream.core.channel_layer).
        "BACKEND": "echostream.core.channel_layer.BoundedPubSubChannelLayer",
        "CONFIG": {
            "hosts": [REDIS_URL],
            "prefix": f"{ECHOSTREAM_NAMESPACE}:asgi",
            # Per socket: beyond these a frame is dropped, which clients see (prev_seq) and repair.
            "capacity": env.int("CHANNEL_LAYER_CAPACITY", default=1000),
        },
    },
}
# How often a socket looks whether the newest frames of its rooms were dropped on the way.
DELIVERY_TAIL_CHECK_SECONDS = _amount("DELIVERY_TAIL_CHECK_SECONDS", default=3.0, positive=True)
# Backpressure: sends are refused (`rate_limited`) while the moderation worker or the bridge takes
# records later than this after Kafka appended them, and for BACKPRESSURE_WINDOW_SECONDS after.
BACKPRESSURE_MAX_LAG_SECONDS = _amount("BACKPRESSURE_MAX_LAG_SECONDS", default=5.0)
BACKPRESSURE_WINDOW_SECONDS = _amount("BACKPRESSURE_WINDOW_SECONDS", default=3.0)
# A send read longer than this after it reached its web process is refused likewise: that web is
# behind, which the bridge's lateness (measured from the moment the web read the send) cannot show.
BACKPRESSURE_MAX_WAIT_SECONDS = _amount("BACKPRESSURE_MAX_WAIT_SECONDS", default=5.0)
# Each web process reads that signal at most this often (every send asks).
BACKPRESSURE_READ_SECONDS = _amount("BACKPRESSURE_READ_SECONDS", default=0.1)

# --- Health and metrics (ops/, echostream/core/metrics.py) ---------------------
# The web serves /healthz, /readyz and /metrics on its own port; each worker on a port of its own
# (0: none). A port already taken is logged, and the worker goes on without it.
MODERATION_METRICS_PORT = env.int("MODERATION_METRICS_PORT", default=9101)
BRIDGE_METRICS_PORT = env.int("BRIDGE_METRICS_PORT", default=9102)
# Where the workers' ports listen: this machine only, unless a container sets 0.0.0.0 for its
# scraper and health checks.
METRICS_BIND_ADDRESS = env("METRICS_BIND_ADDRESS", default="127.0.0.1")
# When set, /metrics answers only `Authorization: Bearer <token>`, from any address; unset, only
# loopback and private addresses, not through a proxy, under a Host no web page can have
# (echostream.core.metrics.respond).
METRICS_TOKEN = env("METRICS_TOKEN", default="")
# Orchestrators and scrapers call these over plain http inside the network: never redirected to https.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]

# --- Chat limits ------------------------------------------------------------
WEBSOCKET_MAX_FRAME_BYTES = env.int("WEBSOCKET_MAX_FRAME_BYTES", default=64 * 1024)
MESSAGE_MAX_BODY_CHARS = env.int("MESSAGE_MAX_BODY_CHARS", default=4000)
# Sends of one socket waiting for Kafka's acknowledgement at once; past this, the socket reads its
# next frame only when one is acknowledged (ChatConsumer.finish_later).
WEBSOCKET_SENDS_IN_FLIGHT = env.int("WEBSOCKET_SENDS_IN_FLIGHT", default=32)
# Sockets one user may have open at once, over every web process (tabs, devices, bots): each
# costs every message of the user's rooms a frame, so one account with thousands slowed every room.
WEBSOCKET_MAX_SOCKETS_PER_USER = env.int("WEBSOCKET_MAX_SOCKETS_PER_USER", default=20)
HISTORY_MAX_LIMIT = 100
# How many of each room's newest messages Redis keeps as the first pages of history.
HISTORY_CACHE_SIZE = env.int("HISTORY_CACHE_SIZE", default=200)
# Socket rate limits per user and kind of frame: (burst, tokens per second).
RATE_LIMIT_BURST = env.int("RATE_LIMIT_BURST", default=60)
RATE_LIMIT_PER_SECOND = _amount("RATE_LIMIT_PER_SECOND", default=10.0, positive=True)
RATE_LIMITS = {
    "send": (RATE_LIMIT_BURST, RATE_LIMIT_PER_SECOND),
    "edit": (
        env.int("RATE_LIMIT_EDIT_BURST", default=20),
        _amount("RATE_LIMIT_EDIT_PER_SECOND", default=2.0, positive=True),
    ),
    "delete": (
        env.int("RATE_LIMIT_DELETE_BURST", default=20),
        _amount("RATE_LIMIT_DELETE_PER_SECOND", default=2.0, positive=True),
    ),
    "receipt": (
        env.int("RATE_LIMIT_RECEIPT_BURST", default=60),
        _amount("RATE_LIMIT_RECEIPT_PER_SECOND", default=10.0, positive=True),
    ),
    "resume": (
        env.int("RATE_LIMIT_RESUME_BURST", default=10),
        _amount("RATE_LIMIT_RESUME_PER_SECOND", default=0.5, positive=True),
    ),
    "typing": (
        env.int("RATE_LIMIT_TYPING_BURST", default=20),
        _amount("RATE_LIMIT_TYPING_PER_SECOND", default=2.0, positive=True),
    ),
}
PRESENCE_TTL_SECONDS = env.int("PRESENCE_TTL_SECONDS", default=30)
# A user announced online more often than this within the window (a reconnect loop) has their
# next closes held: co-members hear `offline` from the sweep, once, instead of a pair per cycle.
PRESENCE_FLAP_ANNOUNCEMENTS = env.int("PRESENCE_FLAP_ANNOUNCEMENTS", default=5)
PRESENCE_FLAP_WINDOW_SECONDS = env.int("PRESENCE_FLAP_WINDOW_SECONDS", default=60)

# --- Moderation (moderation/rules.py) ------------------------------------------
# How long a worker keeps a room's rules and word lists before reading them again: the
# longest an edit in the admin waits to apply.
MODERATION_RULES_CACHE_SECONDS = _amount("MODERATION_RULES_CACHE_SECONDS", default=2.0)
# Moderators' banned patterns see at most this much of a message (bounds their cost).
MODERATION_PATTERN_MAX_INPUT_CHARS = env.int("MODERATION_PATTERN_MAX_INPUT_CHARS", default=10_000)
# How long one banned pattern may search (or mask) one message before it is skipped for it.
MODERATION_PATTERN_TIMEOUT_SECONDS = _amount("MODERATION_PATTERN_TIMEOUT_SECONDS", default=0.02)
# A worker taking more submissions a second than this gathers each batch for the seconds below
# (`kafka.Gathering`): fewer, larger batches under load; below it, no message waits for one.
MODERATION_BUSY_RATE = _amount("MODERATION_BUSY_RATE", default=200.0, positive=True)
MODERATION_BUSY_GATHER_SECONDS = _amount("MODERATION_BUSY_GATHER_SECONDS", default=0.01)
# Longer than a second would hold every message.
if MODERATION_BUSY_GATHER_SECONDS > 1:
    raise ImproperlyConfigured(
        "MODERATION_BUSY_GATHER_SECONDS must be between 0 (never gather) and 1 second,"
        f" not {MODERATION_BUSY_GATHER_SECONDS}"
    )

# --- HTTP throttles (echostream/throttle.py) ---------------------------------
# Rates are "<count>/<period>", the period s, m, h or d with an optional multiplier
# ("100/10s"). A person never reaches them; a password-guessing or sign-up script does.
THROTTLE_SIGNIN_PER_USERNAME = env("THROTTLE_SIGNIN_PER_USERNAME", default="10/m")
THROTTLE_SIGNIN_PER_IP = env("THROTTLE_SIGNIN_PER_IP", default="60/m")
THROTTLE_SIGNUP_PER_IP = env("THROTTLE_SIGNUP_PER_IP", default="20/h")
THROTTLE_CREATE_GROUP_PER_USER = env("THROTTLE_CREATE_GROUP_PER_USER", default="30/h")
THROTTLE_CREATE_GROUP_PER_IP = env("THROTTLE_CREATE_GROUP_PER_IP", default="120/h")
THROTTLE_OPEN_DM_PER_USER = env("THROTTLE_OPEN_DM_PER_USER", default="60/m")
THROTTLE_OPEN_DM_PER_IP = env("THROTTLE_OPEN_DM_PER_IP", default="300/m")
# Reports of messages: a member with a real complaint sends a few; a script that floods the
# moderators' queue is stopped.
THROTTLE_REPORT_PER_USER = env("THROTTLE_REPORT_PER_USER", default="20/h")
# Attachment uploads, per signed-in user.
THROTTLE_UPLOAD_PER_USER = env("THROTTLE_UPLOAD_PER_USER", default="60/m")
# Behind a proxy, REMOTE_ADDR is the proxy: name the META key of a header that the
# proxy sets to the client's address alone (for example HTTP_X_REAL_IP).
RATELIMIT_IP_META_KEY = env("RATELIMIT_IP_META_KEY", default="")

# --- Logs (docs/operations.md, "Logs") ------------------------------------------
# One JSON object a line in production, text in development; LOG_FORMAT (json | text) overrides.
LOG_FORMAT = env("LOG_FORMAT", default="text" if DEBUG else "json")
LOGGING = logging_config(fmt=LOG_FORMAT, level=env("LOG_LEVEL", default="INFO"))
CSRF_FAILURE_VIEW = "echostream.jsonapi.csrf_failure"
