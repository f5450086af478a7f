"""The report document's one schema (JSON Schema 2020-12), and the checks a document must pass.

Written once and used everywhere: the scripted builder's output is checked against it (a bug
fails loudly in tests), the ``openai`` report is checked against it before it is stored (a
model's output that does not fit falls back to the scripted report), the model is shown it in
its prompt, and the tests validate every stored document with it. docs/api.md, "Interview
reports", describes the same fields for clients.

Beyond the schema, :func:`report_problems` checks what JSON Schema cannot: every message number
points to a message of this interview, and topic keys are the plan's own.
"""

from functools import cache

from jsonschema import Draft202012Validator

SCHEMA_VERSION = 1
MAX_TEXT = 1000
MAX_FINDINGS = 30
MAX_REFS = 50
# The process-elicitation sections, in the order people read them (docs/engine.md).
PROCESS_SECTIONS = ("role", "steps", "tools", "inputs_outputs", "problems", "improvements")

_TEXT = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT}
_REFS = {
    "type": "array",
    "items": {"type": "integer", "minimum": 1},
    "maxItems": MAX_REFS,
    "description": "The sequence numbers of the messages this finding comes from",
}
_FINDING = {
    "type": "object",
    "additionalProperties": False,
    "required": ["text", "messages"],
    "properties": {"text": _TEXT, "messages": _REFS},
}
_FINDINGS = {"type": "array", "items": {"$ref": "#/$defs/finding"}, "maxItems": MAX_FINDINGS}
_SCORE = {"type": ["integer", "null"], "minimum": 0, "maximum": 100}

REPORT_SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "InterviewReportDocument",
    "type": "object",
    "additionalProperties": False,
    "required": [
        "schema_version",
        "language",
        "overall_score",
        "summary",
        "topics",
        "process",
        "strengths",
        "weaknesses",
    ],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "language": {"enum": ["es", "en"]},
        "overall_score": _SCORE,
        "summary": _TEXT,
        "topics": {
            "type": "array",
            "maxItems": 50,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["key", "title", "score", "finding", "messages"],
                "properties": {
                    "key": {"type": "string", "minLength": 1, "maxLength": 100},
                    "title": {"type": "string", "minLength": 1, "maxLength": 200},
                    "score": _SCORE,
                    "finding": _TEXT,
                    "messages": _REFS,
                },
            },
        },
        "process": {
            "description": "The process as the employee described it (process-elicitation plans; else null)",
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "additionalProperties": False,
                    "required": list(PROCESS_SECTIONS),
                    "properties": {name: {"$ref": "#/$defs/findings"} for name in PROCESS_SECTIONS},
                },
            ],
        },
        "strengths": {"$ref": "#/$defs/findings"},
        "weaknesses": {"$ref": "#/$defs/findings"},
    },
    "$defs": {"finding": _FINDING, "findings": _FINDINGS},
}


@cache
def _validator() -> Draft202012Validator:
    Draft202012Validator.check_schema(REPORT_SCHEMA)
    return Draft202012Validator(REPORT_SCHEMA)


def _refs(document: dict):
    for topic in document.get("topics", ()):
        yield f"topics.{topic['key']}", topic["messages"]
    sections = [(f"process.{name}", items) for name, items in (document.get("process") or {}).items()]
    for where, items in [*sections, ("strengths", document["strengths"]), ("weaknesses", document["weaknesses"])]:
        for finding in items:
            yield where, finding["messages"]


def report_problems(document, *, sequence_numbers: set[int] | None = None, topic_keys=None) -> list[str]:
    """What is wrong with ``document`` (empty: a valid report).

    ``sequence_numbers``: the interview's messages; every reference must be one of them.
    ``topic_keys``: the plan's topic keys; every topic must be one of them, each at most once.
    """
    errors = sorted(_validator().iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        # The rule that failed, never the value: a model's text quotes the transcript, and these
        # reasons are logged (and may reach error monitoring).
        return [f"{'.'.join(map(str, e.absolute_path)) or '(document)'}: fails {e.validator}" for e in errors[:10]]
    problems = []
    if sequence_numbers is not None:
        for where, refs in _refs(document):
            unknown = sorted(set(refs) - sequence_numbers)
            if unknown:
                problems.append(f"{where}: no message numbered {', '.join(map(str, unknown[:5]))}")
    if topic_keys is not None:
        keys = [topic["key"] for topic in document["topics"]]
        if set(keys) - set(topic_keys) or len(keys) != len(set(keys)):
            problems.append("topics: keys must be the plan's topic keys, each at most once")
    return problems
