"""What the PostgreSQL benchmarks share: their own throw-away database, Django set up on it,
daphne processes on free loopback ports, and latency statistics.

A benchmark only ever creates, loads and drops a database whose name starts with ``bench``;
the server (host, port, user, password) comes from ``DATABASE_URL`` when that points at
PostgreSQL, so the database named there is never touched.
"""

import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/postgres"
# The process-wide environment every benchmark (and the daphne processes it starts) runs with.
BENCH_ENV = {
    "DJANGO_SETTINGS_MODULE": "interviewsvc.settings",
    "DEBUG": "0",
    "SECURE_SSL_REDIRECT": "0",  # the benchmark speaks plain HTTP to daphne
    "SECRET_KEY": "bench-only-secret-key-" + "x" * 40,
    "JWT_ACCESS_MINUTES": "240",
    # The benchmark measures the service, not the per-user rate limit (600/minute by default).
    "THROTTLE_USER_RATE": "100000000/second",
    "THROTTLE_ANON_RATE": "100000000/second",
}


# --- the benchmark database ------------------------------------------------------------------


def database_url(name: str) -> str:
    """``DATABASE_URL``'s server (or the local default) with the database ``name``."""
    if not name.startswith("bench"):
        raise SystemExit(f"refusing to use database {name!r}: benchmark databases are named bench*")
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://")):
        base = DEFAULT_SERVER_URL
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))


def _maintenance_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/postgres", "", ""))


def database_recreate(url: str) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(_maintenance_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def database_drop(url: str) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(_maintenance_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_finish(url: str, *, keep: bool) -> None:
    """Close this process's Django connections, then drop the benchmark database unless ``keep``."""
    from django.db import connections

    connections.close_all()
    if keep:
        print(f"kept database {urlsplit(url).path.lstrip('/')}")
    else:
        database_drop(url)


def psycopg_url(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


def django_setup(url: str, *, redis_url: str = "", pool_max: int = 20) -> None:
    """Set up Django on the benchmark database and migrate it (in this process)."""
    os.environ.update(BENCH_ENV)
    os.environ["DATABASE_URL"] = url
    os.environ["DATABASE_POOL_MAX_SIZE"] = str(pool_max)
    os.environ["CHANNELS_PREFIX"] = "bench"
    if redis_url:
        os.environ["REDIS_URL"] = redis_url
    else:
        os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def machine(url: str) -> str:
    """CPUs, memory, Python and the PostgreSQL version of ``url``'s server."""
    import psycopg

    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    py = ".".join(map(str, sys.version_info[:3]))
    try:
        with psycopg.connect(psycopg_url(_maintenance_url(url))) as conn:
            pg = conn.execute("SHOW server_version").fetchone()[0]
    except psycopg.Error:
        pg = "?"
    return f"{os.cpu_count()} CPUs, {memory_gib:.1f} GiB RAM, Python {py}, PostgreSQL {pg}"


# --- daphne ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Servers:
    ports: list[int]
    log_path: Path
    pids: list[int] = field(default_factory=list)  # to watch a server's memory (export_bench)

    @property
    def base_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    def log_tail(self, chars: int = 3000, *, without_access: bool = False) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        if without_access:  # daphne's access lines start with the client address
            text = "".join(line for line in text.splitlines(keepends=True) if not line.startswith("127.0.0.1:"))
        return text[-chars:]


@contextmanager
def daphne_servers(count: int, env: dict[str, str], *, ready_timeout: float = 60.0):
    """Run ``count`` daphne processes of the real ASGI app on free loopback ports.

    They are stopped (SIGTERM, then SIGKILL) when the block exits, however it exits.
    """
    # BENCH_DAPHNE_LOG names a file to keep the servers' output in (for diagnosis).
    keep_log = os.environ.get("BENCH_DAPHNE_LOG", "")
    log_dir = Path(tempfile.mkdtemp(prefix="bench-daphne-"))
    log_path = Path(keep_log) if keep_log else log_dir / "daphne.log"
    procs: list[subprocess.Popen] = []
    ports: list[int] = []
    daphne = str(Path(sys.executable).with_name("daphne"))
    with open(log_path, "ab") as log:
        try:
            for _ in range(count):
                port = free_port()
                procs.append(
                    subprocess.Popen(
                        [daphne, "-b", "127.0.0.1", "-p", str(port), "interviewsvc.asgi:application"],
                        cwd=ROOT,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
                ports.append(port)
            servers = Servers(ports=ports, log_path=log_path, pids=[p.pid for p in procs])
            _wait_ready(servers, procs, ready_timeout)
            yield servers
        finally:
            processes_stop(procs)
            if not keep_log:
                log_path.unlink(missing_ok=True)
            log_dir.rmdir()


def processes_stop(procs: list[subprocess.Popen]) -> None:
    """SIGTERM every process still running, then SIGKILL what has not exited after 10 s."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_answering(url: str, proc: subprocess.Popen, *, timeout: float, what: str, detail=lambda: "") -> None:
    """Wait until ``url`` answers 200; RuntimeError if ``proc`` exits first or ``timeout`` passes.

    ``detail()`` is appended to the error (e.g. the server's log tail).
    """
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}{detail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {timeout:.0f}s{detail()}")
        time.sleep(0.2)


def _wait_ready(servers: Servers, procs: list[subprocess.Popen], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for url, proc in zip(servers.base_urls, procs, strict=True):
        wait_answering(
            f"{url}/health",
            proc,
            timeout=max(deadline - time.monotonic(), 0.0),
            what=f"daphne on {url}",
            detail=lambda: f":\n{servers.log_tail()}",
        )


# --- statistics ------------------------------------------------------------------------------


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def install_sigterm_as_exit() -> None:
    """Turn SIGTERM into SystemExit so ``finally`` blocks stop servers and drop databases."""

    def _exit(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)


async def bare_turn(conn, interview_id, answer: str, reply: str = "Next?") -> tuple[int, int]:
    """The bare baseline of a turn (psycopg, async): lock the interview, bump its counters,
    insert the answer and a reply. The caller wraps it in a transaction. Returns their numbers."""
    cursor = await conn.execute(
        "SELECT message_count, language FROM interviews_interview WHERE id = %s FOR UPDATE", [interview_id]
    )
    last, language = await cursor.fetchone()
    await conn.execute(
        "UPDATE interviews_interview SET message_count = %s, question_count = question_count + 1, "
        "updated_at = now() WHERE id = %s",
        [last + 2, interview_id],
    )
    now = datetime.now(UTC)
    await conn.execute(
        "INSERT INTO interviews_interviewmessage (id, interview_id, role, content, sequence_number, "
        "evaluation, metadata, created_at, language) VALUES "
        "(%s, %s, 'user', %s, %s, NULL, '{}', %s, %s), (%s, %s, 'assistant', %s, %s, NULL, '{}', %s, %s)",
        [
            *(uuid.uuid4(), interview_id, answer, last + 1, now, language),
            *(uuid.uuid4(), interview_id, reply, last + 2, now, language),
        ],
    )
    return last + 1, last + 2
