"""The database work of the interview socket, as plain sync functions.

The consumer (``interviews.consumers``) runs these through ``database_sync_to_async`` and does
no ORM work itself. They are built on the same selectors, services and permission check as the
REST API, so a turn taken over the socket is the very same rows, sequence numbers and events
as one taken over REST.
"""

import uuid
from dataclasses import dataclass

from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError

from accounts.authentication import user_from_token
from accounts.models import User
from accounts.tokens import ServiceAccessToken
from interviews import selectors
from interviews.exceptions import InterviewAccessDenied, InterviewNotActive
from interviews.models import InterviewMessage, InterviewStatus, MessageRole
from interviews.permissions import Action, InterviewAccessPermission
from interviews.serializers import interview_data, message_data
from interviews.services import _question_frame
from interviewsvc.errors import PermissionDenied

PARTICIPANT = "participant"
OBSERVER = "observer"
RESUME_BATCH = 500


def socket_user_from_bearer(raw_token: str) -> User | None:
    """The active user an access JWT (from the ``bearer`` subprotocol) speaks for, or None."""
    try:
        return user_from_token(ServiceAccessToken(raw_token))
    except (TokenError, InvalidToken, AuthenticationFailed):
        return None


@dataclass(frozen=True)
class SocketOpening:
    interview: dict
    role: str
    last_sequence: int
    language: str


def socket_open(*, user: User, interview_id: uuid.UUID) -> SocketOpening:
    """What the ``connected`` frame says, after the access check.

    Raises ``InterviewNotFound`` (4404) or ``InterviewAccessDenied`` (4403). The owner is the
    participant; anyone else who may view it (staff and admins in scope) observes. One query.
    """
    interview = selectors.interview_get(interview_id=interview_id)
    InterviewAccessPermission.check(user, interview, Action.VIEW)
    try:
        InterviewAccessPermission.check(user, interview, Action.PARTICIPATE)
        role = PARTICIPANT
    except (PermissionDenied, InterviewAccessDenied):
        role = OBSERVER
    return SocketOpening(
        interview=interview_data(interview),
        role=role,
        last_sequence=selectors.interview_last_sequence(interview=interview),
        language=interview.language,
    )


def socket_pending_question(*, interview_id: uuid.UUID) -> dict:
    """The ``question`` frame of the interviewer's latest question. Two queries.

    Raises ``InterviewNotActive`` unless the interview is in progress: a paused, completed or
    cancelled interview has no question waiting for an answer.
    """
    interview = selectors.interview_get(interview_id=interview_id)
    if interview.status != InterviewStatus.IN_PROGRESS:
        raise InterviewNotActive(f"The interview is {interview.status}; no question is waiting for an answer.")
    question = (
        InterviewMessage.objects.filter(interview_id=interview_id, role=MessageRole.ASSISTANT)
        .order_by("-sequence_number")
        .first()
    )
    if question is None:
        raise InterviewNotActive("The interviewer has not asked a question yet.")
    return _question_frame(question)


def socket_interview(*, interview_id: uuid.UUID) -> dict:
    """The interview as in REST (for a ``status_changed`` the socket may have missed). One query."""
    return interview_data(selectors.interview_get(interview_id=interview_id))


def socket_messages_after(*, interview_id: uuid.UUID, after: int, limit: int = RESUME_BATCH) -> list[dict]:
    """``message`` frames for up to ``limit`` messages numbered above ``after``, in order. One query."""
    messages = selectors.interview_messages(interview=interview_id, after=after, limit=limit)
    return [{"type": "message", "message": message_data(m)} for m in messages]
