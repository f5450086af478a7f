"""The interviewer engine interface (v1.1; docs/engine.md).

Providers are coroutines on plain data: a :class:`Snapshot` of the interview and the recent
history as :class:`MessageData`, never ORM objects and never a database connection. The turn
services (``interviews.services.turns``) read before, write after, and hold nothing while a
provider works. A provider returns the new engine state in its :class:`Turn` instead of
changing the interview.

As the question is produced, a provider passes text to ``on_delta`` (a plain, non-blocking
callable). A provider that fails after some deltas is followed by a ``question_reset``; the
chain (``interviews.engine.chain``) sends it, so providers never do.
"""

import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Protocol

from interviews.engine.plans import PlanSpec

OnDelta = Callable[[str], None]


@dataclass(frozen=True)
class Evaluation:
    score: int  # 0-100
    feedback: str
    strengths: list[str] = field(default_factory=list)
    weaknesses: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Turn:
    """What the interviewer says next.

    ``index`` is the 1-based number of this question in the plan and ``total`` the plan's
    size; ``evaluation`` scores the answer that led to this turn (None on the first turn);
    ``engine_state`` is what the service stores on the interview with the reply.
    """

    question: str
    is_final: bool
    evaluation: Evaluation | None
    index: int
    total: int
    engine_state: dict = field(default_factory=dict)


@dataclass(frozen=True)
class MessageData:
    """One message of the transcript, as providers see it.

    ``imported``: the message came from another system (an interview imported by ``migrate``);
    its ``role`` is what that system claimed, not something this service said or heard. A
    provider never passes an imported message on with the authority of its role (a model's
    ``system`` or ``assistant`` turn); see docs/engine.md, "Imported turns".
    """

    role: str
    content: str
    sequence_number: int
    imported: bool = False


@dataclass(frozen=True)
class Snapshot:
    """The interview as it was when the turn began (read under the row lock, then let go).

    ``question_count`` is the number of questions asked so far (for an interview without
    engine state, e.g. imported, counted from its transcript: it places the interviewer in its
    plan).
    """

    interview_id: uuid.UUID
    language: str
    technical_level: str
    plan: PlanSpec
    engine_state: dict
    question_count: int


class Provider(Protocol):
    name: str
    # How many times the chain asks this provider before falling back (the call + retries).
    attempts: int
    # How many recent messages the provider wants in ``history`` (0: none).
    history_messages: int

    async def first_turn(self, snapshot: Snapshot, on_delta: OnDelta) -> Turn: ...

    async def next_turn(
        self, snapshot: Snapshot, history: list[MessageData], answer: str, on_delta: OnDelta
    ) -> Turn: ...


class ProviderError(Exception):
    """A provider could not produce a usable turn.

    ``retry`` False: asking the same provider again would fail the same way (a 4xx); the
    chain goes straight to the next provider.
    """

    def __init__(self, message: str = "", *, retry: bool = True):
        super().__init__(message)
        self.retry = retry
