"""Full-text search over messages (issue 16; docs/api.md, "Search"; docs/operations.md).

1. ``InterviewMessage.language``: the interview's language on each message (an index cannot
   read the interview's row). The column is added with the default ``es`` (no table rewrite on
   PostgreSQL 11+), then the messages of interviews in another language are updated.
2. PostgreSQL only: one partial GIN index per language over ``to_tsvector('<config>', content)``
   (the expressions of interviews/search.py), and statistics on those expressions (filled by
   the next ANALYZE, which autovacuum runs). On SQLite nothing is created: search there is a
   substring match.

The indexes are built in the migration's transaction (``CREATE INDEX``, which blocks writes
to the messages table while it runs: about a minute per million messages on two cores). On a
big live table create them beforehand with ``CREATE INDEX CONCURRENTLY`` and the same names
and definitions (docs/operations.md, "Search indexes"); ``IF NOT EXISTS`` then skips them here.
"""

from django.db import migrations

import interviews.models

INDEXES = {
    "message_search_en": ("english", "en"),
    "message_search_es": ("spanish", "es"),
}


def index_sql(name: str, *, concurrently: bool = False) -> str:
    config, language = INDEXES[name]
    how = "CONCURRENTLY " if concurrently else ""
    return (
        f"CREATE INDEX {how}IF NOT EXISTS {name} ON interviews_interviewmessage "
        f"USING gin (to_tsvector('{config}'::regconfig, content)) WHERE language = '{language}'"
    )


# Statistics on the indexed expressions: PostgreSQL keeps none for a partial index's expression,
# and without them it guesses that any word is in 0.5% of the messages (interviews/search.py).
STATISTICS = {"message_search_en_stats": "english", "message_search_es_stats": "spanish"}


def statistics_sql(name: str) -> str:
    return (
        f"CREATE STATISTICS IF NOT EXISTS {name} ON (to_tsvector('{STATISTICS[name]}'::regconfig, content)) "
        "FROM interviews_interviewmessage"
    )


def copy_language(apps, schema_editor):
    message_model = apps.get_model("interviews", "InterviewMessage")
    message_model.objects.using(schema_editor.connection.alias).filter(interview__language="en").update(language="en")


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for name in INDEXES:
        schema_editor.execute(index_sql(name))
    for name in STATISTICS:
        schema_editor.execute(statistics_sql(name))


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
    for name in STATISTICS:
        schema_editor.execute(f"DROP STATISTICS IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("interviews", "0007_interview_reviews"),
    ]

    operations = [
        migrations.AddField(
            model_name="interviewmessage",
            name="language",
            field=interviews.models.MessageLanguageField(
                choices=[("es", "Español"), ("en", "English")], default="es", editable=False, max_length=2
            ),
            preserve_default=False,
        ),
        migrations.RunPython(copy_language, migrations.RunPython.noop, elidable=True),
        migrations.RunPython(create_indexes, drop_indexes),
    ]
