"""Benchmark: message search (``GET /api/v1/interviews?search=``) with and without its indexes.

    .venv/bin/python bench/search_bench.py [--messages 1000000] [--repeat 50] [--baseline-repeat 1]
        [--baseline-words 2] [--inserts 300] [--db-name bench_search] [--keep]

Creates its own PostgreSQL database (``bench_search`` on DATABASE_URL's server, or on
postgres://postgres@127.0.0.1:5432), migrates it, drops the search documents' trigger and index,
loads the dataset server-side with generate_series (10 messages per interview, half the
interviews in English, half in Spanish, sentences and words drawn from a small vocabulary of
each language), then builds the documents as migration 0013 does (trigger, back-fill, GIN
index) and times that.

Measured, per kind of search, in this process through the selectors the list view runs (the
scope of a staff member whose organization holds every interview), ``--repeat`` times each:
count + page of 20 (newest first) + their snippets, i.e. one uncached list request's queries,
and the page + snippets alone (what a request costs while the count is cached, see
LIST_COUNT_CACHE_SECONDS), and, as an alternative not shipped (it would change ``total_items``),
a count capped at CAPPED_COUNT + page + snippets. Kinds: ``many`` (words in most interviews), ``few`` (words in 20
interviews), ``none`` (words in no interview); several words per kind, in turn.

The baseline, in the same run on the same data, is the search before the indexes: an
``icontains`` ``EXISTS`` over every message (``--baseline-repeat`` times the first
``--baseline-words`` words of each kind: seconds per query at 1M messages). Then the cost
the search documents add to the hot insert path: ``--inserts`` single-message appends through
``interview_messages_append`` to one interview with the trigger and index (its document grows
with each), and as many after dropping them.

Exit status 1 if a "few" word did not match exactly 20 interviews or a "none" word matched
any. The database is dropped at the end unless ``--keep``.
"""

import argparse
import importlib
import itertools
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import (
    database_finish,
    database_recreate,
    database_url,
    django_setup,
    install_sigterm_as_exit,
    machine,
    percentile,
)
from bench.rest_bench import USERS_SQL, UUID7_SQL  # the same employees and uuid7 as the REST bench

MESSAGES_PER_INTERVIEW = 10
FEW_INTERVIEWS = 20
PAGE_SIZE = 20
CAPPED_COUNT = 1000  # the alternative measured: "1,000+" instead of an exact total

# Searches per kind, run in turn. "many": in most interviews of their language (and "SAP" in
# both); "few": each in FEW_INTERVIEWS interviews (stemmed forms of the stored words);
# "none": in no message.
SEARCHES = {
    "many": ["SAP", "invoices", "facturas", "Excel report"],
    "few": ["kubernetes", "contabilizaciones", "ornithopter", "ornitóptero"],
    "none": ["blockchain", "ornitorrinco", "zeppelin hangar", "criptomonedas"],
}

# Interview i starts i minutes ago; odd ones are in English. The columns named here are set;
# every other one is copied from a template row saved through the ORM (so columns added later
# get their defaults): interviews_sql() writes the column lists.
INTERVIEW_VALUES = {
    "id": "pg_temp.bench_uuid7(now() - i * interval '1 minute')",
    "employee_id": "emp.ids[1 + i %% emp.n]",
    "language": "CASE WHEN i %% 2 = 1 THEN 'en' ELSE 'es' END",
    "message_count": "%(per)s",
    "question_count": "%(per)s / 2",
    "started_at": "now() - i * interval '1 minute'",
    "completed_at": "now() - i * interval '1 minute' + interval '5 minutes'",
}
INTERVIEWS_SQL = """
WITH emp AS (SELECT array_agg(employee_id ORDER BY id) AS ids, count(*) AS n
             FROM accounts_user WHERE username LIKE 'bench-e-%%')
INSERT INTO interviews_interview ({columns})
SELECT {values}
FROM interviews_interview t, generate_series(1, %(interviews)s) AS i, emp
WHERE t.id = %(template)s
"""


def interviews_sql(columns: list[str]) -> str:
    values = [INTERVIEW_VALUES.get(name, f't."{name}"') for name in columns]
    return INTERVIEWS_SQL.format(columns=", ".join(f'"{name}"' for name in columns), values=", ".join(values))


