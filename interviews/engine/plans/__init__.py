"""Interview plans: data, not code.

A plan is an ordered list of topics, each with a question per language (``es``, ``en``) and,
optionally, per technical level (``basic``, ``intermediate``, ``advanced``), plus a follow-up
and a closing message. Plans live in the database (:class:`interviews.models.InterviewPlan`,
edited in Django admin; chosen by ``interviews.selectors.plan_choose``, saved by
``interviews.services.interview_plan_save``); the built-in default ``default.json`` is seeded by a data migration
and also used, read-only, when no row applies (an imported interview, no default row), so the
interviewer always has a plan. Format: docs/engine.md.
"""

import json
import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

logger = logging.getLogger("interviews.engine")

LANGUAGES = ("es", "en")
LEVELS = ("basic", "intermediate", "advanced")
# When a text has no wording for the interview's level, the nearest one is used.
LEVEL_FALLBACK = {
    "basic": ("basic", "intermediate", "advanced"),
    "intermediate": ("intermediate", "basic", "advanced"),
    "advanced": ("advanced", "intermediate", "basic"),
}
MAX_TOPICS = 50
MAX_TEXT_CHARS = 2000
BUILTIN_PATH = Path(__file__).with_name("default.json")


@cache
def builtin_plan_data() -> dict:
    """The shipped default plan (``default.json``); also the data the migration seeds."""
    return json.loads(BUILTIN_PATH.read_text(encoding="utf-8"))


# --- validation ------------------------------------------------------------------------------


def _text_errors(value: Any, where: str, *, per_level: bool) -> list[str]:
    """Errors of one localized text: ``{"es": T, "en": T}``, T a string or (if ``per_level``)
    ``{"basic"?: str, "intermediate"?: str, "advanced"?: str}`` with at least one level."""
    if not isinstance(value, dict):
        return [f'{where}: must be an object {{"es": …, "en": …}}.']
    errors = []
    unknown = sorted(set(value) - set(LANGUAGES))
    if unknown:
        errors.append(f"{where}: unknown language(s) {', '.join(unknown)}; use es and en.")
    for language in LANGUAGES:
        text = value.get(language)
        if isinstance(text, str):
            if not text.strip():
                errors.append(f"{where}.{language}: must not be empty.")
            elif len(text) > MAX_TEXT_CHARS:
                errors.append(f"{where}.{language}: at most {MAX_TEXT_CHARS} characters.")
        elif per_level and isinstance(text, dict):
            bad = sorted(set(text) - set(LEVELS))
            if bad:
                errors.append(f"{where}.{language}: unknown level(s) {', '.join(bad)}; use {', '.join(LEVELS)}.")
            if not any(isinstance(text.get(level), str) and text[level].strip() for level in LEVELS):
                errors.append(f"{where}.{language}: needs the wording for at least one level.")
            for level in LEVELS:
                if level in text and not (isinstance(text[level], str) and text[level].strip()):
                    errors.append(f"{where}.{language}.{level}: must be a non-empty string.")
                elif isinstance(text.get(level), str) and len(text[level]) > MAX_TEXT_CHARS:
                    errors.append(f"{where}.{language}.{level}: at most {MAX_TEXT_CHARS} characters.")
        elif text is None:
            errors.append(f"{where}: the {language} wording is missing.")
        else:
            kind = "a string or an object by level" if per_level else "a string"
            errors.append(f"{where}.{language}: must be {kind}.")
    return errors


