"""Message search: ``GET /api/v1/interviews?search=`` and the admin's search box (issue 16).

PostgreSQL: full text, stemmed in each interview's language, through the partial GIN indexes
of migration 0008. SQLite: a case-insensitive substring match. Both: scoped like the list,
and each item says where it matched in an HTML-safe snippet.
"""

import threading

import pytest
from django.db import connection, connections, transaction
from django.urls import reverse

from interviews.models import Interview, InterviewMessage, InterviewSearchDocument
from interviews.search import COLLECT_MAX, INDEX_NAME, interview_search, matching_documents
from interviews.services import interview_message_append, interview_migrate
from tests.conftest import ON_POSTGRES
from tests.factories import ORG_B, InterviewFactory, UserFactory, add_messages

pytestmark = pytest.mark.django_db
URL = "/api/v1/interviews"


def ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["data"]}


def said(interview, content, role="user"):
    interview_message_append(interview_id=interview.id, role=role, content=content)
    return interview


def test_message_carries_its_interviews_language(employee):
    english = said(InterviewFactory(employee=employee, language="en"), "Hello")
    spanish = InterviewFactory(employee=employee, language="es")
    add_messages(spanish, 2)  # bulk_create, outside the service
    assert set(InterviewMessage.objects.filter(interview=english).values_list("language", flat=True)) == {"en"}
    assert set(InterviewMessage.objects.filter(interview=spanish).values_list("language", flat=True)) == {"es"}


@pytest.mark.postgres
def test_stems_in_the_interviews_language(client_for, employee):
    english = said(
        InterviewFactory(employee=employee, language="en"), "The running processes. Revisamos contabilizaciones"
    )
    spanish = said(
        InterviewFactory(employee=employee, language="es"), "The running processes. Revisamos contabilizaciones"
    )
    client = client_for(employee)
    # English stemming: "run" finds "running", but only where the interview is in English.
    assert ids(client.get(URL, {"search": "run"})) == {str(english.id)}
    # Spanish stemming: "contabilización" finds "contabilizaciones" in the Spanish interview only.
    assert ids(client.get(URL, {"search": "contabilización"})) == {str(spanish.id)}
    assert ids(client.get(URL, {"search": "RUNS"})) == {str(english.id)}
    # Web search syntax: all words, "-word" excludes.
    assert ids(client.get(URL, {"search": "running processes"})) == {str(english.id), str(spanish.id)}
    assert ids(client.get(URL, {"search": "running -contabilizaciones"})) == set()
    # Words only, not parts of words; a language's stop words are not searched in it.
    assert ids(client.get(URL, {"search": "runn"})) == set()
    assert ids(client.get(URL, {"search": "the"})) == {str(spanish.id)}
    assert ids(client.get(URL, {"search": "las"})) == set()


def test_substring_fallback_on_sqlite(client_for, employee):
    interview = said(InterviewFactory(employee=employee, language="es"), "Uso SAP y Excel a diario")
    client = client_for(employee)
    assert ids(client.get(URL, {"search": "sap y excel"})) == {str(interview.id)}
    # Part of a word: a substring match on SQLite, not a word on PostgreSQL.
    expected = set() if ON_POSTGRES else {str(interview.id)}
    assert ids(client.get(URL, {"search": "xce"})) == expected


def test_search_stays_in_the_callers_scope(client_for, employee, other_employee, staff):
    mine = said(InterviewFactory(employee=employee), "Concilio facturas en SAP")
    colleague = said(InterviewFactory(employee=other_employee), "Concilio facturas en SAP")
    foreign = said(InterviewFactory(employee=UserFactory(organization_id=ORG_B)), "Concilio facturas en SAP")
    assert ids(client_for(employee).get(URL, {"search": "SAP"})) == {str(mine.id)}
    assert ids(client_for(staff).get(URL, {"search": "SAP"})) == {str(mine.id), str(colleague.id)}
    assert str(foreign.id) not in ids(client_for(staff).get(URL, {"search": "SAP"}))
    body = client_for(staff).get(URL, {"search": "SAP"}).json()
    assert body["meta"]["pagination"]["total_items"] == 2
    assert body["meta"]["filters"]["search"] == "SAP"


def test_items_carry_a_snippet_only_when_searching(client_for, employee):
    interview = said(InterviewFactory(employee=employee, language="es"), "¿Qué herramientas usas?", role="assistant")
    said(interview, "Preparo las órdenes en SAP cada mañana")
    client = client_for(employee)
    [item] = client.get(URL, {"search": "sap"}).json()["data"]
    assert "<mark>SAP</mark>" in item["search_snippet"]
    assert "órdenes" in item["search_snippet"]
    assert "herramientas" not in item["search_snippet"]  # the message that matched, not the first one
    [item] = client.get(URL).json()["data"]
    assert "search_snippet" not in item


HOSTILE = 'Uso <img src=x onerror="alert(1)"> SAP y <b>Excel</b> & "más" \x02evil\x03 </mark><script>x</script>'


def test_snippet_is_escaped_before_marking(client_for, employee):
    said(InterviewFactory(employee=employee, language="es"), HOSTILE)
    [item] = client_for(employee).get(URL, {"search": "sap"}).json()["data"]
    snippet = item["search_snippet"]
    assert "<mark>SAP</mark>" in snippet
    # The only tags left are ours, around the hit: the message's markup is text, or gone.
    assert snippet.replace("<mark>SAP</mark>", "").count("<") == 0
    assert "<mark>evil" not in snippet
    assert "\x02" not in snippet
    assert "\x03" not in snippet


def test_list_with_search_query_count(client_for, staff, employee, django_assert_max_num_queries):
    for n in range(25):
        interview = InterviewFactory(employee=employee, language="en" if n % 2 else "es")
        add_messages(interview, 3)
        said(interview, f"Answer {n}: SAP")
    client = client_for(staff)
    # auth user + count + page + the page's snippets; PostgreSQL first takes the few matches' ids.
    with django_assert_max_num_queries(5 if ON_POSTGRES else 4):
        response = client.get(URL, {"search": "SAP", "page_size": 20})
    assert response.status_code == 200
    first = [item["id"] for item in response.json()["data"]]
    assert len(first) == 20
    assert all("<mark>SAP</mark>" in item["search_snippet"] for item in response.json()["data"])
    # Pages of a search follow the list's order and do not overlap.
    second = client.get(URL, {"search": "SAP", "page_size": 20, "page": 2}).json()["data"]
    newest_first = [str(i) for i in Interview.objects.order_by("-started_at", "-id").values_list("id", flat=True)]
    assert first + [item["id"] for item in second] == newest_first
    oldest_first = client.get(URL, {"search": "SAP", "page_size": 20, "ordering": "started_at"}).json()["data"]
    assert [item["id"] for item in oldest_first] == newest_first[::-1][:20]


def test_stats_use_the_same_search(client_for, employee):
    said(InterviewFactory(employee=employee, language="es"), "Concilio facturas en SAP")
    InterviewFactory(employee=employee)
    body = client_for(employee).get(URL + "/stats", {"search": "SAP"}).json()
    assert body["data"]["total"] == 1


