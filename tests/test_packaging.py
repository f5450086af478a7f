"""What a new user copies and what the image installs (issue 20): `.env.example` works as is,
`./dev run` serves where it says, the runtime requirements stand alone, the image is lean."""

import ast
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from importlib.metadata import packages_distributions
from pathlib import Path

import yaml

from tests.test_project import ROOT, settings_in_subprocess

KEY = "k" + secrets.token_urlsafe(50)
RUNTIME_PACKAGES = ("interviewsvc", "accounts", "interviews")


def env_example() -> dict[str, str]:
    text = (ROOT / ".env.example").read_text()
    return dict(re.findall(r"^([A-Z_]+)=(.*)$", text, re.MULTILINE))


def requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(normalized(re.split(r"[\[=<>~ ]", line, maxsplit=1)[0]))
    return names


def normalized(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- .env.example ---------------------------------------------------------------------------


def test_an_empty_variable_means_the_default():
    result = settings_in_subprocess(
        {
            "DEBUG": "0",
            "SECRET_KEY": KEY,
            "DATABASE_URL": "",
            "REDIS_URL": "",
            "LOG_JSON": "",
            "JWT_ACCESS_MINUTES": "",
            "SESSION_COOKIE_SECURE": "",
            "TURN_TIMEOUT_SECONDS": "",
            "ALLOWED_HOSTS": "",
        },
        "s.DATABASES['default']['ENGINE'], s.CHANNEL_LAYERS['default']['BACKEND'], s.LOG_JSON, "
        "int(s.SIMPLE_JWT['ACCESS_TOKEN_LIFETIME'].total_seconds()), s.SESSION_COOKIE_SECURE, "
        "s.TURN_TIMEOUT_SECONDS, s.ALLOWED_HOSTS",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split(" ", 6) == [
        "django.db.backends.sqlite3",
        "channels.layers.InMemoryChannelLayer",
        "True",
        "900",
        "True",
        "90.0",
        "['localhost', '127.0.0.1', '[::1]']\n",
    ]


def test_env_example_allowed_hosts_is_the_default_of_the_code_and_the_readme():
    result = settings_in_subprocess({"SECRET_KEY": KEY, "ALLOWED_HOSTS": ""}, "','.join(s.ALLOWED_HOSTS)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == env_example()["ALLOWED_HOSTS"]
    readme_row = next(line for line in (ROOT / "README.md").read_text().splitlines() if "| `ALLOWED_HOSTS`" in line)
    assert f"`{env_example()['ALLOWED_HOSTS']}`" in readme_row


def test_env_example_copied_to_dot_env_as_is_serves_the_api(tmp_path):
    """The README's path: copy .env.example to .env, `./dev run` fills SECRET_KEY, the service
    migrates and serves. Runs in a copy of the code so the checkout's own .env is never touched."""
    for name in (*RUNTIME_PACKAGES, "templates"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "manage.py", tmp_path)
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    fill_secret_key = re.search(r"^secret_key\(\) \{.*?^\}", (ROOT / "dev").read_text(), re.DOTALL | re.MULTILINE)
    bin_dir = str(Path(sys.executable).parent)
    subprocess.run(
        ["bash", "-c", f"{fill_secret_key.group(0)}\nsecret_key\n"],
        cwd=tmp_path,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
        check=True,
        capture_output=True,
    )
    # Only .env configures the copy: nothing from this test run's environment (PostgreSQL,
    # Redis, the test settings) leaks in.
    documented = set(env_example())
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in documented and not name.startswith(("PYTEST", "DJANGO_"))
    }
    env |= {"DJANGO_SUPERUSER_USERNAME": "first-admin", "DJANGO_SUPERUSER_PASSWORD": "pw-" + KEY}
    env["DJANGO_SUPERUSER_EMAIL"] = "admin@example.com"

    def manage(*args: str) -> None:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
        )
        assert result.returncode == 0, result.stdout + result.stderr

    manage("check")
    manage("migrate", "--noinput")
    manage("createsuperuser", "--noinput")
    assert (tmp_path / "db.sqlite3").exists(), "empty DATABASE_URL must mean the SQLite default"

    port = free_port()
    log = (tmp_path / "daphne.log").open("w")
    server = subprocess.Popen(
        [str(Path(bin_dir) / "daphne"), "-b", "127.0.0.1", "-p", str(port), "interviewsvc.asgi:application"],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # bounds a hang only; a loaded machine needs seconds
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=5) as response:
                    assert response.status == 200
                    break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, (tmp_path / "daphne.log").read_text()
                assert time.monotonic() < deadline, (tmp_path / "daphne.log").read_text()
                time.sleep(0.2)
        body = json.dumps({"username": "first-admin", "password": "pw-" + KEY}).encode()
        request = urllib.request.Request(
            f"{base}/api/v1/auth/token", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            access = json.load(response)["data"]["access"]
        request = urllib.request.Request(f"{base}/api/v1/auth/me", headers={"Authorization": f"Bearer {access}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            me = json.load(response)
        assert me["status"] == "success"
        assert me["data"]["username"] == "first-admin"
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


# --- ./dev ----------------------------------------------------------------------------------


def fake_checkout(tmp_path: Path) -> Path:
    """``dev`` and the requirements files next to a venv whose python logs its arguments and
    whose daphne prints them: enough to run ``./dev run`` in a second."""
    for name in ("dev", "requirements.txt", "requirements-dev.txt"):
        shutil.copy(ROOT / name, tmp_path)
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text(f'#!/bin/sh\necho "$*" >> {tmp_path}/python.log\n')
    (bin_dir / "daphne").write_text('#!/bin/sh\necho "daphne $*"\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    return tmp_path


def dev_run(checkout: Path, **env: str) -> list[str]:
    result = subprocess.run(
        [str(checkout / "dev"), "run"],
        cwd=checkout,
        env={"PATH": "/usr/bin:/bin", "SECRET_KEY": KEY, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.splitlines()


def test_dev_run_prints_the_address_it_serves(tmp_path):
    checkout = fake_checkout(tmp_path)
    out = dev_run(checkout, HOST="0.0.0.0", PORT="8001")
    assert out[-2].startswith("Serving on http://0.0.0.0:8001 ")
    assert out[-1] == "daphne -b 0.0.0.0 -p 8001 interviewsvc.asgi:application"
    # From .env as the settings read it: the environment first, an empty value is the default.
    (checkout / ".env").write_text("HOST=\nPORT=8002\n")
    out = dev_run(checkout)
    assert out[-2].startswith("Serving on http://127.0.0.1:8002 ")
    assert out[-1] == "daphne -b 127.0.0.1 -p 8002 interviewsvc.asgi:application"


def test_dev_installs_both_requirement_files_again_when_either_changes(tmp_path):
    checkout = fake_checkout(tmp_path)

    def installs() -> list[str]:
        log = checkout / "python.log"
        lines = [line for line in log.read_text().splitlines() if " install " in f" {line} "] if log.exists() else []
        log.unlink(missing_ok=True)
        return lines

    dev_run(checkout)
    assert "-m pip install --quiet -r requirements-dev.txt" in installs()
    dev_run(checkout)
    assert installs() == []
    for name in ("requirements.txt", "requirements-dev.txt"):
        with (checkout / name).open("a") as f:
            f.write("# changed\n")
        dev_run(checkout)
        assert "-m pip install --quiet -r requirements-dev.txt" in installs(), name
    dev_files = (ROOT / "requirements-dev.txt").read_text().splitlines()
    assert "-r requirements.txt" in dev_files


# --- Runtime and development requirements ---------------------------------------------------


def runtime_imports() -> dict[str, set[str]]:
    """Top-level modules imported anywhere in the service's code, each with the files that do."""
    imports: dict[str, set[str]] = {}
    for package in RUNTIME_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    imports.setdefault(module.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return imports


def test_the_service_imports_no_development_only_package():
    runtime = requirement_names(ROOT / "requirements.txt")
    dev_only = requirement_names(ROOT / "requirements-dev.txt") - runtime
    assert {"pytest", "ruff", "playwright", "schemathesis", "factory-boy", "websockets"} <= dev_only
    distributions = packages_distributions()
    offenders = {
        module: sorted(files)
        for module, files in runtime_imports().items()
        if {normalized(d) for d in distributions.get(module, [])} & dev_only
    }
    assert offenders == {}


def test_runtime_requirements_are_pinned_and_hold_no_tooling():
    lines = [line.split("#", 1)[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    requirements = [line for line in lines if line]
    assert requirements
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-\[\],]+==[0-9][0-9A-Za-z.]*", r) for r in requirements)
    tooling = {"pytest", "pytest-django", "pytest-asyncio", "factory-boy", "ruff", "playwright", "schemathesis"}
    assert requirement_names(ROOT / "requirements.txt") & tooling == set()
    dev = [line.split("#", 1)[0].strip() for line in (ROOT / "requirements-dev.txt").read_text().splitlines()]
    assert all("==" in line for line in dev if line and not line.startswith("-r "))


def test_ci_runs_the_service_from_the_runtime_requirements_alone():
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r'-m venv "\$runtime/venv"\n.*pip install .*-r requirements\.txt\n', ci)
    assert "requirements-dev.txt" not in ci
    check = (ROOT / ".ci" / "runtime_check.py").read_text()
    assert '"check", "--deploy", "--fail-level", "WARNING"' in check
    assert "### Settings for production" in check


# --- The image ------------------------------------------------------------------------------


def test_image_installs_the_runtime_set_and_runs_as_a_non_root_user():
    dockerfile = (ROOT / "Dockerfile").read_text()
    installs = re.findall(r"^RUN .*pip install (.*)$", dockerfile, re.MULTILINE)
    assert installs == ["-r requirements.txt"]
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")
    assert dockerfile.index("USER ") < dockerfile.index("CMD ")
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", "tests", "bench"} <= set(ignored)


def test_compose_pins_redis_gives_web_time_to_migrate_and_says_how_to_get_an_admin():
    text = (ROOT / "docker-compose.yml").read_text()
    services = yaml.safe_load(text)["services"]
    assert re.fullmatch(r"redis:\d+\.\d+(\.\d+)?-alpine", services["redis"]["image"])
    assert re.fullmatch(r"\d+s", services["web"]["healthcheck"]["start_period"])
    command = "docker compose exec web python manage.py createsuperuser"
    assert command in text
    assert command in (ROOT / "README.md").read_text()
    assert command in (ROOT / "docs" / "operations.md").read_text()
