from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import User
from interviews.models import Interview, InterviewMessage

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_users_and_transcripts_and_is_idempotent():
    out = StringIO()
    call_command("seed_demo", stdout=out)
    users = set(User.objects.values_list("username", "role"))
    assert {("demo-employee", "employee"), ("demo-staff", "staff"), ("demo-admin", "admin")} <= users
    assert User.objects.get(username="demo-superuser").is_superuser
    assert "demo-pass-123" in out.getvalue()
    counts = (User.objects.count(), Interview.objects.count(), InterviewMessage.objects.count())
    assert counts[1] == 8
    assert set(Interview.objects.values_list("language", flat=True)) == {"es", "en"}
    assert Interview.objects.filter(status="completed").exists()
    for interview in Interview.objects.all():
        seqs = list(interview.messages.order_by("sequence_number").values_list("sequence_number", flat=True))
        assert seqs == list(range(1, interview.message_count + 1))

    call_command("seed_demo", stdout=StringIO())
    assert (User.objects.count(), Interview.objects.count(), InterviewMessage.objects.count()) == counts


def test_demo_user_can_sign_in(client):
    call_command("seed_demo", stdout=StringIO())
    response = client.post(
        "/api/v1/auth/token",
        {"username": "demo-employee", "password": "demo-pass-123"},
        content_type="application/json",
    )
    assert response.status_code == 200
