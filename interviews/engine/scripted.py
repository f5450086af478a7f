"""The offline, deterministic interviewer: walks the interview's plan topic by topic.

State lives in ``interview.engine_state``: ``{"plan": slug|None, "topic": i, "followup": bool}``
(0-based topic of the question last asked; ``followup`` when that question was the topic's
follow-up). The service that calls the engine saves it in the same transaction as the turn.
An interview without state (imported by ``migrate``) is placed by its history: the number of
questions already asked.
"""

from interviews.engine import rubric
from interviews.engine.base import Turn
from interviews.engine.plans import PlanSpec, builtin_plan, plan_of
from interviews.models import MessageRole


def _builtin_questions(level: str) -> list[dict[str, str]]:
    plan = builtin_plan()
    return [{lang: plan.question(i, lang, level) for lang in ("es", "en")} for i in range(plan.total)]


# The built-in plan's questions at the ``basic`` level (the default level), by language.
DEFAULT_PLAN: list[dict[str, str]] = _builtin_questions("basic")


def questions_asked(history) -> int:
    """How many interviewer messages ``history`` holds: one COUNT query for a QuerySet."""
    if hasattr(history, "filter"):
        return history.filter(role=MessageRole.ASSISTANT).count()
    return sum(1 for message in history if message.role == MessageRole.ASSISTANT)


def position(interview, history, plan: PlanSpec) -> tuple[int, bool]:
    """``(topic, followup)`` of the question the answer replies to.

    ``topic`` is -1 when no question was asked yet (an import holding only answers).
    """
    state = interview.engine_state if isinstance(interview.engine_state, dict) else {}
    topic = state.get("topic")
    if isinstance(topic, int) and not isinstance(topic, bool):
        return min(max(topic, 0), plan.total), bool(state.get("followup"))
    # No state (imported): the Nth question asked so far stands for topic N-1 of this plan; a
    # conversation that already asked more questions than the plan has is wrapped up, without
    # a follow-up.
    asked = questions_asked(history)
    return min(asked, plan.total) - 1, asked > plan.total


class ScriptedProvider:
    name = "scripted"

    def first_turn(self, interview) -> Turn:
        plan = plan_of(interview)
        interview.engine_state = {"plan": plan.slug, "topic": 0, "followup": False}
        question = plan.question(0, interview.language, interview.technical_level)
        return Turn(question=question, is_final=False, evaluation=None, index=1, total=plan.total)

    def next_turn(self, interview, history, answer: str) -> Turn:
        plan = plan_of(interview)
        language, level = interview.language, interview.technical_level
        topic, followup_asked = position(interview, history, plan)
        evaluation = rubric.evaluate(answer, language)
        state = {"plan": plan.slug, "topic": topic, "followup": False}
        if 0 <= topic < plan.total and not followup_asked and rubric.is_thin(answer):
            # One follow-up per topic; whatever the second answer is, the plan moves on.
            interview.engine_state = {**state, "followup": True}
            question = plan.follow_up_for(topic, language, level)
            return Turn(question=question, is_final=False, evaluation=evaluation, index=topic + 1, total=plan.total)
        topic += 1
        interview.engine_state = {**state, "topic": topic}
        if topic >= plan.total:
            closing = plan.closing_for(language, level)
            return Turn(question=closing, is_final=True, evaluation=evaluation, index=plan.total, total=plan.total)
        question = plan.question(topic, language, level)
        return Turn(question=question, is_final=False, evaluation=evaluation, index=topic + 1, total=plan.total)
