"""One search document per interview instead of per-message indexes (issue 16; docs/api.md, "Search").

1. ``InterviewSearchDocument`` (interview 1:1, language, ``document tsvector``).
2. PostgreSQL only:
   - the foreign key to the interview, with ON DELETE CASCADE in the database (as migration
     0002 does for messages: an interview deleted outside Django takes its document along);
   - ``interview_search_concat(doc, more)``: ``doc || more``, or ``doc`` unchanged when
     PostgreSQL refuses the result (a tsvector holds at most 1 MB): a message is never refused
     because its interview's document is full, its words are just not added.
   - an AFTER INSERT trigger on the messages table, per statement: the inserted messages'
     vectors, in sequence order and in their language, appended to their interviews' documents
     by one ``INSERT … ON CONFLICT DO UPDATE`` (which locks the document row and appends to its
     latest version, so concurrent appends to one interview never lose words). Every write path
     (services, imports, raw SQL, the benchmarks) goes through it.
   - the back-fill from the existing messages, one GIN index, and the drop of migration 0008's
     per-message indexes and statistics (no query uses them any more).

The trigger is created before the back-fill: CREATE TRIGGER locks the messages table against
inserts until this migration commits, so no message falls between the back-fill's snapshot
and the trigger. The back-fill and the index take about a minute per million messages on two
cores, with inserts blocked; see docs/operations.md, "Search indexes", for a large live table.
"""

from django.db import migrations, models
from django.db.models import deletion

import django.contrib.postgres.search

TABLE = "interviews_interviewsearchdocument"
INDEX_NAME = "interview_search_document"
CONFIG_SQL = "CASE {language} WHEN 'en' THEN 'english' ELSE 'spanish' END::regconfig"

CONCAT_SQL = """
CREATE OR REPLACE FUNCTION interview_search_concat(doc tsvector, more tsvector) RETURNS tsvector
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
BEGIN
    RETURN doc || more;
EXCEPTION WHEN program_limit_exceeded THEN
    RETURN doc;  -- 1 MB reached: the words of later messages are not added
END
$$;
DROP AGGREGATE IF EXISTS interview_search_agg(tsvector);
CREATE AGGREGATE interview_search_agg(tsvector) (SFUNC = interview_search_concat, STYPE = tsvector);
"""

# The inserted messages of each interview, as one vector (sequence order: positions follow the
# transcript, so a quoted phrase matches words adjacent in it).
DOCUMENTS_SELECT = f"""
SELECT m.interview_id, m.language,
       interview_search_agg(to_tsvector({CONFIG_SQL.format(language="m.language")}, m.content)
                            ORDER BY m.sequence_number)
FROM {{source}} m
GROUP BY m.interview_id, m.language
ORDER BY m.interview_id
"""

TRIGGER_SQL = f"""
CREATE OR REPLACE FUNCTION interview_search_append() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Ordered by interview id: two statements appending to the same interviews lock their
    -- documents in the same order and cannot deadlock.
    INSERT INTO {TABLE} AS d (interview_id, language, document)
    {DOCUMENTS_SELECT.format(source="added")}
    ON CONFLICT (interview_id) DO UPDATE SET document = interview_search_concat(d.document, excluded.document);
    RETURN NULL;
END
$$;
CREATE TRIGGER interview_search_append AFTER INSERT ON interviews_interviewmessage
REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION interview_search_append();
"""

