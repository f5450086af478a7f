import threading
import uuid

import pytest
from django.db import IntegrityError, connection, connections, transaction

from interviews.models import Interview, InterviewMessage, MessageRole
from interviews.services import interview_message_append
from tests.factories import InterviewFactory


@pytest.mark.django_db
def test_primary_keys_are_uuid_v7_and_time_ordered():
    interview = InterviewFactory()
    first = interview_message_append(interview_id=interview.id, role=MessageRole.USER, content="a")
    second = interview_message_append(interview_id=interview.id, role=MessageRole.USER, content="b")
    assert interview.id.version == 7
    assert first.id.version == 7
    assert first.id < second.id


@pytest.mark.django_db
def test_append_numbers_from_one_and_updates_counter():
    interview = InterviewFactory()
    seqs = [
        interview_message_append(interview_id=interview.id, role="user", content=str(i)).sequence_number
        for i in range(5)
    ]
    assert seqs == [1, 2, 3, 4, 5]
    interview.refresh_from_db()
    assert interview.message_count == 5
    stored = list(InterviewMessage.objects.filter(interview=interview).values_list("sequence_number", "content"))
    assert stored == [(i + 1, str(i)) for i in range(5)]


@pytest.mark.django_db
def test_unique_sequence_is_enforced_by_the_database():
    interview = InterviewFactory()
    interview_message_append(interview_id=interview.id, role="user", content="a")
    with pytest.raises(IntegrityError), transaction.atomic():
        InterviewMessage.objects.create(
            interview=interview, role="user", content="dup", sequence_number=1, created_at=interview.started_at
        )


@pytest.mark.django_db
def test_deleting_an_interview_deletes_its_messages():
    interview = InterviewFactory()
    interview_message_append(interview_id=interview.id, role="user", content="a")
    interview.delete()
    assert InterviewMessage.objects.count() == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_database_cascades_message_deletes_on_postgres():
    interview = InterviewFactory()
    interview_message_append(interview_id=interview.id, role="user", content="a")
    with connection.cursor() as cursor:  # a DELETE issued outside Django's collector
        cursor.execute("DELETE FROM interviews_interview WHERE id = %s", [interview.id])
    assert InterviewMessage.objects.count() == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_get_gapless_unique_sequence_numbers():
    interview = InterviewFactory()
    threads_count, per_thread = 12, 10
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads_count)

    def writer(n: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                interview_message_append(interview_id=interview.id, role="user", content=f"{n}-{i}")
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    total = threads_count * per_thread
    seqs = sorted(InterviewMessage.objects.filter(interview=interview).values_list("sequence_number", flat=True))
    assert seqs == list(range(1, total + 1))
    assert Interview.objects.get(pk=interview.pk).message_count == total


@pytest.mark.django_db
def test_append_to_unknown_interview_raises_not_found():
    from interviews.exceptions import InterviewNotFound

    with pytest.raises(InterviewNotFound):
        interview_message_append(interview_id=uuid.uuid4(), role="user", content="a")
