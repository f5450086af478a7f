"""The offline report: built from the plan's topics, the rubric and the stored answers.

Deterministic, no model, no network: the report every interview gets when no model is
configured, and the fallback when the model's report is unusable (``interviews.reports.llm``).
It works on plain data (:class:`ReportInput`), read by the service before and written after.

- Each answer belongs to the topic of the question before it: the ``index`` the interviewer
  stored on its question (a follow-up keeps its topic's index); for imported transcripts,
  which have none, the Nth question stands for topic N (as ``interviews.engine.scripted``
  places them).
- A topic's score is the rounded mean of its answers' scores; its finding quotes what the
  employee said (shortened at a sentence or word boundary).
- For plans whose topics carry the process-elicitation keys (``role``, ``steps``, …) the
  process is the employee's own sentences, per section; the steps are the steps topic's
  sentences and clauses in the order they were said; the tools are the named tools and systems
  (rubric.TOOLS' product names, and capitalised names) of the tools and steps answers.
- Strengths and weaknesses are the rubric's labels, most frequent first, with the answers that
  earned them.
"""

import re
from dataclasses import dataclass, field

from interviews.engine.plans import PlanSpec
from interviews.models import MessageRole
from interviews.reports.schema import MAX_FINDINGS, MAX_REFS, MAX_TEXT, PROCESS_SECTIONS, SCHEMA_VERSION

# The product names among rubric.TOOLS (generic words like "file" are not tools to list).
PRODUCTS = {
    "excel": "Excel", "sap": "SAP", "erp": "ERP", "crm": "CRM", "outlook": "Outlook", "teams": "Teams",
    "slack": "Slack", "whatsapp": "WhatsApp", "jira": "Jira", "sharepoint": "SharePoint",
    "salesforce": "Salesforce", "word": "Word", "powerpoint": "PowerPoint", "drive": "Drive",
    "gmail": "Gmail", "sql": "SQL", "api": "API", "pdf": "PDF", "csv": "CSV",
}  # fmt: skip
TITLES = {
    "en": {
        "role": "Role",
        "steps": "Steps",
        "tools": "Tools and systems",
        "inputs_outputs": "Inputs and outputs",
        "problems": "Problems and workarounds",
        "improvements": "Improvement ideas",
    },
    "es": {
        "role": "Puesto",
        "steps": "Pasos",
        "tools": "Herramientas y sistemas",
        "inputs_outputs": "Entradas y salidas",
        "problems": "Problemas y soluciones provisionales",
        "improvements": "Ideas de mejora",
    },
}
TEXTS = {
    "en": {
        "not_covered": "Not covered in the interview.",
        "summary": "{answers} answers on {covered} of {total} topics; overall score {score}.",
        "best": " Most concrete on {title} ({value}/100); least on {worst} ({worst_value}/100).",
        "no_score": "not scored",
        "missing": "Not covered: {titles}",
    },
    "es": {
        "not_covered": "No se trató en la entrevista.",
        "summary": "{answers} respuestas sobre {covered} de {total} temas; puntuación global {score}.",
        "best": " Más concreto en {title} ({value}/100); menos en {worst} ({worst_value}/100).",
        "no_score": "sin puntuar",
        "missing": "Temas no tratados: {titles}",
    },
}
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
# Where one step ends and the next begins inside a sentence: a sequence word, or a comma or
# semicolon (steps are listed with them: "I receive it, match it to the order, and approve it").
_STEP_BREAK = re.compile(
    r"\s*[,;]\s*(?:(?:and|y|e)\s+)?"
    r"(?:(?:then|luego|después|despues|after that|afterwards|finally|finalmente|next|entonces)\b\s*,?\s*)?"
    r"|\s+\b(?:and then|y luego|y después|y despues|luego|después|despues|entonces|y por último|finalmente|"
    r"then|after that|afterwards|and finally|finally|next)\b\s*,?\s*",
    re.IGNORECASE,
)
# Capitalised words that start a sentence without naming a tool ("We use SAP", "Uso Excel").
_NOT_NAMES = {
    "we", "my", "our", "the", "in", "for", "at", "on", "it", "they", "there", "first", "then", "also", "mostly",
    "yo", "uso", "usamos", "el", "la", "los", "las", "en", "con", "para", "mi", "mis", "nosotros", "primero",
    "también", "tambien", "sobre", "todo", "a", "y",
}  # fmt: skip
_NAME = re.compile(r"[^\W_][\w&.+-]*", re.UNICODE)
MAX_STEPS = 20


