"""Message-text search: full text on PostgreSQL, a plain substring match on SQLite.

PostgreSQL (docs/api.md, "Search"): each interview has one search document
(``InterviewSearchDocument``): the ``to_tsvector`` of all its messages in its language
(``english`` or ``spanish``), appended by a trigger on every message insert (migration 0013)
and covered by one GIN index. A search is stemmed once per language and each document is
matched against its own language's query, so "migrating" finds "migration" in English and
"facturas" finds "factura" in Spanish. The interview matches as a whole: every word must be
somewhere in its messages, not all in one. ``tests/interviews/test_search.py`` checks the plan.

Snippets: per message. The first message that matches the search by itself, else the first
one holding any of its words; ``ts_headline`` marks the hits with two control characters that
cannot occur in the text (they are removed from it first); the result is HTML-escaped and only
then are the markers turned into ``<mark>`` tags, so the markup of a message never reaches the page.
"""

import html
import re
import uuid
from collections.abc import Iterable

from django.contrib.postgres.search import SearchQuery, SearchVectorExact
from django.db import connections
from django.db.models import Exists, F, OuterRef, Q, QuerySet

from interviews.models import InterviewMessage, InterviewSearchDocument, Language

# Interview language -> text search configuration (the trigger of migration 0013 uses the same).
CONFIGS = {Language.EN: "english", Language.ES: "spanish"}

# The GIN index over the documents (migration 0013 creates it; the plan test looks for it).
INDEX_NAME = "interview_search_document"

START, STOP = "\x02", "\x03"  # hit markers inside ts_headline's output, never in the text
SNIPPET_WORDS = "MaxWords=15, MinWords=5, MaxFragments=2, ShortWord=2"
FRAGMENT_SEPARATOR = " … "
FALLBACK_CONTEXT = 60  # characters either side of a hit in the SQLite snippet


def is_full_text(queryset: QuerySet) -> bool:
    return connections[queryset.db].vendor == "postgresql"


def document_match(text: str) -> Q:
    """Search documents matching ``text`` in their own language (PostgreSQL only).

    ``text`` follows web search syntax (``websearch_to_tsquery``): words are ANDed, "quoted
    phrases", ``or``, ``-word``. A query of stop words only ("the") matches nothing.
    """
    match = Q()
    for language, config in CONFIGS.items():
        query = SearchQuery(text, config=config, search_type="websearch")
        # Renders ``document @@ websearch_to_tsquery('<config>', text)``: the GIN index's operator.
        match |= Q(language=language) & Q(SearchVectorExact(F("document"), query))
    return match


# A search matching at most this many interviews is filtered by their ids (see interview_search).
COLLECT_MAX = 5000


def matching_documents(text: str, using: str = "default") -> QuerySet:
    """The search documents matching ``text`` (PostgreSQL), through the GIN index."""
    return InterviewSearchDocument.objects.using(using).filter(document_match(text))


def interview_search(queryset: QuerySet, text: str) -> QuerySet:
    """Interviews of ``queryset`` whose messages match ``text``.

    PostgreSQL: full text over the interview's search document, through its GIN index. The
    matching ids are taken from the index first (at most ``COLLECT_MAX + 1``, no join): when
    they are that few the list is filtered by them, so counting and paging are look-ups by id
    whatever the table's size. Joined instead, PostgreSQL must guess how rare a word is; a word
    outside the column's statistics is guessed at 0.5% of the documents, and at a million
    interviews it then scans all of them to find twenty. More matches keep a semi-join, and a
    page of them walks the interviews newest first, meeting matches within a few rows.

    SQLite: one message containing ``text`` as a case-insensitive substring (development).
    """
    if is_full_text(queryset):
        documents = matching_documents(text, using=queryset.db)
        ids = list(documents.values_list("interview_id", flat=True)[: COLLECT_MAX + 1])
        if len(ids) <= COLLECT_MAX:
            return queryset.filter(pk__in=ids)
        return queryset.filter(Exists(documents.filter(interview=OuterRef("pk"))))
    return queryset.filter(Exists(InterviewMessage.objects.filter(interview=OuterRef("pk"), content__icontains=text)))


def any_word(text: str) -> str:
    """``text``'s words joined by ``or`` (web search syntax), leaving out ``-excluded`` ones.

    The snippet of an interview whose words are spread over several messages shows the first
    message holding any of them.
    """
    words = [w.strip('"') for w in text.split() if not w.startswith("-") and w.lower() != "or"]
    return " or ".join(w for w in words if w)


# ``{query}``: the search itself, then (only for an interview where no single message matches
# it) the any-word query. A CASE per message, not the documents' form: one interview's messages
# are read in order through (interview, sequence) and tested until the first hit.
HIT_SQL = """
    SELECT CASE m.language
             WHEN 'en' THEN ts_headline('english'::regconfig, translate(m.content, %(markers)s, '  '),
                                        websearch_to_tsquery('english'::regconfig, {query}), %(options)s)
             ELSE ts_headline('spanish'::regconfig, translate(m.content, %(markers)s, '  '),
                              websearch_to_tsquery('spanish'::regconfig, {query}), %(options)s)
           END
    FROM interviews_interviewmessage m
    WHERE m.interview_id = page.id
      AND CASE m.language
            WHEN 'en' THEN to_tsvector('english'::regconfig, m.content)
                           @@ websearch_to_tsquery('english'::regconfig, {query})
            ELSE to_tsvector('spanish'::regconfig, m.content)
                 @@ websearch_to_tsquery('spanish'::regconfig, {query})
          END
    ORDER BY m.sequence_number
    LIMIT 1
"""
SNIPPET_SQL = f"""
SELECT page.id, COALESCE(({HIT_SQL.format(query="%(text)s")}), ({HIT_SQL.format(query="%(any)s")}))
FROM unnest(%(ids)s::uuid[]) AS page(id)
"""


def interview_search_snippets(*, interview_ids: Iterable[uuid.UUID], text: str, using: str = "default") -> dict:
    """``{interview id: snippet}``: where each interview's messages matched ``text``.

    One query for a page of interviews. The snippet is safe HTML: escaped text, hits in ``<mark>``.
    A search of only ``-excluded`` words shows the start of the interview's first message.
    """
    ids = list(interview_ids)
    if not ids:
        return {}
    connection = connections[using]
    if connection.vendor != "postgresql":
        return _fallback_snippets(ids, text, using)
    options = f'StartSel="{START}", StopSel="{STOP}", {SNIPPET_WORDS}, FragmentDelimiter="{FRAGMENT_SEPARATOR}"'
    params = {"ids": ids, "text": text, "any": any_word(text), "markers": START + STOP, "options": options}
    with connection.cursor() as cursor:
        cursor.execute(SNIPPET_SQL, params)
        return {row[0]: snippet_html(row[1]) for row in cursor.fetchall() if row[1] is not None}


def snippet_html(marked: str) -> str:
    """Escape ``marked`` (text with START/STOP around hits), then turn the markers into ``<mark>``."""
    escaped = html.escape(" ".join(marked.split()))
    return escaped.replace(START, "<mark>").replace(STOP, "</mark>")


def _fallback_snippets(ids: list, text: str, using: str) -> dict:
    """SQLite: the first message containing ``text``, cut around the first hit (development only)."""
    found: dict = {}
    rows = (
        InterviewMessage.objects.using(using)
        .filter(interview_id__in=ids, content__icontains=text)
        .order_by("interview_id", "sequence_number")
        .values_list("interview_id", "content")
    )
    pattern = re.compile(re.escape(text), re.IGNORECASE)
    for interview_id, content in rows:
        if interview_id in found:
            continue
        clean = content.replace(START, " ").replace(STOP, " ")
        hit = pattern.search(clean)
        if hit is None:  # icontains and Python's casefolding can disagree on non-ASCII text
            continue
        begin, end = max(0, hit.start() - FALLBACK_CONTEXT), min(len(clean), hit.end() + FALLBACK_CONTEXT)
        marked = (
            ("…" if begin else "")
            + clean[begin : hit.start()]
            + START
            + hit.group()
            + STOP
            + clean[hit.end() : end]
            + ("…" if end < len(clean) else "")
        )
        found[interview_id] = snippet_html(marked)
    return found
