"""Benchmark: the interview WebSocket at 100, 500 and 1,000 concurrent sockets against a bare
``websockets`` server doing the same inserts.

    .venv/bin/python bench/ws_bench.py [--sockets 100,500,1000] [--answers 3] [--processes 2] [--keep]

Creates its own PostgreSQL database (``bench_ws`` on DATABASE_URL's server, or on
postgres://postgres@127.0.0.1:5432) with one in-progress interview per socket, serves the real
ASGI app with ``--processes`` daphne processes on free loopback ports, and opens the sockets
(``bearer`` subprotocol, spread over the processes in turn, at most 50 handshakes at a time)
after an unmeasured warm-up round. Once all are open, every socket answers ``--answers``
times: it sends ``text_answer`` and waits for the ``question`` that follows (the scripted
interviewer), which is the round trip measured. Reported per number of sockets: round trip
p50/p99, messages persisted per second (two per answer), errors (``error`` frames, failed
handshakes, timeouts), disconnects, and the gapless check of every interview afterwards
(sequence numbers exactly 1..message_count).

The baseline, in the same run with as many processes, is a bare ``websockets`` server that, for
each ``text_answer``, runs the same transaction with psycopg (lock the interview, update its
counters, insert the answer and a reply) and sends ``answer_received`` and ``question``.

Targets (issue 7): zero errors and zero gaps at 1,000 sockets; messages/s at least half the
bare server's. Exit status 1 on any error, disconnect or gap. The database is dropped at the end
unless ``--keep``.
"""

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
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
    free_port,
    install_sigterm_as_exit,
    machine,
    percentile,
    processes_stop,
    psycopg_url,
)
from bench.rest_bench import ANSWER, OPEN_INTERVIEWS_SQL, UUID7_SQL

HANDSHAKES_AT_ONCE = 50
FRAME_TIMEOUT = 60.0  # seconds a socket waits for its question before counting an error
BARE_POOL = 20


# --- the bare baseline server (run as a subprocess of this script) ---------------------------


async def bare_serve(port: int, url: str) -> None:
    from psycopg_pool import AsyncConnectionPool
    from websockets.asyncio.server import serve

    async with AsyncConnectionPool(psycopg_url(url), min_size=2, max_size=BARE_POOL) as pool:

        async def turn(interview_id: str, answer: str) -> tuple[int, int]:
            async with pool.connection() as conn, conn.transaction():
                return await bare_turn(conn, interview_id, answer)

        async def handler(ws) -> None:
            interview_id = ws.request.path.rstrip("/").rsplit("/", 1)[-1]
            await ws.send(json.dumps({"type": "connected"}))
            async for raw in ws:
                frame = json.loads(raw)
                if frame.get("type") != "text_answer":
                    continue
                answered, asked = await turn(interview_id, frame["answer_text"])
                await ws.send(json.dumps({"type": "answer_received", "sequence_number": answered}))
                await ws.send(json.dumps({"type": "question", "sequence_number": asked, "text": "Next?"}))

        async with serve(handler, "127.0.0.1", port, max_queue=64):
            await asyncio.get_running_loop().create_future()


def bare_servers_start(count: int, url: str) -> tuple[list[subprocess.Popen], list[int]]:
    procs, ports = [], []
    for _ in range(count):
        port = free_port()
        procs.append(
            subprocess.Popen(
                [sys.executable, __file__, "--serve-bare", str(port), "--bare-url", url],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
            )
        )
        ports.append(port)
    deadline = time.monotonic() + 30
    for port, proc in zip(ports, procs, strict=True):
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"bare server exited with {proc.returncode}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("bare server not listening after 30 s")
            time.sleep(0.1)
    return procs, ports


# --- the clients -----------------------------------------------------------------------------


@dataclass
class Level:
    round_trips: list[float] = field(default_factory=list)
    errors: int = 0
    disconnects: int = 0
    first_problem: str = ""
    kinds: Counter = field(default_factory=Counter)
    wall: float = 0.0
    gaps: str = ""

    def problem(self, kind: str, text: str) -> None:
        self.kinds[kind] += 1
        self.first_problem = self.first_problem or text[:300]

    @property
    def persisted_per_second(self) -> float:
        return 2 * len(self.round_trips) / self.wall if self.wall else 0.0

    def p(self, q: float) -> float:
        return percentile(sorted(self.round_trips), q) * 1000


