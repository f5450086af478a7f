"""One-time WebSocket tickets: how a browser authenticates a socket without putting a JWT in a URL.

``POST /api/v1/interviews/<id>/ws-ticket`` (Bearer JWT) issues a random ticket bound to one user
and one interview; the socket presents it as ``?ticket=<ticket>``. Invariants:

- a ticket opens at most one connection: redeeming deletes it, and only the caller whose
  ``delete`` actually removed the key wins (an atomic ``DEL`` on Redis, a locked dict on locmem),
  so two sockets racing with the same ticket cannot both get in;
- it expires ``WS_TICKET_TTL_SECONDS`` after issue (the cache's own expiry);
- the cache key is a hash of the ticket, so a cache dump holds nothing that opens a socket;
- a ticket presented for another interview is consumed and refused.

Tickets live in Django's default cache: Redis when ``REDIS_URL`` is set (shared by every daphne
process), process-local memory otherwise (one process only).
"""

import hashlib
import secrets
import uuid

from django.conf import settings
from django.core.cache import cache

from accounts.models import User

_PREFIX = "ws-ticket:"


def _key(ticket: str) -> str:
    return _PREFIX + hashlib.sha256(ticket.encode("utf-8", "replace")).hexdigest()


def ticket_issue(*, user: User, interview_id: uuid.UUID) -> str:
    """A new ticket letting ``user`` open one socket to ``interview_id``; the caller checked access."""
    ticket = secrets.token_urlsafe(32)
    cache.set(
        _key(ticket),
        {"user_id": user.pk, "interview_id": str(interview_id)},
        timeout=settings.WS_TICKET_TTL_SECONDS,
    )
    return ticket


def ticket_redeem(*, ticket: str, interview_id: uuid.UUID) -> User | None:
    """The active user a valid ticket for ``interview_id`` names, consuming it; None otherwise."""
    if not ticket or len(ticket) > 256:
        return None
    key = _key(ticket)
    grant = cache.get(key)
    # ``delete`` reports whether this call removed the key: exactly one redeemer sees True.
    if grant is None or not cache.delete(key):
        return None
    if grant.get("interview_id") != str(interview_id):
        return None
    return User.objects.filter(pk=grant.get("user_id"), is_active=True).first()
