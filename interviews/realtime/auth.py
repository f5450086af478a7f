"""Who is on the other end of a socket, and as what (docs/realtime.md, "Connecting").

A handshake authenticates with a one-time ticket, the ``bearer`` subprotocol pair or the Django
session cookie; a JWT in the query string is refused. The role comes from the same permission
check as REST: the owner participates, staff and admins in scope observe.
"""

import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError

from accounts.authentication import user_from_token
from accounts.models import User
from accounts.tokens import ServiceAccessToken
from interviews import selectors, tickets
from interviews.exceptions import InterviewAccessDenied
from interviews.permissions import Action, InterviewAccessPermission
from interviews.serializers import interview_data
from interviewsvc.errors import PermissionDenied

PARTICIPANT = "participant"
OBSERVER = "observer"
# Query parameters that would carry a credential in the URL (and so in access logs).
CREDENTIAL_PARAMS = {"token", "access_token", "jwt", "access", "authorization", "bearer"}


def socket_user_from_bearer(raw_token: str) -> User | None:
    """The active user an access JWT (from the ``bearer`` subprotocol) speaks for, or None."""
    try:
        return user_from_token(ServiceAccessToken(raw_token))
    except (TokenError, InvalidToken, AuthenticationFailed):
        return None


async def socket_user(scope: dict, offered: list[str], interview_id: uuid.UUID | None) -> User | None:
    """The user behind this handshake, or None. Ticket, then ``bearer`` pair, then session."""
    query = parse_qs(scope.get("query_string", b"").decode("latin1"))
    if CREDENTIAL_PARAMS & {name.lower() for name in query}:
        return None  # a JWT in the URL is refused outright, even next to valid credentials
    if "ticket" in query:
        if interview_id is None:
            return None
        return await database_sync_to_async(tickets.ticket_redeem)(ticket=query["ticket"][0], interview_id=interview_id)
    if offered[:1] == ["bearer"]:
        if len(offered) != 2:
            return None
        return await database_sync_to_async(socket_user_from_bearer)(offered[1])
    user = scope.get("user")
    if user is not None and user.is_authenticated and user.is_active:
        return user
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
