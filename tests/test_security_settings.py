"""Production settings: what refuses to start, what is on by default with DEBUG off, what every
response carries (issue 15, "Configuration")."""

import re
import secrets
import subprocess
import sys

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.cache import caches
from django.test import Client, override_settings

from tests.test_project import ROOT, settings_in_subprocess

KEY = "k" + secrets.token_urlsafe(50)


def production_env_from_docs() -> dict:
    """The ``env`` block of docs/operations.md's "Settings for production", as written there."""
    text = (ROOT / "docs" / "operations.md").read_text()
    section = text.split("### Settings for production", 1)[1]
    block = re.search(r"```env\n(.*?)```", section, re.DOTALL).group(1)
    env = dict(line.split("=", 1) for line in block.splitlines() if line and not line.startswith("#"))
    assert env["SECRET_KEY"].startswith("<"), "the docs show a placeholder, not a key"
    return {**env, "SECRET_KEY": KEY}


def manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    import os

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_SETTINGS"))}
    for name in ("SECRET_KEY", "DEBUG", "DATABASE_URL", "REDIS_URL"):
        clean.pop(name, None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "interviewsvc.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_nothing_starts_without_a_secret_key_even_with_debug_on():
    for debug in ("0", "1"):
        result = settings_in_subprocess({"DEBUG": debug, "SECRET_KEY": ""}, "s.SECRET_KEY")
        assert result.returncode != 0
        assert "SECRET_KEY must be set" in result.stderr
        assert "./dev run" in result.stderr


def test_dev_run_writes_a_key_into_dot_env_once(tmp_path):
    function = re.search(r"^secret_key\(\) \{.*?^\}", (ROOT / "dev").read_text(), re.DOTALL | re.MULTILINE).group(0)
    (tmp_path / ".env").write_text("DEBUG=1\nSECRET_KEY=\nLOG_LEVEL=INFO\n")
    script = f"{function}\nsecret_key\nsecret_key\n"
    env = {"PATH": f"{sys.executable.rsplit('/', 1)[0]}:/usr/bin:/bin"}
    subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, check=True, capture_output=True)
    lines = (tmp_path / ".env").read_text().splitlines()
    keys = [line for line in lines if line.startswith("SECRET_KEY=")]
    assert len(keys) == 1
    assert len(keys[0]) > len("SECRET_KEY=") + 40
    assert lines[0] == "DEBUG=1"
    assert lines[-1] == "LOG_LEVEL=INFO"


def test_debug_off_turns_on_https_redirect_hsts_and_secure_cookies():
    result = settings_in_subprocess(
        {"DEBUG": "0", "SECRET_KEY": KEY},
        "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "hasattr(s, 'SECURE_PROXY_SSL_HEADER')",
    )
    assert result.stdout.split() == ["True", "31536000", "True", "True", "False"], result.stderr


def test_check_deploy_is_clean_with_the_documented_production_settings():
    result = manage(production_env_from_docs(), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_with_the_debug_defaults():
    """The check above is not vacuous: the same command with DEBUG on fails."""
    result = manage({"DEBUG": "1", "SECRET_KEY": KEY}, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    assert "security.W018" in result.stderr + result.stdout


@pytest.mark.django_db
def test_plain_http_is_redirected_to_https_except_the_probes():
    with override_settings(SECURE_SSL_REDIRECT=True):
        client = Client()
        response = client.get("/api/v1/auth/me")
        assert response.status_code == 301
        assert response["Location"] == "https://testserver/api/v1/auth/me"
        assert client.get("/health").status_code == 200
        secure = client.get("/health", secure=True)
        assert secure["Strict-Transport-Security"].startswith("max-age=")


@pytest.mark.django_db
def test_built_in_pages_carry_a_csp_whose_nonce_is_on_their_inline_code(client):
    response = client.get("/login/")
    policy = response["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "object-src 'none'" in policy
    assert f'nonce="{nonce}"'.encode() in response.content
    # A new nonce per response.
    assert client.get("/login/")["Content-Security-Policy"] != policy


@pytest.mark.django_db
def test_swagger_ui_has_no_inline_script(client):
    page = client.get("/api/v1/docs/").content.decode()
    assert "<script>" not in page
    script = re.search(r'<script src="([^"]*docs[^"]*)"', page).group(1)
    assert client.get(script).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/interviews", "/api/v1/auth/token", "/api/nothing-here"])
def test_a_host_not_allowed_gets_the_envelope_under_api(client, path):
    response = client.get(path, HTTP_HOST="evil.example")
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "error"
    assert body["error_code"] == "bad_request"
    assert body["data"] is None
    assert "ALLOWED_HOSTS" in body["message"]
    assert response["X-Request-ID"] == body["meta"]["request_id"]


@pytest.mark.django_db
def test_a_host_not_allowed_outside_api_gets_a_page(client):
    response = client.get("/login/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


def rsa_private_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def test_rs256_without_a_private_key_refuses_to_start_with_a_clear_message():
    result = settings_in_subprocess({"DEBUG": "0", "SECRET_KEY": KEY, "JWT_ALGORITHM": "RS256"}, "1")
    assert result.returncode != 0
    assert "JWT_ALGORITHM=RS256 needs JWT_SIGNING_KEY" in result.stderr
    bad = settings_in_subprocess(
        {"DEBUG": "0", "SECRET_KEY": KEY, "JWT_ALGORITHM": "RS256", "JWT_SIGNING_KEY": "not a key"}, "1"
    )
    assert bad.returncode != 0
    assert "JWT_SIGNING_KEY is not an unencrypted PEM private key" in bad.stderr


def test_rs256_with_a_private_key_mints_tokens_verified_by_the_derived_public_key():
    code = (
        "s.SIMPLE_JWT['VERIFYING_KEY'].startswith('-----BEGIN PUBLIC KEY'), "
        "__import__('jwt').decode(__import__('jwt').encode({'a': 1}, s.SIMPLE_JWT['SIGNING_KEY'], 'RS256'), "
        "s.SIMPLE_JWT['VERIFYING_KEY'], ['RS256'])"
    )
    env = {"DEBUG": "0", "SECRET_KEY": KEY, "JWT_ALGORITHM": "RS256", "JWT_SIGNING_KEY": rsa_private_pem()}
    result = settings_in_subprocess(env, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True {'a': 1}"


def test_without_redis_the_local_cache_holds_tickets_and_counters_of_a_busy_process(settings):
    if settings.REDIS_URL:
        pytest.skip("the Redis cache is used when REDIS_URL is set; this checks the in-process one")
    cache = caches["default"]
    assert cache._max_entries >= 100_000
    for n in range(1_000):
        cache.set(f"ticket-{n}", n, 60)
    assert cache.get("ticket-0") == 0


def test_compose_defaults_are_safe():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    web = compose["services"]["web"]
    env = web["environment"]
    assert env["SESSION_COOKIE_SECURE"].endswith(":-1}")
    assert env["CSRF_COOKIE_SECURE"].endswith(":-1}")
    assert env["DAPHNE_PROXY_HEADERS"].endswith(":-0}")
    assert all(port.startswith("127.0.0.1:") for port in web["ports"])
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--proxy-headers interviewsvc" not in dockerfile
    assert '[ \\"$DAPHNE_PROXY_HEADERS\\" = 1 ] && echo --proxy-headers' in dockerfile