EN_SENTENCES = [
    "I prepare the purchase orders in SAP and reconcile them in Excel every morning.",
    "Vendors send invoices in PDF with different layouts, so I retype them by hand.",
    "Which problems come up often, and how do you solve or work around them?",
    "Describe step by step how you carry out that process, from start to finish.",
    "My manager approves the budget by email before I create the order.",
    "We export the weekly report from the ERP and send it to finance on Fridays.",
    "The warehouse team checks the stock levels and updates the spreadsheet.",
    "What is your role, and which main process do you carry out day to day?",
    "Sometimes the approvals are delayed because the manager is travelling.",
    "I would automate the invoice matching and the monthly closing checklist.",
    "Customers call the help desk when their delivery is late or incomplete.",
    "We track every shipment in a shared tracker that nobody keeps up to date.",
]
ES_SENTENCES = [
    "Preparo las órdenes de compra en SAP y las concilio en Excel cada mañana.",
    "Los proveedores envían facturas en PDF con formatos distintos y las transcribo.",
    "¿Qué problemas aparecen a menudo y cómo los resuelves o los evitas?",
    "Describe paso a paso cómo realizas ese proceso, desde que empieza hasta que termina.",
    "Mi jefa aprueba el presupuesto por correo antes de que cree la orden.",
    "Exportamos el informe semanal del ERP y lo enviamos a finanzas los viernes.",
    "El equipo del almacén revisa el inventario y actualiza la hoja de cálculo.",
    "¿Cuál es tu puesto y qué proceso principal realizas en tu día a día?",
    "A veces las aprobaciones se retrasan porque la responsable está de viaje.",
    "Automatizaría el cruce de facturas y la lista de cierre mensual.",
    "Los clientes llaman al soporte cuando la entrega llega tarde o incompleta.",
    "Seguimos cada envío en una planilla compartida que nadie mantiene al día.",
]
EN_WORDS = [
    "budget",
    "forecast",
    "ledger",
    "supplier",
    "contract",
    "warehouse",
    "audit",
    "payroll",
    "compliance",
    "onboarding",
    "ticket",
    "dashboard",
    "quarter",
    "margin",
    "discount",
    "pallet",
    "freight",
    "customs",
    "carrier",
    "route",
    "schedule",
    "overtime",
    "shift",
    "training",
    "checklist",
    "template",
    "approval",
    "escalation",
    "backlog",
    "deadline",
    "meeting",
    "handover",
]
ES_WORDS = [
    "presupuesto",
    "previsión",
    "libro",
    "proveedor",
    "contrato",
    "almacén",
    "auditoría",
    "nómina",
    "cumplimiento",
    "incorporación",
    "incidencia",
    "tablero",
    "trimestre",
    "margen",
    "descuento",
    "palé",
    "flete",
    "aduana",
    "transportista",
    "ruta",
    "horario",
    "horas",
    "turno",
    "formación",
    "lista",
    "plantilla",
    "aprobación",
    "escalado",
    "pendiente",
    "plazo",
    "reunión",
    "traspaso",
]

