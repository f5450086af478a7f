"""Each speed patch of a library's internals against the stock library path, in the same run.

The project patches three private paths for speed (docs/operations.md, "Patched framework
internals"); this measures whether each still pays on the installed versions:

- ``interviewsvc/asgi_handler.py``: HTTP requests in-process through ``SyncChainASGIHandler``
  against Django's own ``ASGIHandler`` (``/health``, an API request that ends in 401, and a staff
  member's list page of 20 interviews);
- ``interviews/realtime/consumer.py``: ``InterviewConsumer.dispatch`` against Channels'
  ``AsyncConsumer.dispatch`` (which awaits ``aclose_old_connections()`` first), for a client
  ``ping`` frame and a group ``interview.frames`` event, delivered to ``--sockets`` consumers
  at once;
- ``interviews/filters.py``: ``InterviewFilter(...).is_valid()`` with the form class cached
  against django-filter's ``get_form_class``, alone and as part of the list request.

The machine is shared, so wall-clock time is noisy: the two sides run interleaved in one process,
``--rounds`` rounds of ``--batch`` operations each, the order swapped every round, and the
figures are medians over rounds of the per-operation time, wall clock and CPU (the process's
user + system time, every thread counted, which other tenants disturb far less), plus the median
of the same-round ratios patched / stock. No query runs except the list page's: Django runs on
a throw-away SQLite file (migrated, 20 interviews), so the bench needs no server; with
``DATABASE_URL`` pointing at PostgreSQL it creates, uses and drops ``--db-name`` (default
``bench_patches``, must start with ``bench``) on that server instead (bench/README.md). Redis is
never used: the paths measured make no round trip to it of their own.

    .venv/bin/python bench/patches_bench.py [--rounds 30] [--batch 20] [--sockets 50] \
        [--patches asgi,consumer,filter] [--db-name bench_patches]

Figures and verdicts: docs/operations.md, "Patched framework internals".
"""

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Awaitable, Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _support

Side = Callable[[int], Awaitable[None]]  # runs n operations


@dataclass
class Row:
    patch: str
    path: str
    stock_wall: float  # seconds per operation, median over rounds
    patched_wall: float
    stock_cpu: float
    patched_cpu: float
    ratio_wall: float  # median of the rounds' patched / stock
    ratio_cpu: float
    faster_rounds: int  # rounds in which the patched side used less CPU
    rounds: int
    stock_calls: float  # Python function calls per operation (deterministic)
    patched_calls: float


async def python_calls(side: Side, ops: int) -> float:
    """Python function calls per operation of ``side``, in this thread and in every thread it
    starts (Django's per-request thread); an executor thread started before is not counted."""
    count = 0

    def profile(frame, event, arg):
        nonlocal count
        if event == "call":
            count += 1

    sys.setprofile(profile)
    threading.setprofile(profile)
    try:
        await side(1)
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    return count / ops


