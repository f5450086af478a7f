"""The PostgreSQL benchmarks stay runnable: each one with tiny sizes, end to end.

They need a PostgreSQL server (the one DATABASE_URL points at; the LLM one also Redis); each run
creates its own ``bench_smoke_*`` database and must drop it and stop its daphne processes. The
LLM benchmark's fake model (``bench/fake_llm.py``) is tested on its own too.
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


@pytest.mark.postgres
def test_search_bench_compares_with_icontains_and_cleans_up():
    name = f"bench_smoke_search_{os.getpid()}"
    result = run("search_bench.py", "--messages", "4000", "--repeat", "2", "--inserts", "5", "--db-name", name)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for kind, matches in (("many", None), ("few", "20"), ("none", "0")):
        line = re.search(rf"^{kind}\s+(\S+) \|(.*)$", result.stdout, re.MULTILINE)
        assert line, f"no {kind} row in:\n{result.stdout}"
        if matches is not None:
            assert line.group(1) == matches
        full_p50, _, _, _, icontains_p50, *_ = line.group(2).replace("|", " ").split()
        assert float(full_p50) > 0
        assert float(icontains_p50) > 0
    assert int(re.search(r"^many\s+([\d,]+) \|", result.stdout, re.MULTILINE).group(1).replace(",", "")) > 100
    assert "insert (one message" in result.stdout
    assert not database_exists(name)


def test_bench_refuses_a_database_not_named_bench():
    result = run("writers_bench.py", "--db-name", "test")
    assert result.returncode != 0
    assert "refusing to use database 'test'" in result.stderr + result.stdout


def test_patches_bench_measures_each_patch_against_the_stock_path():
    # SQLite in the plain pass; in the PostgreSQL pass DATABASE_URL makes it use (and drop) its own database.
    name = f"bench_smoke_patches_{os.getpid()}"
    result = run("patches_bench.py", "--rounds", "2", "--batch", "2", "--sockets", "3", "--db-name", name)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = {}
    for line in result.stdout.splitlines():
        cells = [cell.strip() for cell in line.split("|")]
        if len(cells) == 12 and cells[0] in ("asgi_handler", "consumer dispatch", "filter form class"):
            rows[(cells[0], cells[1])] = [float(c.replace(",", "").split("/")[0]) for c in cells[2:]]
    assert {patch for patch, _ in rows} == {"asgi_handler", "consumer dispatch", "filter form class"}
    assert len(rows) == 7, result.stdout
    for row, (stock, patched, ratio, *_, stock_calls, patched_calls, calls_ratio) in rows.items():
        assert min(stock, patched, ratio) > 0, row
        # Python calls are deterministic: each patch still skips work the stock path does.
        assert 0 < patched_calls < stock_calls, row
        assert calls_ratio < 1, row
    for what in ("load average", "Django 5.", "channels 4.", "django-filter "):  # what the figures are quoted with
        assert what in result.stdout
    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        assert f"database {name} on PostgreSQL" in result.stdout
        assert not database_exists(name)


# --- the LLM benchmark and its fake model --------------------------------------------------------


def llm_bench_row(stdout: str, scenario: str, processes: int) -> dict:
    line = re.search(rf"^{scenario}\s+{processes}\s+(\d.*)$", stdout, re.MULTILINE)
    assert line, f"no {scenario} x{processes} row in:\n{stdout}"
    cells = line.group(1).replace("|", " ").split()
    names = ["clients", "answers", "model", "ttft", "turns", "rate", "ideal", "ratio", "over_p50", "over_p99"]
    names += ["delta_p50", "delta_p99", "deltas_per_turn", "errors", "n503", "db_max", "db_limit", "transcript"]
    return dict(zip(names, cells, strict=False))


@pytest.mark.postgres
@pytest.mark.redis
def test_llm_bench_streams_every_scenario_and_cleans_up():
    from tests.interviews.realtime_support import REDIS_URL, redis_answers

    if reason := redis_answers():
        pytest.skip(reason)
    name = f"bench_smoke_llm_{os.getpid()}"
    result = run(
        "llm_bench.py",
        *("--interviews", "3", "--answers", "2", "--latency", "0.3", "--ttft", "0.1"),
        *("--sockets-big", "6", "--latency-big", "0.5", "--ttft-big", "0.1", "--processes", "1,2"),
        *("--db-name", name, "--redis-url", REDIS_URL),
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    expected_turns = {"rest": 3 * 3, "sse": 3 * 3, "ws": 3 * 2, "ws1000": 6 * 2}  # REST: start + 2 answers
    for scenario, turns in expected_turns.items():
        for processes in (1, 2):
            row = llm_bench_row(result.stdout, scenario, processes)
            assert int(row["turns"]) == turns, row
            assert float(row["rate"]) > 0, row
            assert (row["errors"], row["n503"], row["transcript"]) == ("0", "0", "ok"), row
            assert int(row["db_max"]) <= int(row["db_limit"]) == 20 * processes, row
            if scenario != "rest":  # the question streamed: deltas, the first one timed against the model's
                assert float(row["deltas_per_turn"]) >= 1, row
                assert row["delta_p50"] != "-", row
    assert "targets (issue 14):" in result.stdout
    assert "PostgreSQL" in result.stdout  # the machine line the figures are quoted with
    assert not database_exists(name)


def test_fake_llm_streams_openai_chunks_after_the_first_token_delay():
    import http.client
    import json
    import time

    from bench.fake_llm import TURN_MARKER, FakeLLM, reply_for, running

    fake = FakeLLM(ttft=0.3, latency=0.6)
    messages = [
        {"role": "system", "content": "Write in Spanish only."},
        {"role": "assistant", "content": "¿Cuál es tu puesto?"},
        {"role": "user", "content": "Hago compras en SAP. [bench:t-1]"},
    ]
    with running(fake) as base:
        port = int(base.rsplit(":", 1)[1].split("/")[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        body = json.dumps({"model": "m", "stream": True, "messages": messages})
        sent = time.monotonic()
        conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type").startswith("text/event-stream")
        chunks, first_at, done = [], None, False
        for raw in iter(response.readline, b""):
            line = raw.decode().rstrip("\r\n")
            if not line:
                continue
            assert line.startswith("data: "), line
            if line == "data: [DONE]":
                done = True
                break
            chunk = json.loads(line[len("data: ") :])
            assert chunk["object"] == "chat.completion.chunk"
            assert {"id", "created", "model", "choices"} <= set(chunk)
            if chunk["choices"][0]["delta"].get("content"):
                first_at = first_at or time.monotonic()
            chunks.append(chunk)
        total = time.monotonic() - sent
        conn.close()

        assert done
        content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
        assert content == reply_for(messages)
        assert len(chunks) > 20  # tokens of about four characters, one chunk each
        assert [c["choices"][0]["finish_reason"] for c in chunks[-2:]] == [None, "stop"]
        assert 0.25 <= first_at - sent < 0.5
        assert 0.55 <= total < 1.0
        question, marker, tail = content.partition(f"\n{TURN_MARKER}\n")
        assert marker
        assert 25 <= len(question.split()) <= 40
        assert question.startswith("¿")  # Spanish, as the system prompt asks
        turn = json.loads(tail)
        assert turn["is_final"] is False
        assert turn["evaluation"]["score"] == 70

        stats_conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        stats_conn.request("GET", "/stats")
        stats = json.loads(stats_conn.getresponse().read())
        stats_conn.close()
    [record] = stats["records"]
    assert record["tag"] == "t-1"
    assert record["first_token"] - record["arrived"] >= 0.3
    assert record["first_token"] <= first_at  # the same monotonic clock as this process


async def test_fake_llm_serves_hundreds_of_streams_at_once():
    import asyncio
    import time

    import aiohttp

    from bench.fake_llm import FakeLLM, running

    # The first token comes after 3 s: long enough that all 300 streams are open together even
    # when a loaded machine takes a second or two to open them (0.2 s was not: 200 of 300 once).
    fake = FakeLLM(ttft=3.0, latency=0.5, chars_per_token=40)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    with running(fake) as base:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

            async def one() -> str:
                async with session.post(f"{base}/chat/completions", json={**body, "stream": True}) as response:
                    return (await response.read()).decode()

            started = time.monotonic()
            bodies = await asyncio.gather(*(one() for _ in range(300)))
            elapsed = time.monotonic() - started
            async with session.get(base.removesuffix("/v1") + "/stats") as response:
                stats = await response.json()
            async with session.post(f"{base}/chat/completions", json=body) as response:
                plain = await response.json()
    assert all(text.endswith("data: [DONE]\n\n") for text in bodies)
    assert stats["streams"] == 300
    assert stats["most_open_streams"] == 300  # all at once: no request waits for another
    assert elapsed < 60  # one after another would take 300 x 3.5 s; this only bounds a hang
    assert plain["object"] == "chat.completion"
    assert "<<<TURN>>>" in plain["choices"][0]["message"]["content"]
