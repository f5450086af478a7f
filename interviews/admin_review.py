"""The reviewer's admin pages (docs/admin.md, "Reviewing interviews"): what the interview list and the interview
page show people, and the review form. ``interviews/admin.py`` wires these in.

Nothing here shows stored JSON as it is: evaluations become a score badge and sentences, and
a malformed evaluation (hand-edited, imported) is shown as "not evaluated" rather than raw.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django import forms
from django.contrib import admin
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import reverse

from interviews.exports.formats import FORMATS
from interviews.models import (
    Interview,
    InterviewMessage,
    InterviewSource,
    InterviewStatus,
    MessageRole,
    ReviewDecision,
)
from interviews.reports.selectors import interview_report_latest
from interviews.reports.text import report_byline, report_sections
from interviews.services.reviews import NOTES_MAX_CHARS, REASON_MAX_CHARS

# Score bands of the list filter and of the badges' colours: (value, label, low, high), inclusive.
SCORE_BANDS = [
    ("lt50", "Below 50", 0, 49),
    ("50-69", "50-69", 50, 69),
    ("70-84", "70-84", 70, 84),
    ("ge85", "85 and above", 85, 100),
]


def score_band(score: int | None) -> str:
    """The band's value for ``score`` ("none" when there is no score): the badge's CSS class."""
    if score is None:
        return "none"
    for value, _, low, high in SCORE_BANDS:
        if low <= score <= high:
            return value
    return "none"


class ScoreBandFilter(admin.SimpleListFilter):
    title = "overall score"
    parameter_name = "score_band"

    def lookups(self, request, model_admin):
        return [(value, label) for value, label, _, _ in SCORE_BANDS] + [("none", "Not scored")]

    def queryset(self, request, queryset: QuerySet[Interview]) -> QuerySet[Interview]:
        if self.value() == "none":
            return queryset.filter(overall_score__isnull=True)
        for value, _, low, high in SCORE_BANDS:
            if self.value() == value:
                return queryset.filter(overall_score__gte=low, overall_score__lte=high)
        return queryset


def answers_count() -> Coalesce:
    """The employee's answers of each interview, as a subquery (one query for a page of rows)."""
    rows = (
        InterviewMessage.objects.filter(interview=OuterRef("pk"), role=MessageRole.USER)
        .order_by()
        .values("interview")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), Value(0))


def person_name(user) -> str:
    return user.get_full_name() or user.username


def interview_title(interview: Interview) -> str:
    """Employee · date · plan: how people name an interview (employee and plan fetched with it)."""
    plan = interview.plan.name if interview.plan_id else "Built-in plan"
    return f"{person_name(interview.employee)} · {interview.started_at:%Y-%m-%d} · {plan}"


def duration_text(interview: Interview) -> str:
    seconds = interview.duration_seconds
    if seconds is None:
        return "—"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes} min {secs:02d} s"


@dataclass
class Evaluation:
    score: int
    feedback: str
    strengths: list[str] = field(default_factory=list)
    weaknesses: list[str] = field(default_factory=list)

    @property
    def band(self) -> str:
        return score_band(self.score)


def evaluation_of(value) -> Evaluation | None:
    """A stored evaluation as words and a score, or None when it is missing or malformed."""
    if not isinstance(value, dict):
        return None
    score = value.get("score")
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 100:
        return None

    def texts(items) -> list[str]:
        return [str(item) for item in items if isinstance(item, str | int | float)] if isinstance(items, list) else []

    feedback = value.get("feedback")
    return Evaluation(
        score=round(score),
        feedback=feedback if isinstance(feedback, str) else "",
        strengths=texts(value.get("strengths")),
        weaknesses=texts(value.get("weaknesses")),
    )


@dataclass
class ConversationTurn:
    sequence_number: int
    role: str
    speaker: str
    name: str  # the employee's name on their answers
    created_at: datetime
    content: str
    evaluation: Evaluation | None


def conversation(interview: Interview) -> list[ConversationTurn]:
    """Every turn in order, with who spoke (imported turns marked) and each answer's evaluation."""
    imported = interview.source == InterviewSource.MIGRATED
    rows = (
        InterviewMessage.objects.filter(interview=interview)
        .order_by("sequence_number")
        .values_list("sequence_number", "role", "created_at", "content", "evaluation")
    )
    turns = []
    for sequence_number, role, created_at, content, evaluation in rows:
        speaker = MessageRole(role).label if role in MessageRole.values else role
        turns.append(
            ConversationTurn(
                sequence_number=sequence_number,
                role=role,
                speaker=speaker + (" (imported)" if imported else ""),
                name=person_name(interview.employee) if role == MessageRole.USER else "",
                created_at=created_at,
                content=content,
                evaluation=evaluation_of(evaluation) if role == MessageRole.USER else None,
            )
        )
    return turns


def export_links(interview: Interview) -> list[tuple[str, str]]:
    """(label, URL) of each export format: the REST download, which the admin session may use."""
    base = reverse("interview-export-detail", kwargs={"interview_id": interview.id})
    return [(FORMATS[name].name.upper(), f"{base}?format={name}") for name in FORMATS]


@dataclass
class ReportView:
    """The interview's current report as the page shows it (``interviews.reports.text``)."""

    sections: list
    byline: str
    versions: int


def report_view(interview: Interview) -> ReportView | None:
    """The current report, or None when there is none (yet): one query for every version's number."""
    if interview.status != InterviewStatus.COMPLETED:
        return None
    latest = interview_report_latest(interview=interview)
    if latest is None:
        return None
    byline = report_byline(version=latest.version, generated_by=latest.generated_by, created_at=latest.created_at)
    return ReportView(sections=report_sections(latest.document), byline=byline, versions=latest.version)


def is_live(interview: Interview) -> bool:
    return interview.status in (InterviewStatus.IN_PROGRESS, InterviewStatus.PAUSED)


class ReviewForm(forms.Form):
    """The admin's review form; the service (``interview_review_create``) has the last word."""

    decision = forms.ChoiceField(choices=ReviewDecision.choices, widget=forms.RadioSelect)
    notes = forms.CharField(required=False, max_length=NOTES_MAX_CHARS, widget=forms.Textarea(attrs={"rows": 3}))
    score_override = forms.IntegerField(
        required=False, min_value=0, max_value=100, help_text="Optional: the score you give instead (0-100)."
    )
    override_reason = forms.CharField(
        required=False, max_length=REASON_MAX_CHARS, help_text="Required with a score override."
    )

    def clean(self):
        data = super().clean()
        if data.get("score_override") is not None and not (data.get("override_reason") or "").strip():
            self.add_error("override_reason", "Give a reason when you override the score.")
        if data.get("score_override") is None and (data.get("override_reason") or "").strip():
            self.add_error("score_override", "A reason goes with a score override; give the score too.")
        return data