# A message's text changed or messages deleted (no service does either; a data fix, a DBA, a
# test fixture may): the touched interviews' documents are rebuilt from their messages. An
# UPDATE that leaves every content as it was (the evaluation written after a turn) rebuilds none.
REBUILD_SQL = f"""
CREATE OR REPLACE FUNCTION interview_search_rebuild() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN  -- nested: new_rows exists only for UPDATE
        IF NOT EXISTS (
            SELECT 1 FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE o.content IS DISTINCT FROM n.content OR o.interview_id IS DISTINCT FROM n.interview_id
        ) THEN
            RETURN NULL;  -- the hot case (an answer's evaluation written): nothing to rebuild
        END IF;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        CREATE TEMP TABLE IF NOT EXISTS interview_search_touched (interview_id uuid) ON COMMIT DROP;
        INSERT INTO interview_search_touched
        SELECT DISTINCT n.interview_id FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE o.content IS DISTINCT FROM n.content OR o.interview_id IS DISTINCT FROM n.interview_id
        UNION SELECT o.interview_id FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE o.interview_id IS DISTINCT FROM n.interview_id;
    ELSE
        CREATE TEMP TABLE IF NOT EXISTS interview_search_touched (interview_id uuid) ON COMMIT DROP;
        INSERT INTO interview_search_touched SELECT DISTINCT interview_id FROM old_rows;
    END IF;
    DELETE FROM {TABLE} d USING interview_search_touched t WHERE d.interview_id = t.interview_id;
    INSERT INTO {TABLE} (interview_id, language, document)
    {DOCUMENTS_SELECT.format(
        source="(SELECT m.* FROM interviews_interviewmessage m "
        "WHERE m.interview_id IN (SELECT interview_id FROM interview_search_touched))"
    )};
    DELETE FROM interview_search_touched;
    RETURN NULL;
END
$$;
CREATE TRIGGER interview_search_rebuild_update AFTER UPDATE ON interviews_interviewmessage
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION interview_search_rebuild();
CREATE TRIGGER interview_search_rebuild_delete AFTER DELETE ON interviews_interviewmessage
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION interview_search_rebuild();
"""

BACKFILL_SQL = f"INSERT INTO {TABLE} (interview_id, language, document) " + DOCUMENTS_SELECT.format(
    source="interviews_interviewmessage"
)
INDEX_SQL = f"CREATE INDEX IF NOT EXISTS {INDEX_NAME} ON {TABLE} USING gin (document)"

OLD_INDEXES = ["message_search_en", "message_search_es"]
OLD_STATISTICS = ["message_search_en_stats", "message_search_es_stats"]


def trigger_drop_sql() -> str:
    return (
        "DROP TRIGGER IF EXISTS interview_search_append ON interviews_interviewmessage; "
        "DROP FUNCTION IF EXISTS interview_search_append(); "
        "DROP TRIGGER IF EXISTS interview_search_rebuild_update ON interviews_interviewmessage; "
        "DROP TRIGGER IF EXISTS interview_search_rebuild_delete ON interviews_interviewmessage; "
        "DROP FUNCTION IF EXISTS interview_search_rebuild()"
    )


FOREIGN_KEY_SQL = (
    f"ALTER TABLE {TABLE} ADD CONSTRAINT interview_search_document_interview_fk FOREIGN KEY (interview_id) "
    "REFERENCES interviews_interview (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED"
)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("SET LOCAL maintenance_work_mem = '256MB'")
    schema_editor.execute(CONCAT_SQL)
    schema_editor.execute(TRIGGER_SQL)
    schema_editor.execute(REBUILD_SQL)
    schema_editor.execute(BACKFILL_SQL)
    schema_editor.execute(INDEX_SQL)
    # Last: checked once over the whole table (and, deferred, it would leave trigger events
    # pending that CREATE INDEX refuses to run with).
    schema_editor.execute(FOREIGN_KEY_SQL)
    for name in OLD_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
    for name in OLD_STATISTICS:
        schema_editor.execute(f"DROP STATISTICS IF EXISTS {name}")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(trigger_drop_sql())
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX_NAME}")
    schema_editor.execute("DROP AGGREGATE IF EXISTS interview_search_agg(tsvector)")
    schema_editor.execute("DROP FUNCTION IF EXISTS interview_search_concat(tsvector, tsvector)")
    old = __import__("interviews.migrations.0008_message_search", fromlist=["index_sql"])
    for name in OLD_INDEXES:
        schema_editor.execute(old.index_sql(name))
    for name in OLD_STATISTICS:
        schema_editor.execute(old.statistics_sql(name))


class Migration(migrations.Migration):
    dependencies = [
        ("interviews", "0012_interview_soft_delete"),
    ]

    operations = [
        migrations.CreateModel(
            name="InterviewSearchDocument",
            fields=[
                (
                    "interview",
                    models.OneToOneField(
                        on_delete=deletion.CASCADE,
                        db_constraint=False,
                        primary_key=True,
                        related_name="search_document",
                        serialize=False,
                        to="interviews.interview",
                    ),
                ),
                ("language", models.CharField(choices=[("es", "Español"), ("en", "English")], max_length=2)),
                ("document", django.contrib.postgres.search.SearchVectorField()),
            ],
        ),
        migrations.RunPython(forwards, backwards),
    ]
