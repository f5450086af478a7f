"""Reviews (issue 16; docs/admin.md, "Reviewing interviews").

1. ``Interview.overall_score`` (the rounded mean of the answers' evaluation scores, kept by the
   services from now on) and ``Interview.review_state``; ``InterviewReview``, append-only.
2. Back-fills ``overall_score`` for the ended (completed or cancelled) interviews that have
   evaluated answers, with the same rule as ``interviews.services.interview_overall_score`` (Python's
   ``round`` of the mean of the numeric scores of the employee's answers). The scores are read
   once, in interview order, a chunk at a time; the interviews are updated in batches.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import interviewsvc.ids

BATCH_SIZE = 1000


def _mean(scores: list) -> int | None:
    numbers = [s for s in scores if isinstance(s, int | float) and not isinstance(s, bool)]
    return round(sum(numbers) / len(numbers)) if numbers else None


def backfill_overall_scores(apps, schema_editor) -> int:
    """Store each interview's overall score; returns how many interviews got one."""
    alias = schema_editor.connection.alias
    interview_model = apps.get_model("interviews", "Interview")
    message_model = apps.get_model("interviews", "InterviewMessage")
    rows = (
        message_model.objects.using(alias)
        # Ended interviews only: a running one gets its score when it ends, like new ones.
        .filter(role="user", evaluation__isnull=False, interview__status__in=["completed", "cancelled"])
        .order_by("interview_id", "sequence_number")
        .values_list("interview_id", "evaluation__score")
        .iterator(chunk_size=5000)
    )
    pending: list = []
    stored = 0
    current, scores = None, []

    def flush(batch: list) -> None:
        interview_model.objects.using(alias).bulk_update(batch, ["overall_score"])

    for interview_id, score in rows:
        if interview_id != current:
            if current is not None and (mean := _mean(scores)) is not None:
                pending.append(interview_model(pk=current, overall_score=mean))
            current, scores = interview_id, []
        scores.append(score)
        if len(pending) >= BATCH_SIZE:
            flush(pending)
            stored += len(pending)
            pending = []
    if current is not None and (mean := _mean(scores)) is not None:
        pending.append(interview_model(pk=current, overall_score=mean))
    if pending:
        flush(pending)
        stored += len(pending)
    return stored


class Migration(migrations.Migration):
    dependencies = [
        ("interviews", "0006_interview_pending_turn"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="interview",
            name="overall_score",
            field=models.PositiveSmallIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="interview",
            name="review_state",
            field=models.CharField(
                choices=[
                    ("unreviewed", "Unreviewed"),
                    ("in_review", "In review"),
                    ("reviewed", "Reviewed"),
                    ("flagged", "Flagged"),
                ],
                default="unreviewed",
                editable=False,
                max_length=16,
            ),
        ),
        migrations.AddIndex(
            model_name="interview",
            index=models.Index(fields=["review_state", "-started_at"], name="interview_review_state"),
        ),
        migrations.CreateModel(
            name="InterviewReview",
            fields=[
                (
                    "id",
                    models.UUIDField(default=interviewsvc.ids.uuid7, editable=False, primary_key=True, serialize=False),
                ),
                (
                    "decision",
                    models.CharField(
                        choices=[
                            ("approved", "Approved"),
                            ("needs_follow_up", "Needs follow-up"),
                            ("rejected", "Rejected"),
                        ],
                        max_length=16,
                    ),
                ),
                ("notes", models.TextField(blank=True)),
                ("score_override", models.PositiveSmallIntegerField(blank=True, null=True)),
                ("override_reason", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                (
                    "interview",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="reviews",
                        to="interviews.interview",
                    ),
                ),
                (
                    "reviewer",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="interview_reviews",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["interview", "created_at", "id"],
                "indexes": [models.Index(fields=["interview", "created_at"], name="review_interview_created")],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("score_override__isnull", True))
                        | models.Q(("score_override__gte", 0), ("score_override__lte", 100)),
                        name="review_score_override_range",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("score_override__isnull", True)) | ~models.Q(("override_reason", "")),
                        name="review_override_has_reason",
                    ),
                ],
            },
        ),
        migrations.RunPython(backfill_overall_scores, migrations.RunPython.noop, elidable=True),
    ]
