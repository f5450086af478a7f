"""What interviews/services/lifecycle.py promises that the other tests left unpinned: each test here
kills mutants that survived them (docs/mutation.md, `./dev mutate interviews/services/lifecycle.py`).

Restore has no REST endpoint: the admin's "Deleted interviews" restores through the service, so
the tests use that page where it shows the behaviour, and the service otherwise.
"""

import uuid
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.urls import reverse

from interviews.exceptions import InterviewNotFound
from interviews.models import DataDeletion, Interview
from interviews.services import lifecycle
from interviews.tasks import lifecycle_purge
from tests.factories import InterviewFactory

pytestmark = pytest.mark.django_db
DELETED_AT = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
EARLIER = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
NOT_DELETED = "The interview is not deleted, or was already purged."


def deleted(employee, at=DELETED_AT) -> Interview:
    interview = InterviewFactory(employee=employee, status="completed")
    Interview.objects.filter(pk=interview.pk).update(deleted_at=at)
    return interview


def is_deleted(interview) -> bool:
    return Interview.all_objects.get(pk=interview.pk).deleted_at is not None


# --- restore ----------------------------------------------------------------------------------------


def test_restoring_a_live_interview_is_not_found_and_changes_nothing(employee):
    live = InterviewFactory(employee=employee, status="completed")
    Interview.objects.filter(pk=live.pk).update(updated_at=EARLIER)
    with pytest.raises(InterviewNotFound) as caught:
        lifecycle.interview_restore(interview_id=live.id)
    assert caught.value.message == NOT_DELETED
    assert (caught.value.status_code, caught.value.error_code) == (404, "interview_not_found")
    assert Interview.objects.get(pk=live.pk).updated_at == EARLIER


def test_restoring_another_id_leaves_the_deleted_interview_deleted(employee):
    waiting = deleted(employee)
    with pytest.raises(InterviewNotFound) as caught:
        lifecycle.interview_restore(interview_id=uuid.uuid4())
    assert caught.value.message == NOT_DELETED
    assert is_deleted(waiting)


def test_the_admin_restores_only_the_interview_selected(client, admin_user, employee):
    chosen, other = deleted(employee), deleted(employee)
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:interviews_deletedinterview_changelist"),
        {"action": "restore_interviews", "_selected_action": [str(chosen.id)]},
        follow=True,
    )
    assert response.status_code == 200
    assert "1 interview(s) restored." in response.content.decode()
    assert not is_deleted(chosen)
    assert is_deleted(other)


# --- when the purge takes a deleted interview --------------------------------------------------------


def test_deleted_interviews_show_the_day_the_purge_takes_them(client, admin_user, employee, settings):
    settings.SOFT_DELETE_DAYS = 30
    interview = deleted(employee)
    assert lifecycle.soft_delete_expiry(Interview.all_objects.get(pk=interview.pk)) == datetime(
        2026, 5, 31, 10, 0, tzinfo=UTC
    )
    client.force_login(admin_user)
    page = client.get(reverse("admin:interviews_deletedinterview_changelist")).content.decode()
    assert "Purged after" in page
    assert "2026-05-31 10:00 UTC" in page
    assert "2026-04-01 10:00 UTC" not in page


# --- one purge run ----------------------------------------------------------------------------------


def test_a_purge_run_stops_after_100_batches_and_the_next_run_goes_on(settings, employee):
    """docs/operations.md: "a run is idempotent and stops after 100 batches"."""
    settings.SOFT_DELETE_DAYS = 0
    settings.PURGE_BATCH_SIZE = 1
    Interview.objects.bulk_create(
        [Interview(employee=employee, started_at=EARLIER, deleted_at=EARLIER) for _ in range(101)]
    )
    assert lifecycle_purge() == {"soft_delete_expired": 100, "retention": 0}
    assert Interview.all_objects.count() == 1
    assert DataDeletion.objects.count() == 100
    assert lifecycle_purge() == {"soft_delete_expired": 1, "retention": 0}
    assert not Interview.all_objects.exists()


# --- erasure of an employee with nothing to erase ----------------------------------------------------


def test_erasing_an_employee_without_interviews_audits_zero_messages(employee, superuser, capsys):
    call_command("erase_employee", employee.username, "--yes", "--requested-by", superuser.username)
    assert "Erased 0 interview(s), 0 message(s)" in capsys.readouterr().out
    record = DataDeletion.objects.get()
    assert (record.reason, record.interview_count, record.message_count) == ("erasure", 0, 0)
    assert (record.employee_id, record.requested_by) == (employee.employee_id, superuser)
    employee.refresh_from_db()
    assert employee.is_active is False
