"""Message search: ``GET /api/v1/interviews?search=`` and the admin's search box (issue 16).

PostgreSQL: full text, stemmed in each interview's language, through the partial GIN indexes
of migration 0008. SQLite: a case-insensitive substring match. Both: scoped like the list,
and each item says where it matched in an HTML-safe snippet.
"""

import pytest
from django.db import connection
from django.urls import reverse

from interviews.models import Interview, InterviewMessage
from interviews.search import INDEX_NAMES
from interviews.services import interview_message_append
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
def test_plan_uses_the_search_indexes(staff, employee):
    from interviews import selectors

    interviews = [InterviewFactory(employee=employee, language="en" if n % 2 else "es") for n in range(40)]
    with connection.cursor() as cursor:
        # 200 messages per interview: scanning every message costs more than the indexes.
        cursor.execute(
            "INSERT INTO interviews_interviewmessage (id, interview_id, role, content, sequence_number, "
            "metadata, created_at, language) "
            "SELECT gen_random_uuid(), iv.id, 'user', 'answer number ' || s || ' about the '"
            " || CASE WHEN s = 7 AND iv.n %% 10 = 0 THEN 'ledger' ELSE 'budget' END, s, '{}', now(), iv.language "
            "FROM unnest(%s::uuid[], %s::text[]) WITH ORDINALITY AS iv(id, language, n), generate_series(1, 200) AS s",
            [[i.id for i in interviews], [i.language for i in interviews]],
        )
        cursor.execute("ANALYZE interviews_interviewmessage, interviews_interview")  # as autovacuum would
        queryset = selectors.interview_search(selectors.interview_list_visible_to(user=staff), "ledger")
        sql, params = queryset.query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert INDEX_NAMES["en"] in plan, plan
    assert INDEX_NAMES["es"] in plan, plan
    expected = {str(interviews[n - 1].id) for n in (10, 20, 30, 40)}
    assert set(map(str, queryset.values_list("id", flat=True))) == expected


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
