"""The offline, deterministic interviewer: walks the interview's plan topic by topic.

State (``Turn.engine_state``, stored on the interview with the reply): ``{"plan": slug|None,
"topic": i, "followup": bool}`` (0-based topic of the question last asked; ``followup`` when that
question was the topic's follow-up). An interview without state (imported by ``migrate``) is
placed by the number of questions already asked. The whole question is produced at once, so it
is streamed as one delta.
"""

from interviews.engine import rubric
from interviews.engine.base import MessageData, OnDelta, Snapshot, Turn
from interviews.engine.plans import PlanSpec, builtin_plan


def _builtin_questions(level: str) -> list[dict[str, str]]:
    plan = builtin_plan()
    return [{lang: plan.question(i, lang, level) for lang in ("es", "en")} for i in range(plan.total)]


# The built-in plan's questions at the ``basic`` level (the default level), by language.
DEFAULT_PLAN: list[dict[str, str]] = _builtin_questions("basic")


def position(snapshot: Snapshot, plan: PlanSpec) -> tuple[int, bool]:
    """``(topic, followup)`` of the question the answer replies to.

    ``topic`` is -1 when no question was asked yet (an import holding only answers).
    """
    state = snapshot.engine_state if isinstance(snapshot.engine_state, dict) else {}
    topic = state.get("topic")
    if isinstance(topic, int) and not isinstance(topic, bool):
        return min(max(topic, 0), plan.total), bool(state.get("followup"))
    # No state (imported): the Nth question asked so far stands for topic N-1 of this plan; a
    # conversation that already asked more questions than the plan has is wrapped up, without
    # a follow-up.
    asked = snapshot.question_count
    return min(asked, plan.total) - 1, asked > plan.total


class ScriptedProvider:
    name = "scripted"
    attempts = 1
    history_messages = 0

    async def first_turn(self, snapshot: Snapshot, on_delta: OnDelta) -> Turn:
        plan = snapshot.plan
        question = plan.question(0, snapshot.language, snapshot.technical_level)
        on_delta(question)
        return Turn(
            question=question,
            is_final=False,
            evaluation=None,
            index=1,
            total=plan.total,
            engine_state={"plan": plan.slug, "topic": 0, "followup": False},
        )

    async def next_turn(self, snapshot: Snapshot, history: list[MessageData], answer: str, on_delta: OnDelta) -> Turn:
        plan = snapshot.plan
        language, level = snapshot.language, snapshot.technical_level
        topic, followup_asked = position(snapshot, plan)
        evaluation = rubric.evaluate(answer, language)
        state = {"plan": plan.slug, "topic": topic, "followup": False}
        if 0 <= topic < plan.total and not followup_asked and rubric.is_thin(answer):
            # One follow-up per topic; whatever the second answer is, the plan moves on.
            question = plan.follow_up_for(topic, language, level)
            turn = Turn(question, False, evaluation, topic + 1, plan.total, {**state, "followup": True})
        else:
            topic += 1
            state = {**state, "topic": topic}
            if topic >= plan.total:
                turn = Turn(plan.closing_for(language, level), True, evaluation, plan.total, plan.total, state)
            else:
                turn = Turn(plan.question(topic, language, level), False, evaluation, topic + 1, plan.total, state)
        on_delta(turn.question)
        return turn