@dataclass(frozen=True)
class ReportMessage:
    role: str
    content: str
    sequence_number: int
    evaluation: dict | None = None
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ReportInput:
    """An interview as the report builders see it (plain data, read by the service)."""

    interview_id: object
    language: str
    plan: PlanSpec
    overall_score: int | None
    messages: tuple[ReportMessage, ...]

    @property
    def sequence_numbers(self) -> set[int]:
        return {m.sequence_number for m in self.messages}

    @property
    def topic_keys(self) -> list[str]:
        return [topic_key(self.plan, i) for i in range(self.plan.total)]


def topic_key(plan: PlanSpec, index: int) -> str:
    key = plan.topics[index].get("key")
    return key if isinstance(key, str) and key.strip() else f"topic-{index + 1}"


def topic_title(key: str, language: str, index: int) -> str:
    titles = TITLES.get(language, TITLES["en"])
    if key in titles:
        return titles[key]
    if key == f"topic-{index + 1}":
        return f"Topic {index + 1}" if language == "en" else f"Tema {index + 1}"
    return key.replace("_", " ").replace("-", " ").strip().capitalize()[:200] or f"Topic {index + 1}"


def shorten(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` on one line, at most ``limit`` characters, cut at a sentence or word boundary."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    end = max(cut.rfind(". "), cut.rfind("? "), cut.rfind("! "))
    if end > limit // 2:
        return cut[: end + 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut) + "…"


def _score(message: ReportMessage) -> int | None:
    score = (message.evaluation or {}).get("score") if isinstance(message.evaluation, dict) else None
    return round(score) if isinstance(score, int | float) and not isinstance(score, bool) else None


def answers_by_topic(data: ReportInput) -> list[list[ReportMessage]]:
    """The employee's answers per plan topic (the topic of the question before each)."""
    total = data.plan.total
    topics: list[list[ReportMessage]] = [[] for _ in range(total)]
    current, asked = 0, 0
    for message in data.messages:
        if message.role == MessageRole.ASSISTANT:
            asked += 1
            index = message.metadata.get("index") if isinstance(message.metadata, dict) else None
            if isinstance(index, int) and not isinstance(index, bool):
                current = min(max(index - 1, 0), total - 1)
            else:
                current = min(asked, total) - 1
        elif message.role == MessageRole.USER and message.content.strip():
            topics[current].append(message)
    return topics


def _sentences(answers: list[ReportMessage], *, limit: int = MAX_FINDINGS) -> list[dict]:
    found = []
    for answer in answers:
        for sentence in _SENTENCE.split(answer.content):
            if len(sentence.split()) >= 2 or (sentence.strip() and len(answers) == 1):
                found.append({"text": shorten(sentence), "messages": [answer.sequence_number]})
    return found[:limit]


def _steps(answers: list[ReportMessage]) -> list[dict]:
    steps: list[dict] = []
    for item in _sentences(answers, limit=MAX_STEPS * 2):
        for part in _STEP_BREAK.split(item["text"]):
            part = part.strip(" ,;.")
            if not part:
                continue
            if len(part.split()) < 2 and steps and steps[-1]["messages"] == item["messages"]:
                steps[-1]["text"] = shorten(f"{steps[-1]['text']}, {part}")  # "Excel, SAP": not a step
            else:
                steps.append({"text": shorten(part[0].upper() + part[1:]), "messages": item["messages"]})
    return steps[:MAX_STEPS]


def _leads_a_list(sentence: str, matches: list) -> bool:
    """The sentence's first word starts a list of names ("Kronos, Excel", "Oracle ERP and …"),
    rather than a sentence ("Entra una solicitud…")."""
    rest = sentence[matches[0].end() :].lstrip()
    return rest.startswith(",") or (len(matches) > 1 and matches[1].group()[:1].isupper())


def _tools(answers: list[ReportMessage], *, listing: set[int]) -> list[dict]:
    """Named tools and systems, first-seen spelling, with every answer that names them.

    ``listing``: the answers to the tools question, where a sentence may start with a name
    ("Oracle ERP, Outlook and Excel"); elsewhere a capitalised first word is just a sentence.
    """
    found: dict[str, dict] = {}
    for answer in answers:
        for sentence in re.split(r"[.!?¿¡:;\n]", answer.content):
            matches = list(_NAME.finditer(sentence))
            for position, match in enumerate(matches):
                token = match.group().rstrip(".")
                word = token.lower()
                starts = position > 0 or (
                    answer.sequence_number in listing and word not in _NOT_NAMES and _leads_a_list(sentence, matches)
                )
                is_name = starts and token[0].isupper() and len(token) > 1
                if word not in PRODUCTS and not is_name:
                    continue
                entry = found.setdefault(word, {"text": PRODUCTS.get(word, token)[:MAX_TEXT], "messages": []})
                if answer.sequence_number not in entry["messages"] and len(entry["messages"]) < MAX_REFS:
                    entry["messages"].append(answer.sequence_number)
    return list(found.values())[:MAX_FINDINGS]


def _labelled(answers: list[ReportMessage], key: str) -> list[dict]:
    """The rubric's strengths (or weaknesses) of ``answers``, most frequent first."""
    found: dict[str, list[int]] = {}
    for answer in answers:
        labels = (answer.evaluation or {}).get(key) if isinstance(answer.evaluation, dict) else None
        for label in labels if isinstance(labels, list) else ():
            if isinstance(label, str) and label.strip():
                found.setdefault(shorten(label), []).append(answer.sequence_number)
    ranked = sorted(found.items(), key=lambda item: -len(item[1]))
    return [{"text": text, "messages": refs[:MAX_REFS]} for text, refs in ranked[:MAX_FINDINGS]]


def _mean(values: list[int]) -> int | None:
    return round(sum(values) / len(values)) if values else None


def report_build_scripted(data: ReportInput) -> dict:
    """The report document of ``data`` (valid against ``REPORT_SCHEMA``)."""
    language = data.language if data.language in TEXTS else "en"
    texts = TEXTS[language]
    by_topic = answers_by_topic(data)
    topics = []
    for i, answers in enumerate(by_topic):
        key = topic_key(data.plan, i)
        scores = [s for s in map(_score, answers) if s is not None]
        # What the employee said; the rubric's advice is addressed to them, not to the reader.
        finding = shorten(" ".join(shorten(a.content, 400) for a in answers)) or texts["not_covered"]
        topics.append(
            {
                "key": key,
                "title": topic_title(key, language, i),
                "score": _mean(scores),
                "finding": finding,
                "messages": [a.sequence_number for a in answers][:MAX_REFS],
            }
        )
    keys = [t["key"] for t in topics]
    process = None
    if any(name in keys for name in PROCESS_SECTIONS):
        of = {key: by_topic[i] for i, key in enumerate(keys)}
        # Tools are named where the employee was asked about them and about the steps; elsewhere
        # capitalised words are more often things ("PO number") than systems.
        named = sorted([*of.get("tools", []), *of.get("steps", [])], key=lambda a: a.sequence_number)
        listing = {a.sequence_number for a in of.get("tools", [])}
        process = {
            "role": _sentences(of.get("role", []), limit=3),
            "steps": _steps(of.get("steps", [])),
            "tools": _tools(named, listing=listing) or _sentences(of.get("tools", []), limit=10),
            "inputs_outputs": _sentences(of.get("inputs_outputs", []), limit=10),
            "problems": _sentences(of.get("problems", []), limit=10),
            "improvements": _sentences(of.get("improvements", []), limit=10),
        }
    every = [a for answers in by_topic for a in answers]
    weaknesses = _labelled(every, "weaknesses")
    missing = [t["title"] for t in topics if not t["messages"]]
    if missing:
        weaknesses.insert(0, {"text": shorten(texts["missing"].format(titles=", ".join(missing))), "messages": []})
    return {
        "schema_version": SCHEMA_VERSION,
        "language": language,
        "overall_score": data.overall_score,
        "summary": _summary(texts, topics, len(every), data.overall_score),
        "topics": topics,
        "process": process,
        "strengths": _labelled(every, "strengths"),
        "weaknesses": weaknesses[:MAX_FINDINGS],
    }


def _summary(texts: dict, topics: list[dict], answers: int, overall: int | None) -> str:
    covered = [t for t in topics if t["messages"]]
    score = f"{overall}/100" if overall is not None else texts["no_score"]
    summary = texts["summary"].format(answers=answers, covered=len(covered), total=len(topics), score=score)
    scored = [t for t in covered if t["score"] is not None]
    if len(scored) >= 2:
        best = max(scored, key=lambda t: t["score"])
        worst = min(scored, key=lambda t: t["score"])
        if best["score"] != worst["score"]:
            summary += texts["best"].format(
                title=best["title"], value=best["score"], worst=worst["title"], worst_value=worst["score"]
            )
    return shorten(summary)
