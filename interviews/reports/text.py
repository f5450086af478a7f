"""A report document as sections for people: the admin page, the PDF and the DOCX export.

One reading of the document for every place people see it, so they say the same thing. Plain
text only: each renderer escapes (the admin's templates) or writes text runs (PDF, DOCX), so
hostile text in an answer or a model's report stays text. A stored document that does not fit
the schema (edited by hand) is shown as one line saying so, never as raw JSON.
"""

from dataclasses import dataclass

from interviews.reports.schema import PROCESS_SECTIONS, report_problems

SECTION_TITLES = {
    "role": "Role",
    "steps": "Steps, in order",
    "tools": "Tools and systems",
    "inputs_outputs": "Inputs and outputs",
    "problems": "Problems and workarounds",
    "improvements": "Improvement ideas",
}
SOURCES = {"scripted": "the scripted interviewer (offline)", "openai": "the model"}
UNREADABLE = "The stored report does not fit the report schema; regenerate it."


@dataclass(frozen=True)
class Entry:
    text: str
    label: str = ""  # "1." (a step), "Steps (80/100)" (a heading of its own)
    refs: str = ""  # "messages #2, #4"

    @property
    def numbered(self) -> bool:
        return self.label.endswith(".") and self.label[:-1].isdigit()


@dataclass(frozen=True)
class Section:
    title: str
    entries: tuple[Entry, ...]
    key: str = ""  # a stable name for styles and tests
    subsection: bool = False


def refs_text(messages: list[int]) -> str:
    if not messages:
        return ""
    word = "message" if len(messages) == 1 else "messages"
    return f"{word} " + ", ".join(f"#{n}" for n in messages)


def _findings(items: list[dict], *, numbered: bool = False) -> tuple[Entry, ...]:
    return tuple(
        Entry(text=item["text"], label=f"{i}." if numbered else "", refs=refs_text(item["messages"]))
        for i, item in enumerate(items, start=1)
    )


def score_text(score: int | None) -> str:
    return f"{score}/100" if score is not None else "not scored"


def report_byline(*, version: int, generated_by: str, created_at) -> str:
    return f"Version {version}, written by {SOURCES.get(generated_by, generated_by)} on {created_at:%Y-%m-%d %H:%M} UTC"


def report_sections(document) -> list[Section]:
    """The report as titled sections of entries, in reading order."""
    if report_problems(document):
        return [Section("Report", (Entry(UNREADABLE),), key="unreadable")]
    sections = [
        Section(
            "Summary",
            (Entry(document["summary"]),),
            key="summary",
        ),
        Section(
            "Findings by topic",
            tuple(
                Entry(
                    text=topic["finding"],
                    label=f"{topic['title']} ({score_text(topic['score'])})",
                    refs=refs_text(topic["messages"]),
                )
                for topic in document["topics"]
            ),
            key="topics",
        ),
    ]
    process = document["process"]
    if process is not None:
        sections.append(Section("The process as the employee described it", (), key="process"))
        for name in PROCESS_SECTIONS:
            entries = _findings(process[name], numbered=name == "steps") or (Entry("Nothing said about this."),)
            sections.append(Section(SECTION_TITLES[name], entries, key=f"process-{name}", subsection=True))
    sections.append(Section("Strengths", _findings(document["strengths"]) or (Entry("None noted."),), key="strengths"))
    sections.append(
        Section("Weaknesses", _findings(document["weaknesses"]) or (Entry("None noted."),), key="weaknesses")
    )
    return sections
