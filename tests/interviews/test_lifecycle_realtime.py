"""A soft delete, a purge or an erasure in the middle of a live socket ends it cleanly: every open
socket of the interview (participant and observer) gets ``error`` ``interview_not_found`` and a
4404 close, as for an interview that does not exist. Runs on the in-memory layer (SQLite pass)
and on channels_redis (PostgreSQL + Redis pass)."""

from datetime import timedelta

import pytest
from channels.layers import get_channel_layer
from django.utils import timezone

from interviews.events import group_name
from interviews.models import Interview
from interviews.realtime.consumer import CLOSE_NOT_FOUND
from interviews.services import lifecycle
from tests.interviews.realtime_support import (
    LONG_ANSWER,
    bearer_socket,
    closed_with,
    expect_close,
    frames,
    open_socket,
    socket,
    start_interview,
    sync,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def interview(employee):
    return start_interview(employee)


async def ended_cleanly(comm) -> None:
    frame = await comm.receive_json_from()
    assert frame == {"type": "error", "code": "interview_not_found", "message": "The interview no longer exists."}
    assert await closed_with(comm) == CLOSE_NOT_FOUND
    await comm.disconnect()


async def test_soft_delete_ends_every_open_socket(employee, staff, admin_user, interview):
    participant, _ = await open_socket(employee, interview.id)
    observer, _ = await open_socket(staff, interview.id)
    await sync(lifecycle.interview_soft_delete)(interview_id=interview.id, actor=admin_user)
    await ended_cleanly(participant)
    await ended_cleanly(observer)
    # And it cannot be reopened: 4404 as for any unknown interview.
    await expect_close(await bearer_socket(employee, interview.id), CLOSE_NOT_FOUND)


async def test_delete_over_rest_during_a_conversation(client_for, employee, admin_user, interview):
    participant, _ = await open_socket(employee, interview.id)
    await participant.send_json_to({"type": "text_answer", "answer_text": LONG_ANSWER, "client_message_id": "a-1"})
    assert [f["type"] for f in await frames(participant, 3)] == ["answer_received", "evaluation", "question"]
    response = await sync(lambda: client_for(admin_user).delete(f"/api/v1/interviews/{interview.id}"))()
    assert response.status_code == 204
    await ended_cleanly(participant)


async def test_purge_in_the_middle_of_a_live_socket_ends_it(settings, employee, staff, interview):
    settings.SOFT_DELETE_DAYS = 0
    participant, _ = await open_socket(employee, interview.id)
    observer, _ = await open_socket(staff, interview.id)
    # Soft-deleted by hand (no event), so only the purge can end the sockets.
    await sync(Interview.objects.filter(pk=interview.id).update)(deleted_at=timezone.now() - timedelta(seconds=1))
    await participant.send_json_to({"type": "ping"})
    assert (await participant.receive_json_from())["type"] == "pong"  # still open until the purge
    assert await sync(lifecycle.interviews_purge)(reason="soft_delete_expired") == 1
    await ended_cleanly(participant)
    await ended_cleanly(observer)
    assert not await sync(Interview.all_objects.filter(pk=interview.id).exists)()


async def test_retention_purge_of_a_live_interview_ends_its_socket(settings, employee, interview):
    settings.RETENTION_DAYS = 1
    await sync(Interview.objects.filter(pk=interview.id).update)(started_at=timezone.now() - timedelta(days=2))
    participant, _ = await open_socket(employee, interview.id)
    assert await sync(lifecycle.interviews_purge)(reason="retention") == 1
    await ended_cleanly(participant)


async def test_erasure_ends_the_employees_socket(employee, interview):
    participant, _ = await open_socket(employee, interview.id)
    await sync(lifecycle.employee_erase)(employee=employee)
    await ended_cleanly(participant)


async def test_a_ticket_taken_before_the_delete_opens_nothing(client_for, employee, admin_user, interview):
    response = await sync(lambda: client_for(employee).post(f"/api/v1/interviews/{interview.id}/ws-ticket"))()
    ticket = response.json()["data"]["ticket"]
    await sync(lifecycle.interview_soft_delete)(interview_id=interview.id, actor=admin_user)
    await expect_close(socket(interview.id, query=f"ticket={ticket}"), CLOSE_NOT_FOUND)


async def test_an_answer_after_the_delete_is_refused_on_a_socket_that_missed_the_event(employee, admin_user, interview):
    participant, _ = await open_socket(employee, interview.id)
    # Deleted without the event (a lost broadcast): the next answer finds out and ends the socket.
    await sync(Interview.objects.filter(pk=interview.id).update)(deleted_at=timezone.now())
    await participant.send_json_to({"type": "text_answer", "answer_text": LONG_ANSWER})
    await ended_cleanly(participant)
    stored = await sync(lambda: Interview.all_objects.get(pk=interview.id).messages.count())()
    assert stored == 1  # the first question only: nothing was written to a deleted interview


async def test_a_socket_that_missed_the_event_leaks_nothing_and_closes_on_its_next_read(employee, interview):
    participant, _ = await open_socket(employee, interview.id)
    await sync(Interview.objects.filter(pk=interview.id).update)(deleted_at=timezone.now())
    # resume: no message of the deleted interview is replayed.
    await participant.send_json_to({"type": "resume", "after_sequence": 0})
    await participant.send_json_to({"type": "get_next_question"})
    await ended_cleanly(participant)  # the first frame is the error: no ``message`` came before it


async def test_after_a_redis_outage_a_deleted_interviews_socket_closes(employee, interview):
    participant, _ = await open_socket(employee, interview.id)
    await sync(Interview.objects.filter(pk=interview.id).update)(deleted_at=timezone.now())
    # What interviewsvc.channel_layer hands every member when Redis is back: the delete's event was
    # lost with it, so the catch-up finds the interview gone, sends nothing of it, and closes.
    await get_channel_layer().group_send(group_name(interview.id), {"type": "layer.reconnected"})
    await ended_cleanly(participant)
