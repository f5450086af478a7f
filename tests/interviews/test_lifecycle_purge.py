"""The purge (beat's ``interviews.tasks.lifecycle_purge``) and the erasure of one employee's data
(``manage.py erase_employee``, the accounts admin's action): what goes, what stays, the
``interviews_purged`` signal and the content-free audit row."""

import threading
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from interviews.models import DataDeletion, Interview, InterviewExport, InterviewMessage, InterviewReview
from interviews.services import lifecycle
from interviews.signals import interviews_purged
from interviews.tasks import lifecycle_purge
from tests.factories import InterviewFactory, add_messages

pytestmark = pytest.mark.django_db
NOW = timezone.now()


@pytest.fixture
def purged():
    """Every ``interviews_purged`` sent during the test: (reason, ids)."""
    sent = []

    def receiver(sender, interview_ids, reason, **kwargs):
        assert sender is Interview
        # Sent before the rows go, inside the deleting transaction: receivers can still read them.
        assert Interview.all_objects.filter(pk__in=interview_ids).count() == len(interview_ids)
        sent.append((reason, sorted(interview_ids)))

    interviews_purged.connect(receiver, weak=False)
    yield sent
    interviews_purged.disconnect(receiver)


def soft_deleted(employee, *, days_ago: float, **fields) -> Interview:
    interview = InterviewFactory(employee=employee, **fields)
    add_messages(interview, 3)
    Interview.objects.filter(pk=interview.pk).update(deleted_at=NOW - timedelta(days=days_ago))
    return interview


def ended(employee, *, days_ago: float, status="completed") -> Interview:
    at = NOW - timedelta(days=days_ago)
    interview = InterviewFactory(employee=employee, status=status, started_at=at - timedelta(hours=1), completed_at=at)
    add_messages(interview, 2)
    return interview


def exists(interview) -> bool:
    return Interview.all_objects.filter(pk=interview.pk).exists()


# --- soft delete expiry ---------------------------------------------------------------------------


def test_soft_deleted_interviews_go_after_soft_delete_days_and_not_before(settings, employee, staff, purged):
    settings.SOFT_DELETE_DAYS = 30
    expired = soft_deleted(employee, days_ago=30.01)
    InterviewReview.objects.create(interview=expired, reviewer=staff, decision="approved")
    export = InterviewExport.objects.create(interview=expired, format="json", exported_by=staff)
    recent = soft_deleted(employee, days_ago=29.9)
    live = ended(employee, days_ago=3000)  # retention is off by default: never purged

    assert lifecycle_purge() == {"soft_delete_expired": 1, "retention": 0}

    assert not exists(expired)
    assert exists(recent)
    assert exists(live)
    assert not InterviewMessage.objects.filter(interview_id=expired.id).exists()
    assert not InterviewReview.objects.filter(interview_id=expired.id).exists()
    export.refresh_from_db()
    assert export.interview_id is None  # the export audit row stays, without the link
    assert purged == [("soft_delete_expired", [expired.id])]
    [record] = DataDeletion.objects.all()
    assert (record.reason, record.interview_count, record.message_count) == ("soft_delete_expired", 1, 3)
    assert record.requested_by is None
    assert record.employee_id is None

    # Idempotent: nothing more to do, no signal, no audit row.
    assert lifecycle_purge() == {"soft_delete_expired": 0, "retention": 0}
    assert len(purged) == 1
    assert DataDeletion.objects.count() == 1


def test_restored_before_the_purge_stays(settings, employee, purged):
    settings.SOFT_DELETE_DAYS = 30
    interview = soft_deleted(employee, days_ago=31)
    lifecycle.interview_restore(interview_id=interview.id)
    lifecycle_purge()
    assert Interview.objects.filter(pk=interview.pk).exists()
    assert purged == []


def test_purge_runs_in_batches(settings, employee, purged):
    settings.SOFT_DELETE_DAYS = 0
    interviews = [soft_deleted(employee, days_ago=1) for _ in range(5)]
    assert lifecycle.interviews_purge(reason="soft_delete_expired", batch_size=2) == 5
    assert [len(ids) for _, ids in purged] == [2, 2, 1]
    assert sorted(i for _, ids in purged for i in ids) == sorted(i.id for i in interviews)
    assert sorted(DataDeletion.objects.values_list("interview_count", flat=True)) == [1, 2, 2]


