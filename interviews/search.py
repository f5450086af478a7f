"""Message-text search: full-text on PostgreSQL, a plain substring match on SQLite.

PostgreSQL (docs/api.md, "Search"): each message carries its interview's ``language``
(copied on insert, see ``MessageLanguageField``); two partial GIN indexes, one per language
(migration 0008), hold ``to_tsvector('<config>', content)`` of that language's messages. A
search is stemmed once per language and each language's messages are matched only against
their own language's query, so "migrating" finds "migration" in English and "facturas" finds
"factura" in Spanish. The expressions below must stay identical to the indexes' or PostgreSQL
stops using them (``tests/interviews/test_search.py`` checks the plan).

Snippets: ``ts_headline`` marks the hit with two control characters that cannot occur in
the text (they are removed from it first); the result is HTML-escaped and only then are the
markers turned into ``<mark>`` tags, so the markup of a message never reaches the page.
"""

import html
import re
import uuid
from collections.abc import Iterable

from django.contrib.postgres.search import SearchQuery, SearchVectorExact, SearchVectorField
from django.db import connections
from django.db.models import Exists, F, Func, OuterRef, Q, QuerySet

from interviews.models import InterviewMessage, Language

# Message language -> text search configuration. Fixed literals: they are written into the
# SQL (never parameters) so the expressions match the indexes'.
CONFIGS = {Language.EN: "english", Language.ES: "spanish"}

# The index names (migration 0008 creates them; the plan test looks for them).
INDEX_NAMES = {Language.EN: "message_search_en", Language.ES: "message_search_es"}

START, STOP = "\x02", "\x03"  # hit markers inside ts_headline's output, never in the text
SNIPPET_WORDS = "MaxWords=15, MinWords=5, MaxFragments=2, ShortWord=2"
FRAGMENT_SEPARATOR = " … "
FALLBACK_CONTEXT = 60  # characters either side of a hit in the SQLite snippet


class MessageVector(Func):
    """``to_tsvector('<config>'::regconfig, content)``: the expression of the partial indexes."""

    output_field = SearchVectorField()

    def __init__(self, language: str):
        self.config = CONFIGS[language]
        super().__init__(F("content"))

    def as_sql(self, compiler, connection, **extra):
        return super().as_sql(
            compiler, connection, template=f"to_tsvector('{self.config}'::regconfig, %(expressions)s)", **extra
        )


def is_full_text(queryset: QuerySet) -> bool:
    return connections[queryset.db].vendor == "postgresql"


def message_match(text: str) -> Q:
    """Messages matching ``text`` in their own language (PostgreSQL only).

    ``text`` follows web search syntax (``websearch_to_tsquery``): words are ANDed, "quoted
    phrases", ``or``, ``-word``. A query of stop words only ("the") matches nothing.
    """
    match = Q()
    for language in CONFIGS:
        vector = MessageVector(language)
        query = SearchQuery(text, config=CONFIGS[language], search_type="websearch")
        # Lookup on the vector expression: renders ``to_tsvector(...) @@ websearch_to_tsquery(...)``.
        match |= Q(language=language) & Q(SearchVectorExact(vector, query))
    return match


def interview_search(queryset: QuerySet, text: str) -> QuerySet:
    """Interviews of ``queryset`` with a message matching ``text``.

    PostgreSQL: full text per the message's language, through the GIN indexes. SQLite:
    case-insensitive substring (the development fallback).
    """
    messages = InterviewMessage.objects.filter(interview=OuterRef("pk"))
    if is_full_text(queryset):
        messages = messages.filter(message_match(text))
    else:
        messages = messages.filter(content__icontains=text)
    return queryset.filter(Exists(messages))


# Searches matching at most this many interviews are narrowed to their ids before paging.
COLLECT_MAX = 5000


def search_narrowed(searched: QuerySet, *, total: int) -> QuerySet:
    """``searched`` (a searched, ordered list of ``total`` rows), safe to slice into pages.

    With a LIMIT, PostgreSQL may walk the interviews newest first and test each one's messages
    (``to_tsvector`` per message) expecting to meet matches soon; it cannot know how rare a
    word is (a partial index's expression has no statistics), and a rare word then costs a pass
    over every message (a minute at 1M messages). Without a LIMIT it always collects the matches
    through the indexes. So a search matching few interviews (``total <= COLLECT_MAX``) is
    fetched as ids first (no LIMIT), then paged by id; a search matching many keeps the walk,
    which then meets a match within a few interviews.
    """
    if total > COLLECT_MAX or not is_full_text(searched):
        return searched
    ids = list(searched.values_list("pk", flat=True))
    return searched.model._default_manager.using(searched.db).filter(pk__in=ids).order_by(*searched.query.order_by)


SNIPPET_SQL = """
SELECT page.id, hit.snippet
FROM unnest(%(ids)s::uuid[]) AS page(id)
CROSS JOIN LATERAL (
    SELECT CASE m.language
             WHEN 'en' THEN ts_headline('english'::regconfig, translate(m.content, %(markers)s, '  '),
                                        websearch_to_tsquery('english'::regconfig, %(text)s), %(options)s)
             ELSE ts_headline('spanish'::regconfig, translate(m.content, %(markers)s, '  '),
                              websearch_to_tsquery('spanish'::regconfig, %(text)s), %(options)s)
           END AS snippet
    FROM interviews_interviewmessage m
    WHERE m.interview_id = page.id
      -- A CASE, not the indexes' form: one interview's messages are read in order through
      -- (interview, sequence) and tested; the indexes would fetch every match of the word.
      AND CASE m.language
            WHEN 'en' THEN to_tsvector('english'::regconfig, m.content)
                           @@ websearch_to_tsquery('english'::regconfig, %(text)s)
            ELSE to_tsvector('spanish'::regconfig, m.content)
                 @@ websearch_to_tsquery('spanish'::regconfig, %(text)s)
          END
    ORDER BY m.sequence_number
    LIMIT 1
) AS hit
"""


def interview_search_snippets(*, interview_ids: Iterable[uuid.UUID], text: str, using: str = "default") -> dict:
    """``{interview id: snippet}``: where each interview's first matching message matched ``text``.

    One query for a page of interviews. The snippet is safe HTML: escaped text, hits in ``<mark>``.
    """
    ids = list(interview_ids)
    if not ids:
        return {}
    connection = connections[using]
    if connection.vendor != "postgresql":
        return _fallback_snippets(ids, text, using)
    options = f'StartSel="{START}", StopSel="{STOP}", {SNIPPET_WORDS}, FragmentDelimiter="{FRAGMENT_SEPARATOR}"'
    with connection.cursor() as cursor:
        cursor.execute(SNIPPET_SQL, {"ids": ids, "text": text, "markers": START + STOP, "options": options})
        return {row[0]: snippet_html(row[1]) for row in cursor.fetchall()}


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
