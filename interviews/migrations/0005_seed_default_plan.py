"""Seed the built-in process-elicitation plan as the default, editable in Django admin."""

import json
from pathlib import Path

from django.db import migrations

PLAN_FILE = Path(__file__).resolve().parent.parent / "engine" / "plans" / "default.json"


def seed(apps, schema_editor):
    InterviewPlan = apps.get_model("interviews", "InterviewPlan")
    data = json.loads(PLAN_FILE.read_text(encoding="utf-8"))
    if InterviewPlan.objects.filter(slug=data["slug"]).exists():
        return
    InterviewPlan.objects.create(
        slug=data["slug"],
        name=data["name"],
        description=data["description"],
        topics=data["topics"],
        follow_up=data["follow_up"],
        closing=data["closing"],
        is_active=True,
        # Only if an admin did not already choose another default.
        is_default=not InterviewPlan.objects.filter(is_default=True).exists(),
    )


def unseed(apps, schema_editor):
    InterviewPlan = apps.get_model("interviews", "InterviewPlan")
    data = json.loads(PLAN_FILE.read_text(encoding="utf-8"))
    InterviewPlan.objects.filter(slug=data["slug"], interviews__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("interviews", "0004_interview_plan")]

    operations = [migrations.RunPython(seed, unseed)]
