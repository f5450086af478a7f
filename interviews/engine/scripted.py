"""The offline, deterministic interviewer: walks an interview plan topic by topic.

State lives in ``interview.engine_state`` (``{"topic": i, "followup": bool}``); the service
that calls the engine saves it in the same transaction as the turn.
"""

import re

from interviews.engine.base import Evaluation, Turn

# Default process-elicitation plan: topic -> {language -> question}.
DEFAULT_PLAN: list[dict[str, str]] = [
    {
        "es": "¿Cuál es tu puesto y qué proceso principal realizas en tu día a día?",
        "en": "What is your role, and which main process do you carry out day to day?",
    },
    {
        "es": "Describe paso a paso cómo realizas ese proceso, desde que empieza hasta que termina.",
        "en": "Walk me through that process step by step, from start to finish.",
    },
    {
        "es": "¿Qué herramientas, sistemas o aplicaciones usas en cada paso?",
        "en": "Which tools, systems or applications do you use in each step?",
    },
    {
        "es": "¿Qué información o materiales recibes para empezar, y qué entregas al terminar?",
        "en": "What inputs do you receive to start, and what outputs do you deliver at the end?",
    },
    {
        "es": "¿Qué problemas encuentras con frecuencia y cómo los resuelves o rodeas?",
        "en": "Which problems come up often, and how do you solve or work around them?",
    },
    {
        "es": "Si pudieras cambiar algo del proceso, ¿qué mejorarías y por qué?",
        "en": "If you could change anything in the process, what would you improve and why?",
    },
]
FOLLOW_UP = {
    "es": "¿Podrías darme un ejemplo concreto, con los pasos o herramientas que usas?",
    "en": "Could you give me a concrete example, with the steps or tools you use?",
}
CLOSING = {
    "es": "¡Gracias! Hemos terminado la entrevista. Tus respuestas nos ayudarán a mejorar el proceso.",
    "en": "Thank you! We have finished the interview. Your answers will help us improve the process.",
}
_WORD = re.compile(r"\w+", re.UNICODE)
THIN_ANSWER_WORDS = 6


def _score(answer: str) -> Evaluation:
    words = _WORD.findall(answer)
    length_part = min(len(words), 60) / 60 * 70
    has_number = any(w.isdigit() for w in words)
    score = round(length_part + (15 if has_number else 0) + (15 if len(set(words)) > 10 else 0))
    strengths = ["detailed"] if len(words) >= 30 else []
    weaknesses = ["too short"] if len(words) < THIN_ANSWER_WORDS else []
    return Evaluation(score=min(score, 100), feedback="", strengths=strengths, weaknesses=weaknesses)


class ScriptedProvider:
    name = "scripted"

    def __init__(self, plan: list[dict[str, str]] | None = None):
        self.plan = plan or DEFAULT_PLAN

    def _text(self, entry: dict[str, str], language: str) -> str:
        return entry.get(language) or entry["en"]

    def first_turn(self, interview) -> Turn:
        interview.engine_state = {"topic": 0, "followup": False}
        return Turn(self._text(self.plan[0], interview.language), False, None, 1, len(self.plan))

    def next_turn(self, interview, history: list, answer: str) -> Turn:
        state = dict(interview.engine_state or {"topic": 0, "followup": False})
        topic = int(state.get("topic", 0))
        evaluation = _score(answer)
        total = len(self.plan)
        if len(_WORD.findall(answer)) < THIN_ANSWER_WORDS and not state.get("followup"):
            interview.engine_state = {"topic": topic, "followup": True}
            return Turn(self._text(FOLLOW_UP, interview.language), False, evaluation, topic + 1, total)
        topic += 1
        interview.engine_state = {"topic": topic, "followup": False}
        if topic >= total:
            return Turn(self._text(CLOSING, interview.language), True, evaluation, total, total)
        return Turn(self._text(self.plan[topic], interview.language), False, evaluation, topic + 1, total)
