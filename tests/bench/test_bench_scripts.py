"""The REST and writers benchmarks stay runnable: each one with tiny sizes, end to end.

They need a PostgreSQL server (the one DATABASE_URL points at); each run creates its own
``bench_smoke_*`` database and must drop it and stop its daphne processes.
"""

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def run(script: str, *args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, f"bench/{script}", *args],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def server_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgresql://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/postgres"


def database_exists(name: str) -> bool:
    with psycopg.connect(server_url()) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


@pytest.mark.postgres
def test_rest_bench_measures_every_endpoint_and_cleans_up():
    name = f"bench_smoke_rest_{os.getpid()}"
    result = run(
        "rest_bench.py",
        *("--interviews", "300", "--messages", "1500", "--concurrency", "1,3", "--processes", "2"),
        *("--requests", "30", "--duration", "3", "--db-name", name),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for endpoint in ("list", "retrieve", "continue"):
        for clients in (1, 3):
            line = re.search(rf"^{endpoint}\s+{clients} \|(.*)$", result.stdout, re.MULTILINE)
            assert line, f"no {endpoint} x{clients} row in:\n{result.stdout}"
            app_rate, _, _, _, bare_rate, *_, errors = line.group(1).replace("|", " ").replace(",", "").split()
            assert float(app_rate) > 0
            assert float(bare_rate) > 0
            assert errors == "0"
    assert "PostgreSQL" in result.stdout  # the machine line the figures are quoted with
    assert not database_exists(name)
    ports = [int(port) for port in re.search(r"daphne ports: ([\d, ]+)", result.stdout).group(1).split(", ")]
    assert len(ports) == 2
    for port in ports:  # every daphne process was stopped
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"something still listens on {port}"


@pytest.mark.postgres
def test_writers_bench_checks_the_sequence_and_cleans_up():
    name = f"bench_smoke_writers_{os.getpid()}"
    result = run("writers_bench.py", "--writers", "4", "--messages-per-writer", "5", "--db-name", name)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for label in ("bare psycopg, threads", "service, threads", "service, processes"):
        line = next(line for line in result.stdout.splitlines() if line.startswith(label))
        assert "ok: 1..20, message_count 20" in line, line
    assert not database_exists(name)


@pytest.mark.postgres
def test_ws_bench_answers_over_every_socket_and_cleans_up():
    name = f"bench_smoke_ws_{os.getpid()}"
    result = run("ws_bench.py", "--sockets", "3,6", "--answers", "2", "--processes", "2", "--db-name", name)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for sockets in (3, 6):
        line = re.search(rf"^\s+{sockets} \|(.*)$", result.stdout, re.MULTILINE)
        assert line, f"no row for {sockets} sockets in:\n{result.stdout}"
        _, _, app_rate, app_err, app_disc, app_gaps, _, _, bare_rate, bare_err, bare_disc, bare_gaps, _ = (
            line.group(1).replace("|", " ").replace(",", "").split()
        )
        assert float(app_rate) > 0
        assert float(bare_rate) > 0
        assert (app_err, app_disc, app_gaps, bare_err, bare_disc, bare_gaps) == ("0", "0", "ok", "0", "0", "ok")
    assert not database_exists(name)


def test_bench_refuses_a_database_not_named_bench():
    result = run("writers_bench.py", "--db-name", "test")
    assert result.returncode != 0
    assert "refusing to use database 'test'" in result.stderr + result.stdout