def test_a_failing_receiver_rolls_the_batch_back(settings, employee):
    settings.SOFT_DELETE_DAYS = 0
    interview = soft_deleted(employee, days_ago=1)

    def broken(**kwargs):
        raise OSError("storage away")

    interviews_purged.connect(broken, weak=False)
    try:
        with pytest.raises(OSError, match="storage away"):
            lifecycle_purge()
    finally:
        interviews_purged.disconnect(broken)
    assert exists(interview)
    assert InterviewMessage.objects.filter(interview_id=interview.id).count() == 3
    assert not DataDeletion.objects.exists()


# --- retention ----------------------------------------------------------------------------------


def test_retention_is_off_by_default_and_counts_from_the_end(settings, employee, purged):
    old_done = ended(employee, days_ago=400)
    old_cancelled = ended(employee, days_ago=400, status="cancelled")
    # Started long ago but ended recently: kept (retention counts from the end).
    long_running = InterviewFactory(
        employee=employee, status="completed", started_at=NOW - timedelta(days=800), completed_at=NOW
    )
    # Never ended: counts from the start.
    abandoned = InterviewFactory(employee=employee, status="paused", started_at=NOW - timedelta(days=400))
    fresh = ended(employee, days_ago=10)
    assert settings.RETENTION_DAYS == 0
    assert lifecycle_purge()["retention"] == 0
    assert purged == []

    settings.RETENTION_DAYS = 365
    assert lifecycle_purge() == {"soft_delete_expired": 0, "retention": 3}
    assert purged == [("retention", sorted([old_done.id, old_cancelled.id, abandoned.id]))]
    assert exists(long_running)
    assert exists(fresh)
    assert DataDeletion.objects.get().reason == "retention"


def test_the_purge_management_command(settings, employee, capsys):
    settings.SOFT_DELETE_DAYS = 0
    soft_deleted(employee, days_ago=1)
    call_command("purge_interviews")
    assert "soft_delete_expired: 1 interview(s) removed." in capsys.readouterr().out


def test_the_beat_schedule_runs_the_purge():
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["lifecycle-purge"]
    assert entry["task"] == lifecycle_purge.name == "interviews.tasks.lifecycle_purge"
    assert entry["schedule"] == settings.PURGE_INTERVAL_SECONDS > 0


# --- erasure ------------------------------------------------------------------------------------


def test_erase_employee_command(employee, other_employee, staff, superuser, purged, capsys):
    theirs = [ended(employee, days_ago=1), soft_deleted(employee, days_ago=1)]
    InterviewReview.objects.create(interview=theirs[0], reviewer=staff, decision="approved")
    other = ended(other_employee, days_ago=1)

    call_command("erase_employee", employee.username)
    assert "Would erase 2 interview(s)" in capsys.readouterr().out
    assert all(exists(i) for i in theirs)
    assert purged == []

    call_command("erase_employee", str(employee.employee_id), "--yes", "--requested-by", superuser.username)
    assert "Erased 2 interview(s), 5 message(s)" in capsys.readouterr().out
    assert not any(exists(i) for i in theirs)
    assert exists(other)
    assert not InterviewReview.objects.filter(interview_id=theirs[0].id).exists()
    assert purged == [("erasure", sorted(i.id for i in theirs))]
    employee.refresh_from_db()
    assert employee.is_active is False  # kept, deactivated (docs/admin.md)

    [record] = DataDeletion.objects.values()
    assert record["reason"] == "erasure"
    assert record["requested_by_id"] == superuser.pk
    assert record["employee_id"] == employee.employee_id
    assert (record["interview_count"], record["message_count"]) == (2, 5)
    # No content: the row holds only these columns (ids, counts, reason, time).
    assert set(record) == {
        "id",
        "reason",
        "requested_by_id",
        "employee_id",
        "interview_count",
        "message_count",
        "created_at",
    }


def test_an_erased_employee_cannot_sign_in_with_an_old_token(client_for, employee):
    client = client_for(employee)
    assert client.get("/api/v1/interviews").status_code == 200
    lifecycle.employee_erase(employee=employee)
    assert client.get("/api/v1/interviews").status_code == 401


def test_erase_employee_unknown_user():
    with pytest.raises(CommandError, match="No user"):
        call_command("erase_employee", "nobody", "--yes")


def test_admin_erasure_action_asks_first_and_is_for_superusers(client, employee, admin_user, superuser, purged):
    interview = ended(employee, days_ago=1)
    url = reverse("admin:accounts_user_changelist")
    client.force_login(superuser)
    confirm = client.post(url, {"action": "erase_employee_data", "_selected_action": [employee.pk]})
    assert confirm.status_code == 200
    page = confirm.content.decode()
    assert "cannot be undone" in page
    assert str(employee.employee_id) in page
    assert exists(interview)

    done = client.post(url, {"action": "erase_employee_data", "_selected_action": [employee.pk], "confirm": "yes"})
    assert done.status_code == 302
    assert not exists(interview)
    assert DataDeletion.objects.get().requested_by == superuser
    assert purged == [("erasure", [interview.id])]


