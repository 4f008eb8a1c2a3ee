"""Settings of the baseline: only what Channels needs. Served by daphne:
`DJANGO_SETTINGS_MODULE=bench.baseline.settings daphne bench.baseline.asgi:application`."""

import os

SECRET_KEY = "bench-baseline-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["daphne", "channels"]
ROOT_URLCONF = "bench.baseline.urls"
DATABASES: dict = {}
USE_TZ = True
ASGI_APPLICATION = "bench.baseline.asgi.application"

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")],
            # Its own keys on the shared Redis; otherwise channels_redis' defaults, as the tutorial
            # has them (capacity 100 per channel: beyond it a frame is dropped, silently).
            "prefix": os.environ.get("BASELINE_REDIS_PREFIX", "bench-baseline:asgi"),
        },
    },
}