async def drive(urls: list[str], interview_ids: list[str], token: str | None, answers: int) -> Level:
    """Open one socket per interview, then answer ``answers`` times on all of them at once."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    level = Level()
    handshakes = asyncio.Semaphore(HANDSHAKES_AT_ONCE)
    opened = 0
    all_open = asyncio.Event()
    go = asyncio.Event()

    async def one(index: int, interview_id: str) -> None:
        nonlocal opened
        url = f"{urls[index % len(urls)]}/ws/interviews/{interview_id}/"
        kwargs = {"subprotocols": ["bearer", token]} if token else {}
        ws = None
        try:
            async with handshakes:
                ws = await connect(url, origin="http://127.0.0.1", open_timeout=FRAME_TIMEOUT, **kwargs)
                first = json.loads(await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT))
                if first.get("type") != "connected":
                    raise RuntimeError(f"first frame {first}")
        except Exception as exc:  # a failed handshake is an error of this level
            level.errors += 1
            level.problem("connect", f"connect: {type(exc).__name__}: {exc}")
            if ws is not None:
                await ws.close()
            ws = None
        finally:
            opened += 1
            if opened == len(interview_ids):
                all_open.set()
        if ws is None:
            return
        try:
            await go.wait()
            for _ in range(answers):
                begin = time.perf_counter()
                await ws.send(json.dumps({"type": "text_answer", "answer_text": ANSWER}))
                while True:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT))
                    if frame["type"] == "question":
                        level.round_trips.append(time.perf_counter() - begin)
                        break
                    if frame["type"] == "error":
                        level.errors += 1
                        level.problem(f"error frame {frame.get('code')}", f"error frame: {frame}")
                        return
        except ConnectionClosed as exc:
            level.disconnects += 1
            level.problem("disconnected", f"disconnected: {exc}")
        except TimeoutError:
            level.errors += 1
            level.problem("timeout", f"no question within {FRAME_TIMEOUT:.0f} s")
        finally:
            await ws.close()

    tasks = [asyncio.create_task(one(i, interview_id)) for i, interview_id in enumerate(interview_ids)]
    await all_open.wait()
    start = time.perf_counter()
    go.set()
    await asyncio.gather(*tasks)
    level.wall = time.perf_counter() - start
    return level


def gaps_check(interview_ids: list[str]) -> str:
    """'ok' when every interview's sequence numbers are exactly 1..message_count."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM interviews_interview iv WHERE iv.id = ANY(%s::uuid[]) AND NOT ("
            "  SELECT count(*) = iv.message_count AND count(DISTINCT m.sequence_number) = iv.message_count"
            "   AND min(m.sequence_number) = 1 AND max(m.sequence_number) = iv.message_count"
            "  FROM interviews_interviewmessage m WHERE m.interview_id = iv.id)",
            [interview_ids],
        )
        broken = cursor.fetchone()[0]
    return "ok" if broken == 0 else f"{broken} BAD"