def test_admin_erasure_action_is_not_offered_to_admins(client, employee, superuser):
    from accounts.models import User

    admin = User.objects.create_user("plain-admin", password="x", is_staff=True, role="admin")
    for perm in ("view_user", "change_user"):
        from django.contrib.auth.models import Permission

        admin.user_permissions.add(Permission.objects.get(codename=perm))
    client.force_login(admin)
    page = client.get(reverse("admin:accounts_user_changelist"))
    assert page.status_code == 200
    assert "erase_employee_data" not in page.content.decode()


# --- concurrency (PostgreSQL: real row locks) ----------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_purges_at_once_split_the_work_and_signal_each_interview_once(settings, employee):
    settings.SOFT_DELETE_DAYS = 0
    interviews = [soft_deleted(employee, days_ago=1) for _ in range(12)]
    start = threading.Barrier(2)
    # Each run's first batch waits, inside its transaction (rows locked), for the other's first
    # batch: both hold locks at once, so the second can only proceed by skipping the first's rows
    # (a plain FOR UPDATE would wait for them and never reach the barrier: BrokenBarrierError).
    overlapping = threading.Barrier(2, timeout=20)
    sent: dict[str, list] = {}
    errors: list[BaseException] = []
    removed: list[int] = []

    def receiver(sender, interview_ids, reason, **kwargs):
        name = threading.current_thread().name
        if name not in sent:
            overlapping.wait()
        sent.setdefault(name, []).extend(interview_ids)

    def purge() -> None:
        try:
            start.wait()
            removed.append(lifecycle.interviews_purge(reason="soft_delete_expired", batch_size=4))
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    interviews_purged.connect(receiver, weak=False)
    try:
        threads = [threading.Thread(target=purge, name=f"purge-{n}") for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        interviews_purged.disconnect(receiver)

    assert errors == []
    assert sum(removed) == 12
    assert all(removed)
    signalled = [i for ids in sent.values() for i in ids]
    assert sorted(signalled) == sorted(i.id for i in interviews)  # each interview once, none twice
    assert not Interview.all_objects.exists()
    assert sum(DataDeletion.objects.values_list("interview_count", flat=True)) == 12


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_turn_waiting_on_the_row_lock_sees_the_soft_delete(employee, admin_user):
    """A write that queued behind the delete's row lock finds the interview gone (404), and
    writes nothing to it."""
    from django.db import transaction

    from interviews.exceptions import InterviewNotFound
    from interviews.services import interview_message_append

    interview = InterviewFactory(employee=employee)
    locked = threading.Event()
    release = threading.Event()
    errors: list[BaseException] = []

    def delete_slowly() -> None:
        try:
            with transaction.atomic():
                lifecycle.interview_soft_delete(interview_id=interview.id, actor=admin_user)
                locked.set()
                release.wait(20)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=delete_slowly)
    thread.start()
    assert locked.wait(20)
    writer_errors: list[BaseException] = []

    def append() -> None:
        try:
            interview_message_append(interview_id=interview.id, role="user", content="late")
        except BaseException as exc:
            writer_errors.append(exc)
        finally:
            connections.close_all()

    writer = threading.Thread(target=append)
    writer.start()
    writer.join(0.5)  # it is waiting for the row lock (checked below: it had not finished)
    assert writer.is_alive()
    release.set()
    thread.join()
    writer.join()
    assert errors == []
    assert [type(e) for e in writer_errors] == [InterviewNotFound]
    assert not InterviewMessage.objects.filter(interview_id=interview.id).exists()


def test_a_purge_batch_costs_the_same_whatever_its_size(settings, employee, staff, django_assert_num_queries):
    """No query per interview: the rows cascade in bulk (messages, reviews, the export link)."""
    settings.SOFT_DELETE_DAYS = 0

    def batch_of(n: int) -> None:
        for _ in range(n):
            interview = soft_deleted(employee, days_ago=1)
            InterviewReview.objects.create(interview=interview, reviewer=staff, decision="approved")
            InterviewExport.objects.create(interview=interview, format="json", exported_by=staff)

    batch_of(1)
    with CaptureQueriesContext(connection) as one:
        assert lifecycle.interviews_purge(reason="soft_delete_expired", batch_size=50) == 1
    batch_of(20)
    with django_assert_num_queries(len(one)):
        assert lifecycle.interviews_purge(reason="soft_delete_expired", batch_size=50) == 20
