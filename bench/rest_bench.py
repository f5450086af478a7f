"""Benchmark: the REST API under 1, 10 and 50 concurrent clients against bare psycopg.

    .venv/bin/python bench/rest_bench.py [--interviews 100000] [--messages 1000000]
        [--concurrency 1,10,50] [--processes 2] [--requests 2000] [--duration 10] [--keep]

Creates its own PostgreSQL database (``bench_rest`` on DATABASE_URL's server, or on
postgres://postgres@127.0.0.1:5432), migrates it, loads the dataset server-side with
generate_series (seconds, not the ORM row by row), serves the real ASGI app with ``--processes``
daphne processes on free loopback ports and drives them with aiohttp, each request going to
the next process in turn (what a round-robin load balancer does).

Measured, per endpoint and number of concurrent clients, after a short warm-up, for at most
``--requests`` requests or ``--duration`` seconds: requests/s and p50/p99 latency of

- list: GET /api/v1/interviews?page=N (page size 20, pages 1-10 in turn) as a staff member
  whose organization holds every interview (the widest list, counted on every request);
- retrieve: GET /api/v1/interviews/{id} of a random interview (about 10 messages);
- continue: POST /api/v1/interviews/continue with the scripted interviewer; each client
  answers its own in-progress interviews (six answers finish one; it then takes the next).

The baseline, measured in the same run at the same concurrency, is bare psycopg (async pool of
min(clients, 20) connections, as the app's pool) running the SQL those endpoints need for the
same rows: the page of 20 (the app caches a total this large, see LIST_COUNT_CACHE_SECONDS,
so counting is left out of both); the interview + its messages; lock, update, insert two
messages.

Exit status 1 if any request failed. The database is dropped at the end unless ``--keep``.
"""

import argparse
import asyncio
import itertools
import json
import os
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import (
    ROOT,
    bare_turn,
    daphne_servers,
    database_finish,
    database_recreate,
    database_url,
    django_setup,
    install_sigterm_as_exit,
    machine,
    percentile,
    psycopg_url,
)

LIST_PAGES = 10
PAGE_SIZE = 20
# The built-in plan ends an interview after six full answers; the pool assumes as few as three.
ANSWERS_PER_INTERVIEW = 3
ANSWER = "I open SAP every morning, check 12 purchase orders, reconcile them in Excel and report to finance."
ENDPOINTS = ("list", "retrieve", "continue")
BASELINE_POOL_MAX = 20  # DATABASE_POOL_MAX_SIZE's default: the app never holds more per process

# --- dataset ---------------------------------------------------------------------------------

UUID7_SQL = """
CREATE FUNCTION pg_temp.bench_uuid7(ts timestamptz) RETURNS uuid LANGUAGE sql VOLATILE AS $$
  SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
    PLACING substring(int8send(floor(extract(epoch FROM ts) * 1000)::bigint) FROM 3) FROM 1 FOR 6),
    52, 1), 53, 1), 'hex')::uuid
$$
"""

USERS_SQL = """
INSERT INTO accounts_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                           is_active, date_joined, employee_id, role, organization_id)
SELECT '!', false, 'bench-e-' || i, 'Empleado', 'Nº ' || i, '', false, true, now(), gen_random_uuid(),
       'employee', %(org)s
FROM generate_series(1, %(employees)s) AS i
"""

# Interview i starts i * 10 minutes ago; its messages follow every 30 s. The message count is
# spread evenly (the first ``extra`` interviews take one more) so the totals are exact.
INTERVIEWS_SQL = """
WITH emp AS (SELECT array_agg(employee_id ORDER BY id) AS ids, count(*) AS n
             FROM accounts_user WHERE username LIKE 'bench-e-%%'),
     src AS (SELECT i, now() - i * interval '10 minutes' AS started,
                    %(per)s + (i <= %(extra)s)::int AS mc
             FROM generate_series(1, %(interviews)s) AS i)
INSERT INTO interviews_interview (id, employee_id, organization_id, language, technical_level, status, source,
                                  session_id, message_count, question_count, engine_state, started_at,
                                  completed_at, created_at, updated_at)
SELECT pg_temp.bench_uuid7(started), emp.ids[1 + i %% emp.n], %(org)s,
       (ARRAY['es', 'en'])[1 + i %% 2], (ARRAY['basic', 'intermediate', 'advanced'])[1 + i %% 3],
       (ARRAY['completed', 'completed', 'completed', 'completed', 'completed', 'completed', 'cancelled',
              'paused', 'in_progress', 'completed'])[1 + i %% 10],
       'live', NULL, mc, (mc + 1) / 2, '{}', started,
       CASE WHEN i %% 10 IN (7, 8) THEN NULL ELSE started + mc * interval '30 seconds' END,
       started, started + mc * interval '30 seconds'
FROM src, emp
"""

