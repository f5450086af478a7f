"""Reviews of interviews: append-only, and the interview's review state they imply.

The state rule (docs/admin.md, "Reviewing interviews"):

- ``unreviewed``: no reviewer has looked at it yet (every interview starts here);
- ``in_review``: a reviewer claimed it (:func:`interview_review_claim`, the admin's "Start
  review" button) and has not recorded a decision yet;
- ``reviewed``: the latest review approved it;
- ``flagged``: the latest review asked for a follow-up or rejected it.

Only the latest review counts; earlier ones stay as the history (no review is ever changed or
deleted). Claiming never moves an interview back from ``reviewed``/``flagged``.
"""

import uuid

from django.db import transaction

from interviews.models import InterviewReview, ReviewDecision, ReviewState
from interviews.permissions import Action, InterviewAccessPermission
from interviews.services.messages import interview_lock
from interviewsvc.errors import ValidationFailed

STATE_AFTER: dict[str, str] = {
    ReviewDecision.APPROVED: ReviewState.REVIEWED,
    ReviewDecision.NEEDS_FOLLOW_UP: ReviewState.FLAGGED,
    ReviewDecision.REJECTED: ReviewState.FLAGGED,
}
NOTES_MAX_CHARS = 10_000
REASON_MAX_CHARS = 2_000


def _invalid(field: str, error: str, kind: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {error}", errors=[{"field": field, "error": error, "type": kind}])


def review_input_check(
    *, decision, notes: str = "", score_override=None, override_reason: str = ""
) -> tuple[str, str, int | None, str]:
    """The review's fields, validated and normalised, or :class:`ValidationFailed` (422).

    The same rules for the REST API and the admin form: a known decision; notes and reason are
    bounded text; an override is a whole number 0-100 and needs a reason; a reason without an
    override is refused (it would explain nothing).
    """
    if decision not in ReviewDecision.values:
        raise _invalid("decision", f"Must be one of: {', '.join(ReviewDecision.values)}.", "invalid_choice")
    notes = (notes or "").strip()
    reason = (override_reason or "").strip()
    if len(notes) > NOTES_MAX_CHARS:
        raise _invalid("notes", f"At most {NOTES_MAX_CHARS} characters.", "max_length")
    if len(reason) > REASON_MAX_CHARS:
        raise _invalid("override_reason", f"At most {REASON_MAX_CHARS} characters.", "max_length")
    if score_override is not None:
        if isinstance(score_override, bool) or not isinstance(score_override, int):
            raise _invalid("score_override", "Must be a whole number from 0 to 100.", "invalid")
        if not 0 <= score_override <= 100:
            raise _invalid("score_override", "Must be a whole number from 0 to 100.", "out_of_range")
        if not reason:
            raise _invalid("override_reason", "Give a reason when you override the score.", "required")
    elif reason:
        raise _invalid("override_reason", "A reason goes with a score override; give the score too.", "unexpected")
    return decision, notes, score_override, reason


def interview_review_create(
    *,
    interview_id: uuid.UUID,
    reviewer,
    decision: str,
    notes: str = "",
    score_override: int | None = None,
    override_reason: str = "",
) -> InterviewReview:
    """Append a review and move the interview to the state it implies (:data:`STATE_AFTER`).

    Access is checked under the interview's row lock, so two reviewers deciding at once are
    serialised and the state follows whichever review was stored last.
    """
    decision, notes, score_override, reason = review_input_check(
        decision=decision, notes=notes, score_override=score_override, override_reason=override_reason
    )
    with transaction.atomic():
        interview = interview_lock(interview_id=interview_id)
        InterviewAccessPermission.check(reviewer, interview, Action.REVIEW)
        review = InterviewReview.objects.create(
            interview=interview,
            reviewer=reviewer,
            decision=decision,
            notes=notes,
            score_override=score_override,
            override_reason=reason,
        )
        interview.review_state = STATE_AFTER[decision]
        # Not ``updated_at``: a review is not activity of the interview (the abandonment rule
        # and the list's ordering read it).
        interview.save(update_fields=["review_state"])
    review.interview = interview
    return review


def interview_review_claim(*, interview_id: uuid.UUID, reviewer) -> str:
    """A reviewer starts looking: ``unreviewed`` → ``in_review``; any other state stays.

    Returns the interview's review state afterwards.
    """
    with transaction.atomic():
        interview = interview_lock(interview_id=interview_id)
        InterviewAccessPermission.check(reviewer, interview, Action.REVIEW)
        if interview.review_state == ReviewState.UNREVIEWED:
            interview.review_state = ReviewState.IN_REVIEW
            interview.save(update_fields=["review_state"])
    return interview.review_state
