"""Benchmark: export one 10,000-message interview in every format; time and peak memory.

    .venv/bin/python bench/export_bench.py [--messages 10000] [--chunk-size 500]
        [--job-interviews 1000] [--job-messages 40] [--job-format json]

Uses a throw-away SQLite file unless DATABASE_URL is set (then it migrates that database,
adds one user and one interview, and deletes them at the end). Each format runs the same code
as the API (``export_header`` + the format's renderer over ``export_turns``) and the bytes are
counted, not kept. The baseline, measured in the same run, is a bare loop over the same rows
writing ``"<seq> <role>: <content>\\n"``: the least any export has to do.

Then an export job of ``--job-interviews`` interviews (0: none) through a real daphne and a
worker process, with the time and the memory of both (bench/_export_job.py).
"""

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SENTENCES = [
    "¿Qué herramientas usas en tu trabajo diario y para qué las usas?",
    "Uso SAP para las órdenes de compra y Excel para conciliar; también reviso el año fiscal con la señora Muñoz.",
    "¡Perfecto! Cuéntame cómo priorizas cuando llegan varias solicitudes urgentes a la vez.",
    "Primero hablo con el equipo, luego ordeno por impacto y plazo, y documento la decisión en el ticket.",
    "Ω ж € ✓ — también escribimos informes en inglés y portugués (ação, coração).",
]


def setup_django(db_path: str | None) -> None:
    os.environ.setdefault("SECRET_KEY", "export-bench-only-" + "x" * 40)
    os.environ.setdefault("DEBUG", "0")
    if db_path:
        os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "interviewsvc.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def build_interview(messages: int):
    from accounts.models import Role, User
    from interviews.models import Interview, InterviewMessage, InterviewStatus, MessageRole

    started = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
    user = User.objects.create(username=f"bench-{uuid.uuid4().hex[:8]}", first_name="José", last_name="Peña")
    user.role = Role.EMPLOYEE
    user.save()
    interview = Interview.objects.create(
        employee=user,
        organization_id=user.organization_id,
        status=InterviewStatus.COMPLETED,
        started_at=started,
        completed_at=started + timedelta(seconds=5 * messages),
        message_count=messages,
        question_count=(messages + 1) // 2,
    )
    batch = []
    for n in range(1, messages + 1):
        role = MessageRole.ASSISTANT if n % 2 else MessageRole.USER
        content = " ".join(SENTENCES[(n + k) % len(SENTENCES)] for k in range(1 + n % 4))
        batch.append(
            InterviewMessage(
                interview=interview,
                role=role,
                content=content,
                sequence_number=n,
                created_at=started + timedelta(seconds=5 * n),
            )
        )
        if len(batch) == 1000:
            InterviewMessage.objects.bulk_create(batch)
            batch = []
    InterviewMessage.objects.bulk_create(batch)
    return user, interview


def measure(run) -> tuple[float, int, int]:
    """(seconds, peak traced bytes, output bytes) of ``run()``, which returns an iterable of bytes.

    Two passes: tracemalloc slows allocation-heavy code (PDF layout) several times over, so
    the time comes from a pass without it and the peak from a pass with it.
    """
    start = time.perf_counter()
    size = sum(len(chunk) for chunk in run())
    elapsed = time.perf_counter() - start
    tracemalloc.start()
    sum(len(chunk) for chunk in run())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--chunk-size", type=int, default=500, help="rows per database round trip")
    parser.add_argument("--job-interviews", type=int, default=1_000, help="interviews of the export job (0: no job)")
    parser.add_argument("--job-messages", type=int, default=40, help="messages per interview of the job")
    parser.add_argument("--job-format", default="json", help="member format of the job's ZIP")
    args = parser.parse_args()

    tmp = None
    if not os.environ.get("DATABASE_URL"):
        tmp = tempfile.TemporaryDirectory(prefix="export-bench-")
        setup_django(str(Path(tmp.name) / "bench.sqlite3"))
    else:
        setup_django(None)

    from django.db import connection

    from interviews.exports.archive import zip_chunks
    from interviews.exports.data import export_header, export_interview_get, export_turns
    from interviews.exports.formats import FORMATS, export_filename
    from interviews.models import InterviewMessage

    print(f"database: {connection.vendor}; building an interview of {args.messages:,} messages…", flush=True)
    user, created = build_interview(args.messages)
    try:
        interview = export_interview_get(interview_id=created.id)

        def baseline():
            rows = (
                InterviewMessage.objects.filter(interview_id=interview.id)
                .order_by("sequence_number")
                .values_list("sequence_number", "role", "content")
                .iterator(chunk_size=args.chunk_size)
            )
            for sequence_number, role, content in rows:
                yield f"{sequence_number} {role}: {content}\n".encode()

        def export(fmt):
            header = export_header(interview=interview, exported_by=user)
            return fmt.render(header, export_turns(interview_id=interview.id, chunk_size=args.chunk_size))

        def zipped(fmt):
            return zip_chunks([(export_filename(interview.id, fmt), export(fmt))])

        runs = [("baseline (plain loop)", baseline)]
        runs += [(name, lambda fmt=fmt: export(fmt)) for name, fmt in FORMATS.items()]
        runs += [("zip of json", lambda: zipped(FORMATS["json"]))]

        results = []
        for label, run in runs:
            print(f"  {label}…", end="", flush=True)
            results.append((label, *measure(run)))
            print(" done", flush=True)
    finally:
        created.delete()
        user.delete()
    try:
        job_rows = []
        if args.job_interviews:
            from _export_job import run_job

            job_rows = run_job(
                interviews=args.job_interviews,
                messages=args.job_messages,
                export_format=args.job_format,
                sentences=SENTENCES,
            )
    finally:
        if tmp is not None:
            tmp.cleanup()

    base_time, base_peak = results[0][1], results[0][2]
    print()
    print(f"{'format':<22}{'time s':>9}{'x base':>9}{'peak MiB':>10}{'x base':>9}{'output KiB':>12}")
    for label, elapsed, peak, size in results:
        print(
            f"{label:<22}{elapsed:>9.2f}{elapsed / base_time:>9.1f}{peak / 2**20:>10.1f}"
            f"{peak / base_peak:>9.1f}{size / 1024:>12.0f}"
        )
    if job_rows:
        print()
        for label, value in job_rows:
            print(f"{label:<30}{value}")


if __name__ == "__main__":
    main()