MESSAGES_SQL = """
INSERT INTO interviews_interviewmessage (id, interview_id, role, content, sequence_number, client_message_id,
                                         evaluation, metadata, created_at, language)
SELECT pg_temp.bench_uuid7(iv.started_at + s * interval '30 seconds'), iv.id,
       CASE WHEN s %% 2 = 1 THEN 'assistant' ELSE 'user' END,
       (ARRAY[
         '¿Cuál es tu puesto y qué proceso principal realizas en tu día a día?',
         'Preparo las órdenes de compra en SAP, las concilio en Excel y envío el informe semanal a finanzas.',
         'Describe paso a paso cómo realizas ese proceso, desde que empieza hasta que termina.',
         'Recibo la solicitud por correo, valido el presupuesto con mi jefa, creo la orden y la apruebo en SAP.',
         'Which problems come up often, and how do you solve or work around them?',
         'Vendors send invoices in PDF with different layouts, so I retype them; it takes about two hours a day.'
       ])[1 + (s + length(iv.id::text)) %% 6],
       s, NULL,
       CASE WHEN s %% 2 = 0
            THEN jsonb_build_object('score', 40 + s %% 60, 'feedback', '', 'strengths', '[]'::jsonb,
                                    'weaknesses', '[]'::jsonb)
       END,
       CASE WHEN s %% 2 = 1 THEN jsonb_build_object('index', (s + 1) / 2, 'total', 6, 'is_final', false)
            ELSE '{}'::jsonb END,
       iv.started_at + s * interval '30 seconds', iv.language
FROM interviews_interview iv CROSS JOIN LATERAL generate_series(1, iv.message_count) AS s
WHERE iv.organization_id = %(org)s
"""

# In-progress interviews for ``continue``: the first question asked, in the answerer's organization.
OPEN_INTERVIEWS_SQL = """
WITH new AS (
  INSERT INTO interviews_interview (id, employee_id, organization_id, language, technical_level, status, source,
                                    session_id, message_count, question_count, engine_state, started_at,
                                    completed_at, created_at, updated_at)
  SELECT pg_temp.bench_uuid7(now()), %(employee)s, %(org)s, 'en', 'basic', 'in_progress', 'live', NULL, 1, 1,
         '{"topic": 0, "followup": false}', now() - i * interval '1 second', NULL, now(), now()
  FROM generate_series(1, %(count)s) AS i
  RETURNING id, started_at
)
INSERT INTO interviews_interviewmessage (id, interview_id, role, content, sequence_number, client_message_id,
                                         evaluation, metadata, created_at, language)
SELECT pg_temp.bench_uuid7(started_at), id, 'assistant',
       'What is your role, and which main process do you carry out day to day?', 1, NULL, NULL,
       '{"index": 1, "total": 6, "is_final": false}', started_at, 'en'
FROM new
"""


@dataclass
class Dataset:
    staff_token: str
    answerer_token: str
    staff_org: uuid.UUID
    staff_employee: uuid.UUID
    retrieve_ids: list[str]
    open_ids: list[str]
    seconds: float


