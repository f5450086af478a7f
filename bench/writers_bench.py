"""Benchmark: 20 concurrent writers on ONE interview; messages/s and gapless sequence numbers.

    .venv/bin/python bench/writers_bench.py [--writers 20] [--messages-per-writer 100]
        [--modes threads,processes] [--keep]

Creates its own PostgreSQL database (``bench_writers`` on DATABASE_URL's server, or on
postgres://postgres@127.0.0.1:5432) and, per mode, one fresh interview that ``--writers``
writers append to at once, each ``--messages-per-writer`` times, through the one write path,
``interviews.services.interview_message_append`` (lock the interview row, take the next
number, insert, publish after commit):

- threads: writer threads in this process (each with its own pooled connection);
- processes: writer processes, each with its own Django and connection.

The baseline, measured in the same run, is bare psycopg doing the same transaction from the
same number of threads (SELECT … FOR UPDATE, UPDATE the counter, INSERT the row).

After each mode the interview's sequence numbers must be exactly 1..N, with N equal to the
messages written and to ``message_count``: the script exits 1 on any gap, duplicate or failed
write. The database is dropped at the end unless ``--keep``.
"""

import argparse
import multiprocessing
import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import (
    ROOT,
    database_finish,
    database_recreate,
    database_url,
    django_setup,
    install_sigterm_as_exit,
    machine,
    percentile,
    psycopg_url,
)

MODES = ("threads", "processes")
CONTENT = "Reviso las facturas en SAP y las concilio en Excel; ¿algo más que deba contar sobre el cierre?"


@dataclass
class Result:
    label: str
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wall: float = 0.0
    check: str = ""
    ok: bool = False

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall if self.wall else 0.0


def interview_create():
    from accounts.models import User
    from interviews.models import Interview

    user = User.objects.create(username=f"bench-writer-{uuid.uuid4().hex[:8]}")
    return Interview.objects.create(employee=user, organization_id=None, started_at=datetime.now(UTC))


def sequence_check(interview_id, expected: int) -> tuple[bool, str]:
    """Are the interview's sequence numbers exactly 1..expected, matching ``message_count``?"""
    from interviews.models import Interview, InterviewMessage

    numbers = list(
        InterviewMessage.objects.filter(interview_id=interview_id)
        .order_by("sequence_number")
        .values_list("sequence_number", flat=True)
    )
    count = Interview.objects.values_list("message_count", flat=True).get(pk=interview_id)
    seen = set(numbers)
    gaps = [n for n in range(1, expected + 1) if n not in seen]
    duplicates = len(numbers) - len(seen)
    extra = sorted(n for n in seen if n > expected or n < 1)
    ok = numbers == list(range(1, expected + 1)) and count == expected
    if ok:
        return True, f"ok: 1..{expected}, message_count {count}"
    detail = f"{len(numbers)} rows, message_count {count}, {len(gaps)} gap(s) {gaps[:5]}, {duplicates} duplicate(s)"
    return False, f"BROKEN: {detail}" + (f", out of range {extra[:5]}" if extra else "")


# --- the writers -----------------------------------------------------------------------------


def _append_many(interview_id, count: int, latencies: list, errors: list) -> None:
    from django.db import connection

    from interviews.models import MessageRole
    from interviews.services import interview_message_append

    try:
        for n in range(count):
            role = MessageRole.USER if n % 2 else MessageRole.ASSISTANT
            begin = time.perf_counter()
            try:
                interview_message_append(interview_id=interview_id, role=role, content=CONTENT)
            except Exception as exc:  # counted and reported: a failed write fails the benchmark
                errors.append(f"{type(exc).__name__}: {exc}"[:300])
            else:
                latencies.append(time.perf_counter() - begin)
    finally:
        connection.close()


def _timed_threads(result: Result, writer, writers: int, start_gate: threading.Barrier) -> Result:
    """Start ``writers`` threads running ``writer``, release them together at ``start_gate``
    and record the wall time until the last one finishes."""
    threads = [threading.Thread(target=writer) for _ in range(writers)]
    for thread in threads:
        thread.start()
    start_gate.wait()
    begin = time.perf_counter()
    for thread in threads:
        thread.join()
    result.wall = time.perf_counter() - begin
    return result


def run_threads(interview_id, writers: int, per_writer: int) -> Result:
    result = Result("service, threads")
    start_gate = threading.Barrier(writers + 1)

    def writer():
        start_gate.wait()
        _append_many(interview_id, per_writer, result.latencies, result.errors)

    return _timed_threads(result, writer, writers, start_gate)


def _process_writer(interview_id, per_writer: int, gate, queue) -> None:
    sys.path.insert(0, str(ROOT))
    # One writer per process: a pool of one or two connections, so 20 processes stay well
    # under PostgreSQL's max_connections.
    os.environ.update({"DATABASE_POOL_MIN_SIZE": "1", "DATABASE_POOL_MAX_SIZE": "2"})
    import django

    django.setup()
    latencies: list[float] = []
    errors: list[str] = []
    gate.wait()
    _append_many(interview_id, per_writer, latencies, errors)
    queue.put((latencies, errors))


