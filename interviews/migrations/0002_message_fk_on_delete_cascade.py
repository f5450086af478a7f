"""Make the database itself cascade message deletes, not only Django's collector.

Django 5.2 emulates ON DELETE CASCADE in the ORM; a DELETE issued outside Django (a DBA, a
retention job) would fail on the foreign key instead. On PostgreSQL the constraint is
recreated with ON DELETE CASCADE; SQLite keeps Django's emulation.
"""

from django.db import migrations


def _fk_name(schema_editor) -> str | None:
    with schema_editor.connection.cursor() as cursor:
        constraints = schema_editor.connection.introspection.get_constraints(cursor, "interviews_interviewmessage")
    for name, info in constraints.items():
        if info["foreign_key"] and info["columns"] == ["interview_id"]:
            return name
    return None


def _recreate_fk(schema_editor, on_delete: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    name = _fk_name(schema_editor)
    schema_editor.execute(f'ALTER TABLE interviews_interviewmessage DROP CONSTRAINT "{name}"')
    schema_editor.execute(
        f'ALTER TABLE interviews_interviewmessage ADD CONSTRAINT "{name}" FOREIGN KEY (interview_id) '
        f"REFERENCES interviews_interview (id) {on_delete} DEFERRABLE INITIALLY DEFERRED"
    )


def cascade(apps, schema_editor):
    _recreate_fk(schema_editor, "ON DELETE CASCADE")


def no_cascade(apps, schema_editor):
    _recreate_fk(schema_editor, "")


class Migration(migrations.Migration):
    dependencies = [("interviews", "0001_initial")]

    operations = [migrations.RunPython(cascade, no_cascade)]
