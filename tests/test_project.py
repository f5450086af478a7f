"""The project's wiring: settings from the environment, compose file, CI script, migrations."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def settings_in_subprocess(env: dict, expr: str) -> subprocess.CompletedProcess:
    code = f"import interviewsvc.settings as s; print({expr})"
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "DATABASE_URL", "REDIS_URL")}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


def test_production_refuses_to_start_without_secret_key():
    result = settings_in_subprocess({"DEBUG": "0", "SECRET_KEY": ""}, "s.SECRET_KEY")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_embedded_defaults_are_sqlite_and_in_memory_layer():
    result = settings_in_subprocess(
        {"DEBUG": "1", "SECRET_KEY": "k" * 50},
        "s.DATABASES['default']['ENGINE'], s.CHANNEL_LAYERS['default']['BACKEND']",
    )
    assert "sqlite3" in result.stdout
    assert "InMemoryChannelLayer" in result.stdout


def test_database_and_redis_urls_select_postgres_pool_and_channels_redis():
    result = settings_in_subprocess(
        {
            "DEBUG": "1",
            "SECRET_KEY": "k" * 50,
            "DATABASE_URL": "postgres://u@db:5432/x",
            "REDIS_URL": "redis://r:6379/0",
        },
        "s.DATABASES['default']['ENGINE'], s.DATABASES['default']['CONN_MAX_AGE'], "
        "'pool' in s.DATABASES['default']['OPTIONS'], s.CHANNEL_LAYERS['default']['BACKEND']",
    )
    expected = "django.db.backends.postgresql 0 True interviewsvc.channel_layer.ResilientRedisPubSubChannelLayer"
    assert result.stdout.strip() == expected, result.stderr
    from channels_redis.pubsub import RedisPubSubChannelLayer

    from interviewsvc.channel_layer import ResilientRedisPubSubChannelLayer

    assert issubclass(ResilientRedisPubSubChannelLayer, RedisPubSubChannelLayer)


def test_env_example_documents_every_variable_read_by_settings():
    import re

    settings_text = (ROOT / "interviewsvc" / "settings.py").read_text()
    read = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z_]+)"', settings_text))
    documented = set(re.findall(r"^#?\s*([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert read - documented == set()


def test_compose_file_starts_postgres_redis_and_web_in_order():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["db"]["image"] == "postgres:17.6-alpine"
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    volume = services["db"]["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]
    assert services["redis"]["image"].startswith("redis")
    assert services["web"]["depends_on"]["db"]["condition"] == "service_healthy"
    env = services["web"]["environment"]
    assert env["DATABASE_URL"].startswith("postgres://")
    assert env["REDIS_URL"].startswith("redis://")
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "migrate --noinput && exec daphne" in dockerfile


def test_ci_runs_the_readme_test_command_on_both_databases():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "./dev test" in ci
    assert "DATABASE_URL=" in ci
    assert "REDIS_URL=" in ci
    commands = [line.strip() for line in readme.split("```")[1].splitlines() if line.strip()]
    assert commands == ["./dev run", "./dev test"]


@pytest.mark.django_db
def test_migrations_are_complete():
    from io import StringIO

    from django.core.management import call_command

    call_command("makemigrations", "--check", "--dry-run", stdout=StringIO())
