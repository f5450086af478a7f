"""The interviewer engine interface (``shared/contract/ENGINE.md``).

REST ``start``/``continue`` and the WebSocket consumer call :func:`interviews.engine.get_engine`
and never know which provider answered.
"""

from dataclasses import asdict, dataclass, field
from typing import Protocol


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
    size; ``evaluation`` scores the answer that led to this turn (None on the first turn).
    """

    question: str
    is_final: bool
    evaluation: Evaluation | None
    index: int
    total: int


class Provider(Protocol):
    name: str

    def first_turn(self, interview) -> Turn: ...

    def next_turn(self, interview, history: list, answer: str) -> Turn: ...


class ProviderError(Exception):
    """A provider could not produce a usable turn; the next provider in the chain answers."""
