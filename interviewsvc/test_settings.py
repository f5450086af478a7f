"""Settings for the test suite: the real settings with a fixed key and fast hashing."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-0123456789abcdef0123456789abcdef")

from interviewsvc.settings import *  # noqa: F403
from interviewsvc.settings import MIDDLEWARE, REST_FRAMEWORK

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Throttling is exercised by its own tests with low rates; the rest of the suite must not trip it.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"anon": "100000/minute", "user": "100000/minute"},
}
# Tests never collect static files; WhiteNoise would only warn about the missing directory.
MIDDLEWARE = [m for m in MIDDLEWARE if not m.startswith("whitenoise.")]
# In-process tests sweep explicitly (each test has its own event loop); daphne processes started
# by tests get TURN_SWEEP_SECONDS from their environment.
TURN_SWEEP_SECONDS = float(os.environ.get("TURN_SWEEP_SECONDS", "0"))
