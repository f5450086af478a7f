"""Shared by the export job tests: each test's own export directory, three interviews of one
organization (and one of another), the files a directory holds."""

from datetime import UTC, datetime, timedelta

from tests.factories import ORG_B, InterviewFactory, UserFactory, add_messages

DAY = datetime(2026, 5, 10, 8, 0, tzinfo=UTC)


def use_export_dir(settings, tmp_path):
    """Point the "exports" storage at ``tmp_path/exports``, so a test sees exactly what it wrote."""
    location = tmp_path / "exports"
    settings.STORAGES = {
        **settings.STORAGES,
        "exports": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location), "allow_overwrite": True},
        },
    }
    return location


def three_interviews(employee, other_employee) -> list:
    """es/completed (employee), en/in_progress (other employee), es/paused (employee), a day
    apart, with 3, 4, 5 messages; plus one interview of another organization."""
    made = []
    for n, (owner, language, status) in enumerate(
        [(employee, "es", "completed"), (other_employee, "en", "in_progress"), (employee, "es", "paused")]
    ):
        interview = InterviewFactory(
            employee=owner, language=language, status=status, started_at=DAY + timedelta(days=n)
        )
        add_messages(interview, 3 + n)
        made.append(interview)
    foreign = InterviewFactory(employee=UserFactory(organization_id=ORG_B), started_at=DAY)
    add_messages(foreign, 2)
    return made


def files(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []
