"""Reads for statistics: the totals of ``GET /api/v1/interviews/stats`` and its weekly series,
which the admin dashboard draws too (interviews/dashboard.py). Every function takes the
caller's already scoped and filtered queryset (``selectors.interview_list_visible_to`` narrowed
by ``filters.InterviewFilter``), so the API and the dashboard count the same interviews.

Weeks are ISO weeks (Monday 00:00 UTC) from ``TruncWeek`` in UTC, on SQLite and PostgreSQL.
"""

from datetime import UTC, date, datetime, timedelta
from typing import TypedDict

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Q, QuerySet
from django.db.models.functions import TruncWeek
from django.utils import timezone

from interviews.engine.plans import builtin_plan_data
from interviews.models import Interview, InterviewStatus, Language, ReviewState, TechnicalLevel

SERIES_CHOICES = ["week"]
# An interview still open (in progress or paused) with no activity — no message, no status
# change: ``updated_at`` — for this long counts as abandoned, as a cancelled one does.
ABANDONED_AFTER = timedelta(days=7)
# At most this many weeks (five years), the latest: the response stays bounded whatever dates
# imported interviews carry.
SERIES_MAX_WEEKS = 260
OPEN_STATUSES = (InterviewStatus.IN_PROGRESS, InterviewStatus.PAUSED)


def interview_stats(*, queryset: QuerySet[Interview]) -> dict:
    """Totals: counts by status and language, average duration (completed interviews) and
    average messages per interview. Four queries."""
    queryset = queryset.order_by()
    by_status = dict.fromkeys(InterviewStatus.values, 0)
    by_status.update(dict(queryset.values_list("status").annotate(n=Count("id"))))
    by_language = dict.fromkeys(Language.values, 0)
    by_language.update(dict(queryset.values_list("language").annotate(n=Count("id"))))
    duration = ExpressionWrapper(F("completed_at") - F("started_at"), output_field=DurationField())
    averages = queryset.aggregate(messages=Avg("message_count"))
    ended = queryset.filter(status=InterviewStatus.COMPLETED, completed_at__isnull=False)
    avg_duration = ended.aggregate(d=Avg(duration))["d"]
    return {
        "total": sum(by_status.values()),
        "by_status": by_status,
        "by_language": by_language,
        "average_duration_minutes": round(avg_duration.total_seconds() / 60, 2) if avg_duration else None,
        "average_messages": round(averages["messages"], 2) if averages["messages"] is not None else None,
    }


class _Week(TypedDict):
    started: int
    completed: int
    cohort_completed: int
    abandoned: int
    score_sum: float
    scored: int
    language: dict[str, int]
    level: dict[str, int]
    plan: dict[str, int]


def _week(value: datetime | date) -> date:
    return value.date() if isinstance(value, datetime) else value