def run_processes(interview_id, writers: int, per_writer: int) -> Result:
    result = Result("service, processes")
    ctx = multiprocessing.get_context("spawn")  # never fork a process holding pooled connections
    gate = ctx.Barrier(writers + 1)
    queue = ctx.Queue()
    procs = [ctx.Process(target=_process_writer, args=(interview_id, per_writer, gate, queue)) for _ in range(writers)]
    try:
        for proc in procs:
            proc.start()
        gate.wait(timeout=300)  # every writer has set Django up
        begin = time.perf_counter()
        for _ in procs:
            latencies, errors = queue.get(timeout=600)
            result.latencies += latencies
            result.errors += errors
        result.wall = time.perf_counter() - begin
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
    return result


def run_bare(url: str, interview_id, writers: int, per_writer: int) -> Result:
    """The same transaction in bare psycopg, one connection per writer thread."""
    import psycopg

    result = Result("bare psycopg, threads")
    start_gate = threading.Barrier(writers + 1)

    def writer():
        with psycopg.connect(psycopg_url(url)) as conn:
            start_gate.wait()
            for n in range(per_writer):
                begin = time.perf_counter()
                try:
                    with conn.transaction():
                        last, language = conn.execute(
                            "SELECT message_count, language FROM interviews_interview WHERE id = %s FOR UPDATE",
                            [interview_id],
                        ).fetchone()
                        conn.execute(
                            "UPDATE interviews_interview SET message_count = %s, updated_at = now() WHERE id = %s",
                            [last + 1, interview_id],
                        )
                        conn.execute(
                            "INSERT INTO interviews_interviewmessage (id, interview_id, role, content, "
                            "sequence_number, metadata, created_at, language) "
                            "VALUES (%s, %s, %s, %s, %s, '{}', now(), %s)",
                            [uuid.uuid4(), interview_id, "user" if n % 2 else "assistant", CONTENT, last + 1, language],
                        )
                except psycopg.Error as exc:
                    result.errors.append(f"{type(exc).__name__}: {exc}"[:300])
                else:
                    result.latencies.append(time.perf_counter() - begin)

    return _timed_threads(result, writer, writers, start_gate)


# --- the run ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", type=int, default=20)
    parser.add_argument("--messages-per-writer", type=int, default=100)
    parser.add_argument("--modes", type=lambda s: s.split(","), default=list(MODES))
    parser.add_argument("--db-name", default="bench_writers", help="database to create (and drop); bench* only")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", ""), help="default: REDIS_URL")
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    args = parser.parse_args()
    if unknown := set(args.modes) - set(MODES):
        parser.error(f"unknown mode(s): {', '.join(sorted(unknown))}")
    install_sigterm_as_exit()

    url = database_url(args.db_name)
    expected = args.writers * args.messages_per_writer
    print(f"database {args.db_name}: creating, migrating…", flush=True)
    database_recreate(url)
    results: list[Result] = []
    try:
        # One pooled connection per writer thread, plus the checks'.
        django_setup(url, redis_url=args.redis_url, pool_max=args.writers + 2)
        runs = [("bare", lambda i: run_bare(url, i, args.writers, args.messages_per_writer))]
        if "threads" in args.modes:
            runs.append(("threads", lambda i: run_threads(i, args.writers, args.messages_per_writer)))
        if "processes" in args.modes:
            runs.append(("processes", lambda i: run_processes(i, args.writers, args.messages_per_writer)))
        for name, run in runs:
            interview = interview_create()
            print(f"  {name}: {args.writers} writers x {args.messages_per_writer} messages…", end="", flush=True)
            result = run(interview.id)
            result.ok, result.check = sequence_check(interview.id, expected)
            result.ok = result.ok and not result.errors
            print(f" {result.rate:,.0f} messages/s", flush=True)
            results.append(result)
    finally:
        database_finish(url, keep=args.keep)

    print()
    print(f"Writers benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {machine(url)}")
    print(
        f"a fresh interview per row, {args.writers} concurrent writers x {args.messages_per_writer} messages "
        f"= {expected:,}; Redis: {'yes' if args.redis_url else 'no (in-memory channel layer)'}"
    )
    print()
    base = results[0]
    head = f"{'writer':<24}{'messages/s':>11}{'x bare':>8}{'p50 ms':>8}{'p99 ms':>8}{'errors':>8}  sequence check"
    print(head)
    print("-" * (len(head) + 16))
    for result in results:
        ordered = sorted(result.latencies)
        print(
            f"{result.label:<24}{result.rate:>11,.0f}{result.rate / base.rate if base.rate else 0:>8.2f}"
            f"{percentile(ordered, 50) * 1000:>8.1f}{percentile(ordered, 99) * 1000:>8.1f}"
            f"{len(result.errors):>8}  {result.check}"
        )
    for result in results:
        if result.errors:
            print(f"{result.label}: first error: {result.errors[0]}")
    return 0 if all(result.ok for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
