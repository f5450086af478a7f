"""What interviews/services/messages.py promises that the other tests left unpinned: each test
here kills a mutant that survived them (docs/mutation.md, `./dev mutate interviews/services/messages.py`)."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from interviews.events import group_name
from interviews.models import InterviewMessage, MessageRole
from interviews.services import interview_message_append
from tests.factories import InterviewFactory

EVALUATION = {"score": 3, "feedback": "Clear.", "strengths": ["names the tool"], "weaknesses": []}


@pytest.mark.django_db
def test_append_stores_what_the_caller_sent_beyond_role_and_content():
    interview = InterviewFactory()

    interview_message_append(
        interview_id=interview.id,
        role=MessageRole.ASSISTANT,
        content="Which system do you use?",
        client_message_id="c-1",
        evaluation=EVALUATION,
        is_question=True,
    )

    row = InterviewMessage.objects.get(interview=interview)
    assert (row.client_message_id, row.evaluation) == ("c-1", EVALUATION)
    interview.refresh_from_db()
    assert (interview.message_count, interview.question_count) == (1, 1)


@pytest.mark.django_db(transaction=True)
async def test_append_announces_the_message_to_the_interview_group_after_commit():
    interview = await database_sync_to_async(InterviewFactory)()
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group_name(interview.id), channel)
    try:
        # A transactional test: the append commits, and on_commit publishes.
        message = await database_sync_to_async(interview_message_append)(
            interview_id=interview.id, role=MessageRole.USER, content="hello"
        )
        event = await asyncio.wait_for(layer.receive(channel), timeout=10)
    finally:
        await layer.group_discard(group_name(interview.id), channel)

    assert [frame["type"] for frame in event["frames"]] == ["message"]
    assert event["frames"][0]["message"]["id"] == str(message.id)
    assert event["frames"][0]["message"]["content"] == "hello"