def plan_errors(data: dict) -> dict[str, list[str]]:
    """Everything wrong with a plan's ``topics``/``follow_up``/``closing``, by field (empty: valid)."""
    errors: dict[str, list[str]] = {}
    topics = data.get("topics")
    if not isinstance(topics, list) or not topics:
        errors["topics"] = ["Must be a non-empty list of topics."]
    elif len(topics) > MAX_TOPICS:
        errors["topics"] = [f"At most {MAX_TOPICS} topics."]
    else:
        found = []
        for i, topic in enumerate(topics, start=1):
            where = f"topic {i}"
            if not isinstance(topic, dict):
                found.append(f'{where}: must be an object with "question".')
                continue
            unknown = sorted(set(topic) - {"key", "question", "follow_up"})
            if unknown:
                found.append(f"{where}: unknown field(s) {', '.join(unknown)}.")
            if "key" in topic and not isinstance(topic["key"], str):
                found.append(f"{where}.key: must be a string.")
            found += _text_errors(topic.get("question"), f"{where}.question", per_level=True)
            if topic.get("follow_up") is not None:
                found += _text_errors(topic["follow_up"], f"{where}.follow_up", per_level=True)
        if found:
            errors["topics"] = found
    for field in ("follow_up", "closing"):
        value = data.get(field)
        if value:  # empty: the built-in wording
            found = _text_errors(value, field, per_level=True)
            if found:
                errors[field] = found
    return errors


# --- the plan an interview follows -----------------------------------------------------------


def render(text: Any, language: str, level: str) -> str:
    """The wording of a (validated) localized text for ``language`` and ``level``."""
    if isinstance(text, str):
        return text
    value = text.get(language) or text.get("en") or text.get("es")
    if isinstance(value, str):
        return value
    for candidate in LEVEL_FALLBACK.get(level, LEVELS):
        if value.get(candidate):
            return value[candidate]
    raise ValueError("text has no wording")  # plan_errors() rules this out


@dataclass(frozen=True)
class PlanSpec:
    """A validated plan, ready to ask from. ``slug`` is None for the built-in fallback."""

    slug: str | None
    topics: tuple
    follow_up: dict
    closing: dict

    @property
    def total(self) -> int:
        return len(self.topics)

    def question(self, topic: int, language: str, level: str) -> str:
        return render(self.topics[topic]["question"], language, level)

    def follow_up_for(self, topic: int, language: str, level: str) -> str:
        text = self.topics[topic].get("follow_up") if 0 <= topic < self.total else None
        return render(text or self.follow_up, language, level)

    def closing_for(self, language: str, level: str) -> str:
        return render(self.closing, language, level)

    @classmethod
    def from_data(cls, data: dict, slug: str | None) -> "PlanSpec":
        builtin = builtin_plan_data()
        return cls(
            slug=slug,
            topics=tuple(data["topics"]),
            follow_up=data.get("follow_up") or builtin["follow_up"],
            closing=data.get("closing") or builtin["closing"],
        )


@cache
def builtin_plan() -> PlanSpec:
    return PlanSpec.from_data(builtin_plan_data(), slug=None)


def plan_spec(plan) -> PlanSpec:
    """The spec of an :class:`InterviewPlan` row (None: the built-in plan).

    A row that fails validation (edited around the admin, e.g. in a shell) must not stall
    interviews: it is logged and the built-in plan answers instead. Specs are kept per row and
    content (a ``repr`` is far cheaper than validating a plan on every turn, and also sees edits
    that bypass ``updated_at``, such as ``QuerySet.update``).
    """
    if plan is None:
        return builtin_plan()
    key = (plan.pk, repr((plan.topics, plan.follow_up, plan.closing)))
    spec = _SPECS.get(key)
    if spec is None:
        if len(_SPECS) >= _SPECS_MAX:
            _SPECS.clear()
        spec = _SPECS[key] = _plan_spec(plan)
    return spec


# Specs by (pk, content); a few plans exist, so the bound only guards against churn.
_SPECS: dict = {}
_SPECS_MAX = 256


def _plan_spec(plan) -> PlanSpec:
    data = {"topics": plan.topics, "follow_up": plan.follow_up, "closing": plan.closing}
    errors = plan_errors(data)
    if errors:
        logger.error("interview plan %s is invalid (%s); using the built-in plan", plan.slug, errors)
        return builtin_plan()
    return PlanSpec.from_data(data, slug=plan.slug)