def interviews_create(employee_id, count: int) -> list[str]:
    """``count`` in-progress interviews of ``employee_id``, first question asked (a batch of its own)."""
    from django.db import connection

    batch = uuid.uuid4()  # the organization column tells this batch apart; access goes by owner
    with connection.cursor() as cursor:
        cursor.execute(UUID7_SQL.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
        cursor.execute(OPEN_INTERVIEWS_SQL, {"employee": employee_id, "org": batch, "count": count})
        cursor.execute("SELECT id::text FROM interviews_interview WHERE organization_id = %s", [batch])
        return [row[0] for row in cursor.fetchall()]


# --- the run ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=lambda s: [int(x) for x in s.split(",")], default=[100, 500, 1000])
    parser.add_argument("--answers", type=int, default=3, help="answers per socket (at most 5: the plan has 6)")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1, help="daphne (and bare) processes")
    parser.add_argument("--db-name", default="bench_ws", help="database to create (and drop); bench* only")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", ""), help="default: REDIS_URL")
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--bare-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        asyncio.run(bare_serve(args.serve_bare, args.bare_url))
        return 0
    if not 1 <= args.answers <= 5:
        parser.error("--answers must be 1..5: the sixth answer ends the scripted interview")
    install_sigterm_as_exit()

    url = database_url(args.db_name)
    print(f"database {args.db_name}: creating, migrating…", flush=True)
    database_recreate(url)
    rows = []
    try:
        django_setup(url, redis_url=args.redis_url)
        from accounts.models import User
        from accounts.serializers import TokenObtainSerializer

        user = User.objects.create(username="bench-ws", organization_id=uuid.uuid4())
        token = str(TokenObtainSerializer.get_token(user).access_token)
        warmup = [interviews_create(user.employee_id, 4 * args.processes) for _ in range(2)]
        plan = [
            (n, interviews_create(user.employee_id, n), interviews_create(user.employee_id, n)) for n in args.sockets
        ]
        from django.db import connections

        connections.close_all()
        # One employee owns every socket: lift the per-socket and per-user limits and the socket cap.
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "WS_RATE_LIMIT_PER_MINUTE": "100000",
            "WS_USER_RATE_LIMIT_PER_MINUTE": "10000000",
            "WS_MAX_SOCKETS_PER_USER": "100000",
        }
        bare_procs, bare_ports = bare_servers_start(args.processes, url)
        try:
            with daphne_servers(args.processes, env) as servers:
                app_urls = [f"ws://127.0.0.1:{port}" for port in servers.ports]
                bare_urls = [f"ws://127.0.0.1:{port}" for port in bare_ports]
                # Unmeasured: lazy imports, thread pools and connection pools warm up on both sides.
                asyncio.run(drive(bare_urls, warmup[0], None, 1))
                asyncio.run(drive(app_urls, warmup[1], token, 1))
                for sockets, app_ids, bare_ids in plan:
                    print(f"  {sockets:>5} sockets: bare…", end="", flush=True)
                    bare = asyncio.run(drive(bare_urls, bare_ids, None, args.answers))
                    print(" app…", end="", flush=True)
                    app = asyncio.run(drive(app_urls, app_ids, token, args.answers))
                    bare.gaps, app.gaps = gaps_check(bare_ids), gaps_check(app_ids)
                    connections.close_all()
                    print(f" {app.persisted_per_second:,.0f} messages/s", flush=True)
                    if app.kinds:
                        print(
                            f"daphne log (tail):\n{servers.log_tail(4000, without_access=True)}",
                            file=sys.stderr,
                            flush=True,
                        )
                    rows.append((sockets, app, bare))
        finally:
            processes_stop(bare_procs)
    finally:
        database_finish(url, keep=args.keep)

    print()
    print(f"WebSocket benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {machine(url)}")
    print(
        f"{args.processes} daphne and {args.processes} bare process(es), sockets spread in turn; "
        f"{args.answers} answers per socket, all sockets at once; Redis: "
        f"{'yes' if args.redis_url else 'no (in-memory channel layer)'}"
    )
    print()
    head = (
        f"{'sockets':>7} | {'app p50':>8}{'p99 ms':>8}{'msg/s':>8}{'err':>5}{'disc':>5}{'gaps':>9} | "
        f"{'bare p50':>8}{'p99 ms':>8}{'msg/s':>8}{'err':>5}{'disc':>5}{'gaps':>9} | {'msg/s ratio':>11}"
    )
    print(head)
    print("-" * len(head))
    failed = False
    for sockets, app, bare in rows:
        ratio = app.persisted_per_second / bare.persisted_per_second if bare.persisted_per_second else 0
        print(
            f"{sockets:>7} | {app.p(50):>8.1f}{app.p(99):>8.1f}{app.persisted_per_second:>8,.0f}{app.errors:>5}"
            f"{app.disconnects:>5}{app.gaps:>9} | {bare.p(50):>8.1f}{bare.p(99):>8.1f}"
            f"{bare.persisted_per_second:>8,.0f}{bare.errors:>5}{bare.disconnects:>5}{bare.gaps:>9} | {ratio:>11.2f}"
        )
        if any(level.errors or level.disconnects or level.gaps != "ok" for level in (app, bare)):
            failed = True
        for side, level in (("app", app), ("bare", bare)):
            if level.kinds:
                kinds = ", ".join(f"{n} {kind}" for kind, n in level.kinds.most_common())
                print(f"        {side}: {kinds}; first: {level.first_problem}")
    print()
    print("msg/s = messages persisted per second (answer + question); ratio = app / bare in the same run")
    if rows:
        sockets, app, bare = rows[-1]
        ratio = app.persisted_per_second / bare.persisted_per_second if bare.persisted_per_second else 0
        clean = app.errors == 0 and app.disconnects == 0 and app.gaps == "ok"
        print(
            f"target at {sockets} sockets: zero errors and gaps: {'met' if clean else 'MISSED'}; "
            f"throughput at least half the bare server's: {ratio:.2f}, {'met' if ratio >= 0.5 else 'MISSED'}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