@pytest.mark.postgres
def test_plan_uses_the_search_document_index(staff, employee):
    from interviews import selectors

    template = InterviewFactory(employee=employee)
    with connection.cursor() as cursor:
        # 4,000 interviews of 2 messages each (the trigger builds their documents), 50 words of
        # their own per message as real text has: scanning every document costs more than the index.
        columns = [c.name for c in connection.introspection.get_table_description(cursor, "interviews_interview")]
        values = [
            "gen_random_uuid()"
            if c == "id"
            else "CASE WHEN n %% 2 = 1 THEN 'en' ELSE 'es' END"
            if c == "language"
            else f't."{c}"'
            for c in columns
        ]
        quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
        cursor.execute(
            f"INSERT INTO interviews_interview ({quoted}) "
            f"SELECT {', '.join(values)} FROM interviews_interview t, generate_series(1, 4000) AS n WHERE t.id = %s",
            [template.id],
        )
        cursor.execute(
            "INSERT INTO interviews_interviewmessage (id, interview_id, role, content, sequence_number, "
            "metadata, created_at, language) "
            "SELECT gen_random_uuid(), iv.id, 'user', 'answer about the '"
            " || CASE WHEN s = 2 AND iv.n %% 1000 = 0 THEN 'ledger' ELSE 'budget' END || words.text, s, '{}', now(), "
            "iv.language "
            "FROM (SELECT id, language, row_number() OVER (ORDER BY id) AS n FROM interviews_interview "
            "WHERE id <> %s) AS iv, generate_series(1, 2) AS s, "
            "LATERAL (SELECT string_agg(' w' || (iv.n * 100 + s * 50 + k), '') AS text "
            "FROM generate_series(1, 50) AS k) AS words",
            [template.id],
        )
        # As autovacuum would: statistics, and the index's pending list of new entries merged.
        cursor.execute("ANALYZE interviews_interviewsearchdocument, interviews_interview")
        cursor.execute("SELECT gin_clean_pending_list(%s::regclass)", [INDEX_NAME])
        # The matching ids come from the index (a rare word: the list is then filtered by them).
        ids = matching_documents("ledger").values_list("interview_id", flat=True)[: COLLECT_MAX + 1]
        sql, params = ids.query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert INDEX_NAME in plan, plan
    visible = selectors.interview_list_visible_to(user=staff)
    assert selectors.interview_search(visible, "ledger").count() == 4
    assert selectors.interview_search(visible, "budget").count() == 4000


@pytest.mark.postgres
def test_the_interview_matches_as_a_whole(client_for, employee):
    spread = said(InterviewFactory(employee=employee, language="en"), "We reconcile the purchase orders in SAP.")
    said(spread, "Which spreadsheet do you use?", role="assistant")
    said(spread, "Excel, and an order tracker nobody keeps up to date.")
    other = said(InterviewFactory(employee=employee, language="en"), "Everything lives in SAP.")
    client = client_for(employee)
    # Words in different messages of one interview: all of them are there, so it matches.
    assert ids(client.get(URL, {"search": "SAP Excel"})) == {str(spread.id)}
    # -word: the interview has it in some message, so it is out.
    assert ids(client.get(URL, {"search": "SAP -excel"})) == {str(other.id)}
    # A quoted phrase: its words next to each other.
    assert ids(client.get(URL, {"search": '"purchase orders"'})) == {str(spread.id)}
    assert ids(client.get(URL, {"search": '"orders purchase"'})) == set()
    # No single message holds both words: the snippet shows the first message with either.
    [item] = client.get(URL, {"search": "tracker SAP"}).json()["data"]
    assert "reconcile the purchase orders" in item["search_snippet"]  # the first message, not the third
    assert "<mark>SAP</mark>" in item["search_snippet"]
    # Only an excluded word: nothing to highlight; the snippet is the start of the first message.
    body = client.get(URL, {"search": "-zeppelin"}).json()
    snippets = sorted(row["search_snippet"] for row in body["data"])
    assert snippets[0] == "Everything lives in SAP."
    assert snippets[1].startswith("We reconcile the purchase")
    assert body["meta"]["pagination"]["total_items"] == 2


@pytest.mark.postgres
def test_every_write_path_feeds_the_document(client_for, employee):
    service = said(InterviewFactory(employee=employee, language="es"), "Concilio facturas")
    bulk = InterviewFactory(employee=employee, language="es")
    add_messages(bulk, 3)  # bulk_create, outside the services: "message 1", "message 2"…
    imported = interview_migrate(
        user=employee,
        session_id="s-1",
        history=[{"role": "assistant", "content": "¿Qué haces?"}, {"role": "user", "content": "Facturas en SAP"}],
        language="es",
        technical_level="basic",
    )
    client = client_for(employee)
    assert ids(client.get(URL, {"search": "facturas"})) == {str(service.id), str(imported.id)}
    assert ids(client.get(URL, {"search": "message 3"})) == {str(bulk.id)}
    assert ids(client.get(URL, {"search": "SAP qué"})) == {str(imported.id)}


