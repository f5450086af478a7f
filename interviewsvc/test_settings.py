"""Settings for the test suite: the real settings with a fixed key and fast hashing."""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-0123456789abcdef0123456789abcdef")
# Export job files of this test run, shared with the worker and daphne processes tests start
# (they inherit the environment); tests that read files point the storage at their tmp_path.
os.environ.setdefault("EXPORT_FILES_DIR", tempfile.mkdtemp(prefix="interviewsvc-test-exports-"))

from interviewsvc.settings import *  # noqa: F403
from interviewsvc.settings import ALLOWED_HOSTS, MIDDLEWARE, REST_FRAMEWORK, STORAGES

# The test client's host. The WebSocket origin check captures ALLOWED_HOSTS when the ASGI app is
# built, which can be before pytest-django adds "testserver" itself.
ALLOWED_HOSTS = [*ALLOWED_HOSTS, "testserver"]

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The test client and the daphne processes of the tests speak plain HTTP; the redirect itself is
# tested with the production settings (tests/test_security_settings.py).
SECURE_SSL_REDIRECT = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "exports": STORAGES["exports"],
}
# Throttling is exercised by its own tests with low rates; the rest of the suite must not trip it.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"anon": "100000/minute", "user": "100000/minute"},
}
# Tests never collect static files. In-process tests need none; a daphne process a browser test
# starts with TEST_SERVE_STATIC=1 serves them from the apps' static directories (Swagger UI, the
# admin's CSS), the way `./dev run` serves the collected copies.
if os.environ.get("TEST_SERVE_STATIC") == "1":
    STATIC_ROOT = None
    WHITENOISE_USE_FINDERS = True
else:
    MIDDLEWARE = [m for m in MIDDLEWARE if not m.startswith("whitenoise.")]
# In-process tests sweep explicitly (each test has its own event loop); daphne processes started
# by tests get TURN_SWEEP_SECONDS from their environment.
TURN_SWEEP_SECONDS = float(os.environ.get("TURN_SWEEP_SECONDS", "0"))
# The shared WebSocket limits (interviews/realtime/quotas.py) are exercised by their own tests with
# low values; the rest of the suite must not trip them. Daphne processes started by tests take
# them from their environment.
WS_USER_RATE_LIMIT_PER_MINUTE = int(os.environ.get("WS_USER_RATE_LIMIT_PER_MINUTE", "100000"))
WS_INTERVIEW_RATE_LIMIT_PER_MINUTE = int(os.environ.get("WS_INTERVIEW_RATE_LIMIT_PER_MINUTE", "100000"))
WS_MAX_SOCKETS_PER_USER = int(os.environ.get("WS_MAX_SOCKETS_PER_USER", "1000"))
# Tasks run in-process after commit even in the PostgreSQL + Redis pass: only the tests that start
# a Celery worker send them to the broker (tests/test_tasks_worker.py), so no other test leaves
# a message that nobody consumes.
TASKS_IN_PROCESS = os.environ.get("TASKS_IN_PROCESS", "1") == "1"
# No beat runs the sweep then: daphne processes started by tests sweep (when TURN_SWEEP_SECONDS > 0).
TURN_SWEEP_IN_WEB = os.environ.get("TURN_SWEEP_IN_WEB", "1" if TASKS_IN_PROCESS else "0") == "1"