# Two sentences, three vocabulary words and a ticket number (the long tail of real text: names,
# numbers, rare words) per message, picked by a hash of (interview, turn);
# the "few" words go into turn 4 of FEW_INTERVIEWS interviews spread over the whole range.
MESSAGES_SQL = """
INSERT INTO interviews_interviewmessage (id, interview_id, role, content, sequence_number, client_message_id,
                                         evaluation, metadata, created_at, language)
SELECT pg_temp.bench_uuid7(iv.started_at + s * interval '30 seconds'), iv.id,
       CASE WHEN s %% 2 = 1 THEN 'assistant' ELSE 'user' END,
       CASE WHEN iv.language = 'en' THEN
              (%(en)s::text[])[1 + (h %% 12)] || ' ' || (%(en)s::text[])[1 + ((h / 12) %% 12)]
              || ' Notes: ' || (%(enw)s::text[])[1 + ((h / 144) %% %(nw)s)] || ', '
              || (%(enw)s::text[])[1 + ((h / 7) %% %(nw)s)] || ', ' || (%(enw)s::text[])[1 + ((h / 11) %% %(nw)s)]
              || ' (ticket ' || (h / 13) %% 50000 || ')'
              || CASE WHEN s = 4 AND n %% %(few_every)s IN (0, 1)
                      THEN ' We are moving the ornithopter telemetry to Kubernetes.' ELSE '' END
            ELSE
              (%(es)s::text[])[1 + (h %% 12)] || ' ' || (%(es)s::text[])[1 + ((h / 12) %% 12)]
              || ' Notas: ' || (%(esw)s::text[])[1 + ((h / 144) %% %(nw)s)] || ', '
              || (%(esw)s::text[])[1 + ((h / 7) %% %(nw)s)] || ', ' || (%(esw)s::text[])[1 + ((h / 11) %% %(nw)s)]
              || ' (incidencia ' || (h / 13) %% 50000 || ')'
              || CASE WHEN s = 4 AND n %% %(few_every)s IN (0, 1)
                      THEN ' Revisamos la contabilización del ornitóptero.' ELSE '' END
       END,
       s, NULL, NULL, '{}', iv.started_at + s * interval '30 seconds', iv.language
FROM (SELECT id, language, started_at, row_number() OVER (ORDER BY started_at) AS n
      FROM interviews_interview WHERE organization_id = %(org)s) AS iv
CROSS JOIN LATERAL generate_series(1, %(per)s) AS s
CROSS JOIN LATERAL (SELECT abs(hashtext(iv.id::text || s)) AS h) AS hash
"""


@dataclass
class Timings:
    total: list[float] = field(default_factory=list)  # count + page + snippets
    page: list[float] = field(default_factory=list)  # page + snippets (count cached)
    capped: list[float] = field(default_factory=list)  # count capped at CAPPED_COUNT + page + snippets

    def p(self, which: str, q: float) -> float:
        return percentile(sorted(getattr(self, which)), q) * 1000


def _indexes(create: bool) -> float:
    """Build the search documents as migration 0013 does (trigger, back-fill, GIN index), or drop them."""
    from django.db import connection

    migration = importlib.import_module("interviews.migrations.0013_interview_search_document")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        if create:
            cursor.execute("SET maintenance_work_mem = '256MB'")
            cursor.execute(migration.TRIGGER_SQL)
            cursor.execute(migration.REBUILD_SQL)
            cursor.execute(migration.BACKFILL_SQL)
            cursor.execute(migration.INDEX_SQL)
            cursor.execute("RESET maintenance_work_mem")
        else:
            cursor.execute(migration.trigger_drop_sql())
            cursor.execute(f"DROP INDEX IF EXISTS {migration.INDEX_NAME}")
            cursor.execute(f"TRUNCATE {migration.TABLE}")
    return time.perf_counter() - started