def _empty_week() -> _Week:
    return {
        "started": 0,
        "completed": 0,
        "cohort_completed": 0,
        "abandoned": 0,
        "score_sum": 0.0,
        "scored": 0,
        "language": {},
        "level": {},
        "plan": {},
    }


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def interview_stats_series(*, queryset: QuerySet[Interview], now: datetime | None = None) -> dict:
    """Weekly series of the interviews in ``queryset``. Three queries.

    - ``started``: interviews started in the week; ``by_language``, ``by_technical_level`` and
      ``by_plan`` split the same count; ``plan_names`` names the plans by slug.
    - ``completed``: interviews completed in the week (by ``completed_at``); ``average_score``
      is the mean overall score (0-100) of those with a score, ``scored`` how many they are.
    - ``completion_rate`` / ``abandonment_rate``: of the interviews *started* in the week, the
      percentage completed / abandoned so far (cancelled, or open with no activity for
      ``ABANDONED_AFTER``); null for a week in which none started.
    - ``review_backlog``: completed interviews by review state (not per week).

    Weeks run without gaps from the first to the last week with data (at most
    ``SERIES_MAX_WEEKS``, the latest); a week without interviews has zeros.
    """
    now = now or timezone.now()
    queryset = queryset.order_by()
    builtin = builtin_plan_data()
    plan_names = {}
    weeks: dict[date, _Week] = {}

    # 1. The cohort of each week: one row per (week, language, level, plan).
    abandoned = Q(status=InterviewStatus.CANCELLED) | Q(status__in=OPEN_STATUSES, updated_at__lt=now - ABANDONED_AFTER)
    cohorts = (
        queryset.annotate(week=TruncWeek("started_at", tzinfo=UTC))
        .values("week", "language", "technical_level", "plan__slug", "plan__name")
        .annotate(
            started=Count("pk"),
            completed=Count("pk", filter=Q(status=InterviewStatus.COMPLETED)),
            abandoned=Count("pk", filter=abandoned),
        )
    )
    for row in cohorts:
        week = weeks.setdefault(_week(row["week"]), _empty_week())
        week["started"] += row["started"]
        week["cohort_completed"] += row["completed"]
        week["abandoned"] += row["abandoned"]
        plan = row["plan__slug"] or builtin["slug"]  # no plan row: the built-in plan
        plan_names[plan] = row["plan__name"] or builtin["name"]
        for key, value in (("language", row["language"]), ("level", row["technical_level"]), ("plan", plan)):
            week[key][value] = week[key].get(value, 0) + row["started"]

    # 2. Completions per week, with the mean of the overall scores stored on the interviews
    # (``Interview.overall_score``: NULL while no answer is scored, left out of the mean).
    completed = (
        queryset.filter(status=InterviewStatus.COMPLETED, completed_at__isnull=False)
        .annotate(week=TruncWeek("completed_at", tzinfo=UTC))
        .values("week")
        .annotate(n=Count("pk"), score=Avg("overall_score"), scored=Count("overall_score"))
    )
    for row in completed:
        week = weeks.setdefault(_week(row["week"]), _empty_week())
        week["completed"] += row["n"]
        week["scored"] += row["scored"]
        if row["scored"]:
            week["score_sum"] += float(row["score"]) * row["scored"]

    backlog = review_backlog(queryset=queryset)
    labels = _week_range(weeks)
    rows = [weeks.get(w) or _empty_week() for w in labels]
    plans = sorted({slug for row in rows for slug in row["plan"]})
    return {
        "bucket": "week",
        "weeks": [w.isoformat() for w in labels],
        "started": [r["started"] for r in rows],
        "completed": [r["completed"] for r in rows],
        "abandoned": [r["abandoned"] for r in rows],
        "completion_rate": [_percent(r["cohort_completed"], r["started"]) for r in rows],
        "abandonment_rate": [_percent(r["abandoned"], r["started"]) for r in rows],
        "average_score": [round(r["score_sum"] / r["scored"], 1) if r["scored"] else None for r in rows],
        "scored": [r["scored"] for r in rows],
        "by_language": {lang: [r["language"].get(lang, 0) for r in rows] for lang in Language.values},
        "by_technical_level": {lvl: [r["level"].get(lvl, 0) for r in rows] for lvl in TechnicalLevel.values},
        "by_plan": {slug: [r["plan"].get(slug, 0) for r in rows] for slug in plans},
        "plan_names": {slug: plan_names[slug] for slug in plans},
        "review_backlog": backlog,
        "abandoned_after_days": ABANDONED_AFTER.days,
    }


def review_backlog(*, queryset: QuerySet[Interview]) -> dict[str, int]:
    """Completed interviews by review state, every state present (zeros included). One query."""
    counts = dict.fromkeys(ReviewState.values, 0)
    rows = queryset.filter(status=InterviewStatus.COMPLETED).values_list("review_state").annotate(n=Count("pk"))
    counts.update(dict(rows.order_by()))
    return counts


def _week_range(weeks: dict[date, _Week]) -> list[date]:
    if not weeks:
        return []
    first, last = min(weeks), max(weeks)
    first = max(first, last - timedelta(weeks=SERIES_MAX_WEEKS - 1))
    return [first + timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]
