"""Writes to interviews: the only code that creates messages or changes an interview.

``messages``: the one write path for messages (gapless numbering under the row lock).
``turns``: a turn in three short steps, nothing held while the interviewer thinks.
``interviews``: status changes, imports, interview plans.
"""

from interviews.services.interviews import (
    ALLOWED_TRANSITIONS,
    ENDED,
    IMPORT_STATUSES,
    interview_migrate,
    interview_overall_score,
    interview_plan_save,
    interview_status_change,
)
from interviews.services.messages import (
    MessageDraft,
    interview_lock,
    interview_message_append,
    interview_messages_append,
)
from interviews.services.turns import (
    ContinueResult,
    StartResult,
    TurnJob,
    TurnWait,
    interview_continue,
    interview_start,
    turn_answer_store,
    turn_continue,
    turn_run,
    turn_spawn,
    turn_start_begin,
    turn_sweep,
    turn_takeover,
)

__all__ = [
    "ALLOWED_TRANSITIONS",
    "ENDED",
    "IMPORT_STATUSES",
    "ContinueResult",
    "MessageDraft",
    "StartResult",
    "TurnJob",
    "TurnWait",
    "interview_continue",
    "interview_lock",
    "interview_message_append",
    "interview_messages_append",
    "interview_migrate",
    "interview_overall_score",
    "interview_plan_save",
    "interview_start",
    "interview_status_change",
    "turn_answer_store",
    "turn_continue",
    "turn_run",
    "turn_spawn",
    "turn_start_begin",
    "turn_sweep",
    "turn_takeover",
]