def dataset_load(*, interviews: int, messages: int, open_interviews: int) -> Dataset:
    """Load the dataset server-side; return the callers' tokens and the ids to request."""
    from django.db import connection

    from accounts.models import Role, User
    from accounts.serializers import TokenObtainSerializer

    started = time.perf_counter()
    org, answer_org = uuid.uuid4(), uuid.uuid4()
    staff = User.objects.create(username="bench-staff", role=Role.STAFF, organization_id=org)
    answerer = User.objects.create(username="bench-answerer", role=Role.EMPLOYEE, organization_id=answer_org)
    per, extra = divmod(messages, interviews) if interviews else (0, 0)
    with connection.cursor() as cursor:
        cursor.execute(UUID7_SQL)
        cursor.execute(USERS_SQL, {"org": org, "employees": max(1, interviews // 100)})
        cursor.execute(INTERVIEWS_SQL, {"org": org, "interviews": interviews, "per": per, "extra": extra})
        cursor.execute(MESSAGES_SQL, {"org": org})
        cursor.execute(
            OPEN_INTERVIEWS_SQL, {"employee": answerer.employee_id, "org": answer_org, "count": open_interviews}
        )
        cursor.execute("DROP FUNCTION pg_temp.bench_uuid7(timestamptz)")
        cursor.execute("ANALYZE")
        cursor.execute(
            "SELECT id::text FROM interviews_interview WHERE organization_id = %s ORDER BY random() LIMIT 1000", [org]
        )
        retrieve_ids = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT id::text FROM interviews_interview WHERE organization_id = %s", [answer_org])
        open_ids = [row[0] for row in cursor.fetchall()]
    return Dataset(
        staff_token=str(TokenObtainSerializer.get_token(staff).access_token),
        answerer_token=str(TokenObtainSerializer.get_token(answerer).access_token),
        staff_org=org,
        staff_employee=staff.employee_id,
        retrieve_ids=retrieve_ids,
        open_ids=open_ids,
        seconds=time.perf_counter() - started,
    )


# --- measuring -------------------------------------------------------------------------------


@dataclass
class Cell:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    wall: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall if self.wall else 0.0

    def p(self, q: float) -> float:
        return percentile(sorted(self.latencies), q) * 1000


async def run_cell(clients: int, operation, *, requests: int, duration: float, warmup: int) -> Cell:
    """Run ``operation(client_index)`` from ``clients`` concurrent tasks; time the measured part.

    Each task first does ``warmup`` unmeasured operations (connections opened, caches warm),
    then all start together and stop after ``requests`` operations in total or ``duration`` s.
    """
    cell = Cell()
    issued = 0
    ready = asyncio.Barrier(clients + 1)

    async def client(index: int) -> None:
        nonlocal issued
        try:
            for _ in range(warmup):
                await operation(index)
        except Exception as exc:  # reported; the barrier below must still be reached
            cell.errors += 1
            cell.first_error = cell.first_error or f"warm-up: {type(exc).__name__}: {exc}"[:300]
        await ready.wait()
        while issued < requests and time.perf_counter() < deadline:
            issued += 1
            begin = time.perf_counter()
            try:
                await operation(index)
            except Exception as exc:  # a failed request is counted and reported, not fatal
                cell.errors += 1
                cell.first_error = cell.first_error or f"{type(exc).__name__}: {exc}"[:300]
            else:
                cell.latencies.append(time.perf_counter() - begin)

    deadline = float("inf")
    tasks = [asyncio.create_task(client(i)) for i in range(clients)]
    await ready.wait()
    start = time.perf_counter()
    deadline = start + duration
    await asyncio.gather(*tasks)
    cell.wall = time.perf_counter() - start
    return cell


class RequestFailed(Exception):
    pass


class App:
    """The HTTP side: one keep-alive session, requests sent to the servers in turn."""

    def __init__(self, session, base_urls: list[str], data: Dataset, open_queue: list[str]):
        self.session = session
        self.servers = itertools.cycle(base_urls)
        self.data = data
        self.open_queue = open_queue
        self.current: dict[int, str] = {}
        self.page = itertools.cycle(range(1, LIST_PAGES + 1))
        self.staff_headers = {"Authorization": f"Bearer {data.staff_token}"}
        self.answerer_headers = {"Authorization": f"Bearer {data.answerer_token}", "Content-Type": "application/json"}

    async def _json(self, response) -> dict:
        body = await response.read()
        if response.status != 200:
            raise RequestFailed(f"HTTP {response.status}: {body[:300]!r}")
        return json.loads(body)

    async def list(self, index: int) -> None:
        url = f"{next(self.servers)}/api/v1/interviews?page={next(self.page)}&page_size={PAGE_SIZE}"
        async with self.session.get(url, headers=self.staff_headers) as response:
            body = await self._json(response)
        if len(body["data"]) != PAGE_SIZE:
            raise RequestFailed(f"list returned {len(body['data'])} rows")

    async def retrieve(self, index: int) -> None:
        url = f"{next(self.servers)}/api/v1/interviews/{random.choice(self.data.retrieve_ids)}"
        async with self.session.get(url, headers=self.staff_headers) as response:
            await self._json(response)

    async def continue_(self, index: int) -> None:
        if index not in self.current:
            if not self.open_queue:
                raise RequestFailed("out of in-progress interviews: raise the pool size")
            self.current[index] = self.open_queue.pop()
        payload = json.dumps({"interview_id": self.current[index], "user_response": ANSWER})
        url = f"{next(self.servers)}/api/v1/interviews/continue"
        async with self.session.post(url, data=payload, headers=self.answerer_headers) as response:
            body = await self._json(response)
        if body["data"]["is_final"]:
            del self.current[index]


class Bare:
    """The baseline: the same SQL for the same rows through a bare psycopg async pool."""

    def __init__(self, pool, data: Dataset, open_queue: list[str]):
        self.pool = pool
        self.data = data
        self.open_queue = open_queue
        self.current: dict[int, str] = {}
        self.page = itertools.cycle(range(1, LIST_PAGES + 1))
        self.scope = {"org": data.staff_org, "employee": data.staff_employee}

    async def list(self, index: int) -> None:
        offset = (next(self.page) - 1) * PAGE_SIZE
        async with self.pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT * FROM interviews_interview WHERE (organization_id = %(org)s OR employee_id = %(employee)s) "
                "ORDER BY started_at DESC, id DESC "
                "LIMIT %(limit)s OFFSET %(offset)s",
                {**self.scope, "limit": PAGE_SIZE, "offset": offset},
            )
            rows = await cursor.fetchall()
        if len(rows) != PAGE_SIZE:
            raise RequestFailed(f"list returned {len(rows)} rows")

    async def retrieve(self, index: int) -> None:
        interview_id = random.choice(self.data.retrieve_ids)
        async with self.pool.connection() as conn:
            await (await conn.execute("SELECT * FROM interviews_interview WHERE id = %s", [interview_id])).fetchone()
            cursor = await conn.execute(
                "SELECT * FROM interviews_interviewmessage WHERE interview_id = %s ORDER BY sequence_number",
                [interview_id],
            )
            await cursor.fetchall()

    async def continue_(self, index: int) -> None:
        if index not in self.current:
            self.current[index] = self.open_queue.pop()
        interview_id = self.current[index]
        async with self.pool.connection() as conn, conn.transaction():
            await bare_turn(conn, interview_id, ANSWER)


# --- the run ---------------------------------------------------------------------------------


def open_interviews_needed(args) -> int:
    """In-progress interviews ``continue`` may use up: per level, the app's and the baseline's."""
    total = 0
    for clients in args.concurrency:
        answers = args.requests + clients * (args.warmup + 1)
        total += answers // ANSWERS_PER_INTERVIEW + 2 * clients + 1  # app, then one per baseline client
    return total + 10


async def measure(args, servers, data: Dataset, url: str) -> list[tuple[str, int, Cell, Cell]]:
    import aiohttp
    from psycopg_pool import AsyncConnectionPool

    open_queue = list(data.open_ids)
    random.shuffle(open_queue)
    rows = []
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        app = App(session, servers.base_urls, data, open_queue)
        for endpoint in args.endpoints:
            for clients in args.concurrency:
                size = min(clients, BASELINE_POOL_MAX)
                async with AsyncConnectionPool(psycopg_url(url), min_size=size, max_size=size, open=False) as pool:
                    await pool.wait()
                    bare = Bare(pool, data, open_queue)
                    name = "continue_" if endpoint == "continue" else endpoint
                    kwargs = {"requests": args.requests, "duration": args.duration, "warmup": args.warmup}
                    print(f"  {endpoint:<9}{clients:>4} clients: bare psycopg…", end="", flush=True)
                    base_cell = await run_cell(clients, getattr(bare, name), **kwargs)
                    print(" app…", end="", flush=True)
                    app_cell = await run_cell(clients, getattr(app, name), **kwargs)
                    app.current.clear()  # a half-answered interview is not worth reusing
                    print(f" {app_cell.rate:,.0f} req/s", flush=True)
                    rows.append((endpoint, clients, app_cell, base_cell))
    return rows


def report(rows, args, url: str, loaded: str) -> int:
    print()
    print(f"REST benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {machine(url)}")
    print(loaded)
    print(
        f"{args.processes} daphne process(es), requests in turn; per cell at most {args.requests} requests "
        f"or {args.duration:g} s after {args.warmup} warm-up request(s) per client; Redis: "
        f"{'yes' if args.redis_url else 'no (in-memory channel layer, local cache)'}"
    )
    print()
    head = (
        f"{'endpoint':<10}{'clients':>8} | {'app req/s':>10}{'p50 ms':>8}{'p99 ms':>8} | "
        f"{'bare req/s':>10}{'p50 ms':>8}{'p99 ms':>8} | {'req/s ratio':>11}{'p99 ratio':>10} | {'errors':>6}"
    )
    print(head)
    print("-" * len(head))
    errors = 0
    for endpoint, clients, app, bare in rows:
        errors += app.errors + bare.errors
        print(
            f"{endpoint:<10}{clients:>8} | {app.rate:>10,.0f}{app.p(50):>8.1f}{app.p(99):>8.1f} | "
            f"{bare.rate:>10,.0f}{bare.p(50):>8.1f}{bare.p(99):>8.1f} | "
            f"{app.rate / bare.rate if bare.rate else 0:>11.2f}{app.p(99) / bare.p(99) if bare.p(99) else 0:>10.1f}"
            f" | {app.errors + bare.errors:>6}"
        )
    print()
    print("ratio = app / bare psycopg in the same run (req/s: higher is better; p99: lower is better)")
    for endpoint, clients, app, bare in rows:
        for side, cell in (("app", app), ("bare", bare)):
            if cell.errors:
                print(f"{endpoint} x{clients} {side}: {cell.errors} failed, first: {cell.first_error}")
    target = next((app for endpoint, clients, app, _ in rows if endpoint == "list" and clients == 50), None)
    if target is not None:
        verdict = "met" if target.p(99) < 150 else "MISSED"
        print(f"target: list p99 at 50 clients under 150 ms: {target.p(99):.1f} ms, {verdict}")
    return 1 if errors else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--interviews", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 10, 50])
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1, help="daphne processes")
    parser.add_argument("--requests", type=int, default=2000, help="at most this many measured requests per cell")
    parser.add_argument("--duration", type=float, default=10.0, help="at most this many seconds per cell")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured requests per client before each cell")
    parser.add_argument("--endpoints", type=lambda s: s.split(","), default=list(ENDPOINTS))
    parser.add_argument("--db-name", default="bench_rest", help="database to create (and drop); must start with bench")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", ""), help="default: REDIS_URL")
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    args = parser.parse_args()
    if args.interviews < LIST_PAGES * PAGE_SIZE:
        parser.error(f"--interviews must be at least {LIST_PAGES * PAGE_SIZE} (ten full pages)")
    if unknown := set(args.endpoints) - set(ENDPOINTS):
        parser.error(f"unknown endpoint(s): {', '.join(sorted(unknown))}")
    install_sigterm_as_exit()

    url = database_url(args.db_name)
    print(f"database {args.db_name}: creating, migrating, loading…", flush=True)
    database_recreate(url)
    try:
        django_setup(url, redis_url=args.redis_url)
        data = dataset_load(
            interviews=args.interviews, messages=args.messages, open_interviews=open_interviews_needed(args)
        )
        from django.db import connections

        connections.close_all()
        loaded = (
            f"dataset: {args.interviews:,} interviews and {args.messages:,} messages in one organization, "
            f"loaded in {data.seconds:.1f} s (+{len(data.open_ids):,} in-progress interviews for continue)"
        )
        print(loaded, flush=True)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with daphne_servers(args.processes, env) as servers:
            print(f"daphne ports: {', '.join(map(str, servers.ports))}", flush=True)
            try:
                rows = asyncio.run(measure(args, servers, data, url))
            except BaseException:
                print(f"\ndaphne log (tail):\n{servers.log_tail()}", file=sys.stderr)
                raise
        return report(rows, args, url, loaded)
    finally:
        database_finish(url, keep=args.keep)


if __name__ == "__main__":
    sys.exit(main())