@pytest.mark.postgres
def test_a_full_document_never_refuses_a_message(client_for, employee):
    interview = InterviewFactory(employee=employee, language="en")
    words = "SELECT string_agg(md5(%s || n::text), ' ') FROM generate_series(1, 16000) AS n"
    with connection.cursor() as cursor:
        cursor.execute(words, ["a"])
        (first,) = cursor.fetchone()
        cursor.execute(words, ["b"])
        (second,) = cursor.fetchone()
    said(interview, "ledger " + first)  # about 0.6 MB of words: stored
    said(interview, "zeppelin " + second)  # would pass PostgreSQL's 1 MB for a tsvector
    assert InterviewMessage.objects.filter(interview=interview).count() == 2
    client = client_for(employee)
    assert ids(client.get(URL, {"search": "ledger"})) == {str(interview.id)}
    # The document stopped growing at its limit: later words are not found (docs/api.md).
    assert ids(client.get(URL, {"search": "zeppelin"})) == set()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_to_one_interview_lose_no_words():
    interview = InterviewFactory(language="en")
    writers = 8
    errors: list[BaseException] = []
    barrier = threading.Barrier(writers)

    def append(n: int) -> None:
        # Raw inserts without the service's interview lock: only the trigger's upsert orders them,
        # and the first ones race to create the document.
        try:
            barrier.wait()
            with transaction.atomic(), connections["default"].cursor() as cursor:
                cursor.execute(
                    "INSERT INTO interviews_interviewmessage (id, interview_id, role, content, sequence_number, "
                    "metadata, created_at, language) VALUES (gen_random_uuid(), %s, 'user', %s, %s, '{}', now(), 'en')",
                    [interview.id, f"word{n}x", n + 1],
                )
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=append, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    document = InterviewSearchDocument.objects.get(interview=interview).document
    assert all(f"'word{n}x'" in document for n in range(writers)), document
    searched = Interview.objects.filter(pk=interview.pk)
    for n in range(writers):
        assert interview_search(searched, f"word{n}x").exists()


@pytest.fixture
def admin_rows(employee):
    english = said(InterviewFactory(employee=employee, language="en"), "We keep running the month-end close in SAP")
    foreign = said(InterviewFactory(employee=UserFactory(organization_id=ORG_B), language="en"), "running in SAP")
    return english, foreign


def test_admin_search_finds_message_text_in_scope(client, staff, admin_rows):
    english, foreign = admin_rows
    client.force_login(staff)
    url = reverse("admin:interviews_interview_changelist")
    html = client.get(url, {"q": "close in SAP"}).content.decode()
    assert str(english.id) in html
    assert str(foreign.id) not in html
    html = client.get(url, {"q": "nothing-like-this"}).content.decode()
    assert str(english.id) not in html
    # Username search still works next to the message text.
    assert str(english.id) in client.get(url, {"q": english.employee.username}).content.decode()


@pytest.mark.postgres
def test_admin_search_is_stemmed_on_postgres(client, staff, admin_rows):
    english, _ = admin_rows
    client.force_login(staff)
    html = client.get(reverse("admin:interviews_interview_changelist"), {"q": "runs"}).content.decode()
    assert str(english.id) in html


@pytest.mark.postgres
def test_edited_or_deleted_messages_rebuild_the_document(client_for, employee):
    interview = said(InterviewFactory(employee=employee, language="en"), "We use SAP daily")
    said(interview, "and a ledger")
    client = client_for(employee)
    # No service edits or deletes a message, but a data fix may: the document follows.
    InterviewMessage.objects.filter(interview=interview, sequence_number=1).update(content="We use Oracle daily")
    assert ids(client.get(URL, {"search": "oracle ledger"})) == {str(interview.id)}
    assert ids(client.get(URL, {"search": "SAP"})) == set()
    InterviewMessage.objects.filter(interview=interview, sequence_number=2).update(evaluation={"score": 1})
    assert ids(client.get(URL, {"search": "ledger"})) == {str(interview.id)}  # content unchanged: kept
    InterviewMessage.objects.filter(interview=interview, sequence_number=2).delete()
    assert ids(client.get(URL, {"search": "ledger"})) == set()
    assert ids(client.get(URL, {"search": "oracle"})) == {str(interview.id)}