def dataset_load(messages: int):
    from django.db import connection
    from django.utils import timezone

    from accounts.models import Role, User
    from interviews.models import Interview

    interviews = max(FEW_INTERVIEWS * 2, messages // MESSAGES_PER_INTERVIEW)
    org = uuid.uuid4()
    staff = User.objects.create(username="bench-staff", role=Role.STAFF, organization_id=org, is_staff=True)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(UUID7_SQL)
        cursor.execute(USERS_SQL, {"org": org, "employees": max(1, interviews // 100)})
        template = Interview.objects.create(
            employee=staff, organization_id=org, status="completed", started_at=timezone.now()
        )
        columns = [c.name for c in connection.introspection.get_table_description(cursor, "interviews_interview")]
        cursor.execute(
            interviews_sql(columns),
            {"interviews": interviews, "per": MESSAGES_PER_INTERVIEW, "template": template.id},
        )
        template.delete()
        cursor.execute(
            MESSAGES_SQL,
            {
                "org": org,
                "per": MESSAGES_PER_INTERVIEW,
                "en": EN_SENTENCES,
                "es": ES_SENTENCES,
                "enw": EN_WORDS,
                "esw": ES_WORDS,
                "nw": min(len(EN_WORDS), len(ES_WORDS)),
                # Two neighbours (one English, one Spanish) in every few_every interviews.
                "few_every": max(2, interviews // FEW_INTERVIEWS),
            },
        )
        cursor.execute("DROP FUNCTION pg_temp.bench_uuid7(timestamptz)")
    loaded = time.perf_counter() - started
    return staff, interviews, loaded


def _api_search(user, text: str, times: Timings, *, indexed: bool) -> int:
    """The list view's queries for ``?search=text`` (newest first, first page), timed."""
    from django.db.models import Exists, OuterRef

    from interviews import selectors
    from interviews.models import InterviewMessage

    visible = selectors.interview_list_visible_to(user=user)

    def searched():
        if indexed:  # takes the matching ids from the index first when few (one query)
            return selectors.interview_search(visible, text).order_by("-started_at", "-id")
        matches = InterviewMessage.objects.filter(interview=OuterRef("pk"), content__icontains=text)
        return visible.filter(Exists(matches)).order_by("-started_at", "-id")  # the search before issue 16

    started = time.perf_counter()
    queryset = searched()
    built = time.perf_counter()
    total = queryset.count()
    counted = time.perf_counter()
    rows = list(queryset[:PAGE_SIZE]) if total else []  # as the view: no page past the end
    if indexed:
        selectors.interview_search_snippets(interviews=rows, text=text)
    finished = time.perf_counter()
    times.total.append(finished - started)
    times.page.append((built - started) + (finished - counted))  # everything but the count
    if indexed:  # the alternative: at most CAPPED_COUNT + 1 matches counted, then the same page
        started = time.perf_counter()
        queryset = searched()
        if queryset.order_by()[: CAPPED_COUNT + 1].count():
            selectors.interview_search_snippets(interviews=list(queryset[:PAGE_SIZE]), text=text)
        times.capped.append(time.perf_counter() - started)
    return total


def searches_measure(user, repeat: int, *, indexed: bool, words_per_kind: int) -> dict[str, tuple[Timings, int]]:
    results = {}
    for kind, all_words in SEARCHES.items():
        words = all_words[:words_per_kind]
        times, matched = Timings(), {}
        for _, text in zip(range(len(words)), words, strict=False):  # warm-up: each word once
            matched[text] = _api_search(user, text, Timings(), indexed=indexed)
        for _, text in zip(range(repeat * len(words)), itertools.cycle(words), strict=False):
            _api_search(user, text, times, indexed=indexed)
        results[kind] = (times, round(statistics.mean(matched.values())))
        print(f"  {'full text' if indexed else 'icontains'} {kind}: done", flush=True)
    return results


def inserts_measure(interview_id, count: int) -> list[float]:
    from interviews.services import interview_message_append

    latencies = []
    for n in range(count):
        started = time.perf_counter()
        interview_message_append(
            interview_id=interview_id, role="user", content=f"Answer {n}: {EN_SENTENCES[n % len(EN_SENTENCES)]}"
        )
        latencies.append(time.perf_counter() - started)
    return sorted(latencies)


def _sizes() -> str:
    from django.db import connection

    from interviews.search import INDEX_NAME

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_size_pretty(pg_table_size('interviews_interviewmessage')), "
            "pg_size_pretty(pg_table_size('interviews_interviewsearchdocument')), "
            "pg_size_pretty(pg_relation_size(%s::regclass))",
            [INDEX_NAME],
        )
        messages, documents, index = cursor.fetchone()
    return f"messages table {messages}; search documents {documents}, {INDEX_NAME} {index}"


def report(args, *, interviews, loaded, built, sizes, fulltext, baseline, inserts) -> None:
    from bench._support import database_url as _url

    print()
    print(f"Search benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {machine(_url(args.db_name))}")
    print(
        f"dataset: {args.messages:,} messages in {interviews:,} interviews (half English, half Spanish), "
        f"loaded in {loaded:.0f} s; indexes built in {built:.0f} s; {sizes}"
    )
    print(
        f"full text: {args.repeat} runs per word, {len(SEARCHES['many'])} words per kind; "
        f"icontains: {args.baseline_repeat} run(s) of the first {args.baseline_words} words; "
        f"capped: count capped at {CAPPED_COUNT:,} (not shipped). Times in ms."
    )
    print()
    header = (
        f"{'search':<6} {'matches':>9} | {'full text p50':>13} {'p99':>7} | {'page only p50':>13} {'p99':>7} | "
        f"{'icontains p50':>13} {'p99':>7} | {'ratio p50':>9} | {'capped p50':>10} {'p99':>7}"
    )
    print(header)
    print("-" * len(header))
    for kind in SEARCHES:
        ft, matched = fulltext[kind]
        bl, _ = baseline[kind]
        ratio = bl.p("total", 50) / max(ft.p("total", 50), 1e-6)
        print(
            f"{kind:<6} {matched:>9,} | {ft.p('total', 50):>13.1f} {ft.p('total', 99):>7.1f} | "
            f"{ft.p('page', 50):>13.1f} {ft.p('page', 99):>7.1f} | "
            f"{bl.p('total', 50):>13.1f} {bl.p('total', 99):>7.1f} | {ratio:>8.0f}x | "
            f"{ft.p('capped', 50):>10.1f} {ft.p('capped', 99):>7.1f}"
        )
    if inserts:
        with_idx, without = inserts
        print()
        print(
            f"insert (one message, interview_messages_append, {len(with_idx)} each): with the search document "
            f"p50 {percentile(with_idx, 50) * 1000:.2f} ms p99 {percentile(with_idx, 99) * 1000:.2f} ms; "
            f"without p50 {percentile(without, 50) * 1000:.2f} ms p99 {percentile(without, 99) * 1000:.2f} ms "
            f"(ratio p50 {percentile(with_idx, 50) / max(percentile(without, 50), 1e-9):.2f})"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=50, help="full-text runs per word")
    parser.add_argument("--baseline-repeat", type=int, default=1, help="icontains runs per word")
    parser.add_argument("--baseline-words", type=int, default=2, help="icontains: the first N words of each kind")
    parser.add_argument("--inserts", type=int, default=300, help="single-message appends with and without indexes")
    parser.add_argument(
        "--db-name", default="bench_search", help="database to create (and drop); must start with bench"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    args = parser.parse_args()
    if args.messages < FEW_INTERVIEWS * 2 * MESSAGES_PER_INTERVIEW:
        parser.error(f"--messages must be at least {FEW_INTERVIEWS * 2 * MESSAGES_PER_INTERVIEW}")
    install_sigterm_as_exit()

    url = database_url(args.db_name)
    print(f"database {args.db_name}: creating, migrating, loading {args.messages:,} messages…", flush=True)
    database_recreate(url)
    try:
        django_setup(url)
        from django.db import connection

        from interviews.models import Interview

        _indexes(create=False)  # load first, then build: what a migration on a full table does
        staff, interviews, loaded = dataset_load(args.messages)
        print(f"loaded in {loaded:.0f} s; building the indexes…", flush=True)
        built = _indexes(create=True)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE interviews_interviewmessage")
            cursor.execute("VACUUM ANALYZE interviews_interviewsearchdocument")
            cursor.execute("ANALYZE interviews_interview")
        sizes = _sizes()
        print(f"indexes built in {built:.0f} s ({sizes}); measuring…", flush=True)
        fulltext = searches_measure(staff, args.repeat, indexed=True, words_per_kind=len(SEARCHES["many"]))
        baseline = searches_measure(staff, args.baseline_repeat, indexed=False, words_per_kind=args.baseline_words)
        inserts = None
        if args.inserts:
            target = Interview.objects.filter(language="en").order_by("-started_at").first()
            with_idx = inserts_measure(target.id, args.inserts)
            _indexes(create=False)
            inserts = (with_idx, inserts_measure(target.id, args.inserts))
            if args.keep:  # a kept database is searched as the app would: with its indexes
                _indexes(create=True)
        report(
            args,
            interviews=interviews,
            loaded=loaded,
            built=built,
            sizes=sizes,
            fulltext=fulltext,
            baseline=baseline,
            inserts=inserts,
        )
        # The dataset's promise: every "few" word in FEW_INTERVIEWS interviews, no "none" word anywhere.
        wrong = fulltext["few"][1] != FEW_INTERVIEWS or fulltext["none"][1] != 0
        if wrong:
            print(f"unexpected matches: few {fulltext['few'][1]}, none {fulltext['none'][1]}", file=sys.stderr)
        return 1 if wrong else 0
    finally:
        database_finish(url, keep=args.keep)


if __name__ == "__main__":
    sys.exit(main())