async def interleaved(
    patch: str, path: str, stock: Side, patched: Side, *, rounds: int, batch: int, per_call: int = 1
) -> Row:
    """Run both sides ``rounds`` times, alternately first, ``batch`` calls of ``per_call``
    operations each."""
    await stock(max(1, batch // 4))  # warm-up: imports, caches, threads
    await patched(max(1, batch // 4))
    times = {"stock": [], "patched": []}
    for r in range(rounds):
        order = (("stock", stock), ("patched", patched)) if r % 2 == 0 else (("patched", patched), ("stock", stock))
        for name, side in order:
            wall, cpu = time.perf_counter(), time.process_time()
            await side(batch)
            ops = batch * per_call
            times[name].append(((time.perf_counter() - wall) / ops, (time.process_time() - cpu) / ops))
    calls = (await python_calls(stock, per_call), await python_calls(patched, per_call))
    s_wall, s_cpu = zip(*times["stock"], strict=True)
    p_wall, p_cpu = zip(*times["patched"], strict=True)
    return Row(
        patch,
        path,
        statistics.median(s_wall),
        statistics.median(p_wall),
        statistics.median(s_cpu),
        statistics.median(p_cpu),
        statistics.median(p / s for p, s in zip(p_wall, s_wall, strict=True)),
        statistics.median(p / s if s else 1.0 for p, s in zip(p_cpu, s_cpu, strict=True)),
        sum(p < s for p, s in zip(p_cpu, s_cpu, strict=True)),
        rounds,
        *calls,
    )


# --- Django, on a throw-away database ------------------------------------------------------


def django_setup(url: str) -> None:
    os.environ["WS_RATE_LIMIT_PER_MINUTE"] = "1000000000"  # the consumer sees thousands of pings
    # The in-memory layer and cache: the paths measured make no Redis round trip of their own.
    _support.django_setup(url)
    # Every unauthenticated request would log a warning line; the bench prints its table only.
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore", message="No directory at")  # WhiteNoise: no collectstatic here


def list_data() -> str:
    """A staff member and 20 interviews in their organization; their ``Authorization`` header."""
    import uuid

    from django.utils import timezone

    from accounts.models import Role, User
    from accounts.serializers import TokenObtainSerializer
    from interviews.models import Interview

    org = uuid.uuid4()
    employee = User.objects.create_user("bench-employee", password="x" * 12, organization_id=org)
    staff = User.objects.create_user("bench-staff", password="x" * 12, role=Role.STAFF, organization_id=org)
    Interview.objects.bulk_create(
        Interview(
            employee=employee, organization_id=org, language="es", technical_level="basic", started_at=timezone.now()
        )
        for _ in range(20)
    )
    return f"Bearer {TokenObtainSerializer.get_token(staff).access_token}"


# --- 1. the ASGI handler ----------------------------------------------------------------------


async def asgi_request(app, path: str, query: str, headers: list[tuple[bytes, bytes]], status: int) -> None:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": [(b"host", b"127.0.0.1"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    received = False

    async def receive():
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # no disconnect: Django cancels this listener when done

    got = []

    async def send(message):
        got.append(message)

    await app(scope, receive, send)
    if got[0]["status"] != status:
        raise SystemExit(f"{path}: expected {status}, got {got[0]['status']}: {got[1:]}")


async def bench_asgi_handler(args, auth: str) -> list[Row]:
    from django.core.handlers.asgi import ASGIHandler

    from interviewsvc.asgi_handler import SyncChainASGIHandler

    stock_app, patched_app = ASGIHandler(), SyncChainASGIHandler()
    rows = []
    for label, path, query, headers, status in (
        ("GET /health", "/health", "", [], 200),
        ("GET /api/v1/interviews (401)", "/api/v1/interviews", "", [], 401),
        (
            "GET /api/v1/interviews (list, 20)",
            "/api/v1/interviews",
            "page_size=20",
            [(b"authorization", auth.encode())],
            200,
        ),
    ):

        def side(app, path=path, query=query, headers=headers, status=status) -> Side:
            async def run(n: int) -> None:
                for _ in range(n):
                    await asgi_request(app, path, query, headers, status)

            return run

        rows.append(
            await interleaved(
                "asgi_handler", label, side(stock_app), side(patched_app), rounds=args.rounds, batch=args.batch
            )
        )
    return rows


# --- 2. the consumer's dispatch ---------------------------------------------------------------


def consumers(count: int) -> list:
    """``count`` InterviewConsumers in the state an open observer socket is in, sending nowhere."""
    from interviews.realtime import audio, auth, limits, quotas
    from interviews.realtime.consumer import InterviewConsumer

    async def nowhere(message) -> None:
        pass

    made = []
    for _ in range(count):
        consumer = InterviewConsumer()
        consumer.scope = {"type": "websocket", "headers": [], "url_route": {"kwargs": {}}}
        consumer.base_send = nowhere
        consumer.role = auth.OBSERVER
        consumer.rate = limits.RateLimit()
        consumer.quota = quotas.SocketQuota()
        consumer.audio = audio.AudioBuffer()
        consumer.last_activity = time.monotonic()
        consumer.sent_sequence = 0
        consumer.sent_status = ""
        made.append(consumer)
    return made


async def bench_consumer(args) -> list[Row]:
    from channels.consumer import AsyncConsumer

    sockets = consumers(args.sockets)
    message = {"id": "0193a1b2-0000-7000-8000-000000000001", "role": "assistant", "content": "Hola"}
    rows = []
    for label, frame in (
        ("client ping frame", {"type": "websocket.receive", "text": '{"type": "ping"}'}),
        (
            "group event, one message frame",
            {"type": "interview.frames", "frames": [{"type": "message", "message": {**message, "sequence_number": 1}}]},
        ),
    ):

        def side(dispatch, frame=frame) -> Side:
            async def run(n: int) -> None:  # n frames to every socket, all sockets at once
                for _ in range(n):
                    await asyncio.gather(*(dispatch(consumer, frame) for consumer in sockets))

            return run

        async def patched(consumer, frame):
            await consumer.dispatch(frame)

        row = await interleaved(
            "consumer dispatch",
            f"{label} x {len(sockets)} sockets",
            side(AsyncConsumer.dispatch),
            side(patched),
            rounds=args.rounds,
            batch=args.batch,
            per_call=len(sockets),
        )
        rows.append(row)
    return rows


# --- 3. the filter's form class ---------------------------------------------------------------


@contextmanager
def stock_filter_form():
    """InterviewFilter with django-filter's own get_form_class (a new form class per instance)."""
    import django_filters

    from interviews.filters import InterviewFilter

    patched = InterviewFilter.__dict__["get_form_class"]
    InterviewFilter.get_form_class = django_filters.FilterSet.get_form_class
    try:
        yield
    finally:
        InterviewFilter.get_form_class = patched


async def bench_filter(args, auth: str) -> list[Row]:
    from interviews.filters import InterviewFilter
    from interviews.models import Interview
    from interviewsvc.asgi_handler import SyncChainASGIHandler

    params = {"status": "completed", "ordering": "-started_at", "page": "1", "page_size": "20"}
    queryset = Interview.objects.none()

    def validate(stock: bool) -> Side:
        async def run(n: int) -> None:
            with stock_filter_form() if stock else _nothing():
                for _ in range(n):
                    if not InterviewFilter(params, queryset=queryset).is_valid():
                        raise SystemExit("the filter refused valid parameters")

        return run

    app = SyncChainASGIHandler()

    def listing(stock: bool) -> Side:
        async def run(n: int) -> None:
            with stock_filter_form() if stock else _nothing():
                for _ in range(n):
                    await asgi_request(
                        app, "/api/v1/interviews", "page_size=20", [(b"authorization", auth.encode())], 200
                    )

        return run

    return [
        await interleaved(
            "filter form class",
            "InterviewFilter(...).is_valid()",
            validate(True),
            validate(False),
            rounds=args.rounds,
            batch=args.batch * 10,
        ),
        await interleaved(
            "filter form class",
            "GET /api/v1/interviews (list, 20)",
            listing(True),
            listing(False),
            rounds=args.rounds,
            batch=args.batch,
        ),
    ]


@contextmanager
def _nothing():
    yield


# --- output -----------------------------------------------------------------------------------


def versions() -> str:
    names = ("Django", "asgiref", "channels", "django-filter", "djangorestframework", "daphne")
    py = ".".join(map(str, sys.version_info[:3]))
    return f"Python {py}, " + ", ".join(f"{name} {metadata.version(name)}" for name in names)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def report(rows: list[Row]) -> None:
    head = (
        f"{'patch':<18} | {'path':<40} | {'stock µs':>9} | {'patched µs':>10} | {'ratio':>5} | "
        f"{'stock cpu µs':>12} | {'patched cpu µs':>14} | {'cpu ratio':>9} | {'cpu faster':>10} | "
        f"{'stock calls':>11} | {'patched calls':>13} | {'calls ratio':>11}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r.patch:<18} | {r.path:<40} | {r.stock_wall * 1e6:>9,.1f} | {r.patched_wall * 1e6:>10,.1f} | "
            f"{r.ratio_wall:>5.2f} | {r.stock_cpu * 1e6:>12,.1f} | {r.patched_cpu * 1e6:>14,.1f} | "
            f"{r.ratio_cpu:>9.2f} | {r.faster_rounds:>4}/{r.rounds:<5} | "
            f"{r.stock_calls:>11,.0f} | {r.patched_calls:>13,.0f} | {r.patched_calls / r.stock_calls:>11.2f}"
        )
    print(
        "\nµs per operation (a consumer row: per frame delivered to one socket), medians over rounds; "
        "ratio = median of the rounds' patched / stock (below 1: the patch is faster); "
        "cpu faster = rounds in which the patched side used less CPU; calls = Python function calls "
        "per operation (sys.setprofile: repeatable under load; the thread Channels hops to for "
        "aclose_old_connections is not counted)."
    )


async def measure(args, auth: str) -> list[Row]:
    rows = []
    if "asgi" in args.patches:
        rows += await bench_asgi_handler(args, auth)
    if "consumer" in args.patches:
        rows += await bench_consumer(args)
    if "filter" in args.patches:
        rows += await bench_filter(args, auth)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30, help="interleaved rounds per path (default 30)")
    parser.add_argument("--batch", type=int, default=20, help="operations per side per round (default 20)")
    parser.add_argument("--sockets", type=int, default=50, help="consumers each frame goes to at once (default 50)")
    parser.add_argument("--patches", default="asgi,consumer,filter", help="which of asgi,consumer,filter")
    parser.add_argument(
        "--db-name", default="bench_patches", help="with a PostgreSQL DATABASE_URL: database to create and drop"
    )
    args = parser.parse_args()
    args.patches = set(args.patches.split(","))
    started = datetime.now(UTC)
    print(f"{started:%Y-%m-%d %H:%M} UTC, load average {load()}, {os.cpu_count()} CPUs")
    print(versions())
    _support.install_sigterm_as_exit()
    with tempfile.TemporaryDirectory(prefix="patches-bench-") as tmp:
        postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
        url = _support.database_url(args.db_name) if postgres else f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        if postgres:
            _support.database_recreate(url)
            print(f"database {args.db_name} on PostgreSQL ({_support.machine(url)})")
        else:
            print("database: a throw-away SQLite file")
        try:
            django_setup(url)
            auth = list_data()
            print(f"rounds {args.rounds}, batch {args.batch}, sockets {args.sockets}\n")
            rows = asyncio.run(measure(args, auth))
        finally:
            if postgres:
                _support.database_finish(url, keep=False)
            else:
                from django.db import connections

                connections.close_all()
    report(rows)
    print(f"\nfinished {datetime.now(UTC):%H:%M} UTC, load average {load()}")


if __name__ == "__main__":
    main()
