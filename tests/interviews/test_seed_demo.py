from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from interviews.models import Interview, InterviewMessage

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_users_and_transcripts_and_is_idempotent():
    out = StringIO()
    call_command("seed_demo", "--force", stdout=out)
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

    call_command("seed_demo", "--force", stdout=StringIO())
    assert (User.objects.count(), Interview.objects.count(), InterviewMessage.objects.count()) == counts


def test_demo_user_can_sign_in(client):
    call_command("seed_demo", "--force", stdout=StringIO())
    response = client.post(
        "/api/v1/auth/token",
        {"username": "demo-employee", "password": "demo-pass-123"},
        content_type="application/json",
    )
    assert response.status_code == 200


def test_seed_demo_refuses_with_debug_off_unless_forced(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG=1"):
        call_command("seed_demo", stdout=StringIO())
    assert not User.objects.filter(username="demo-superuser").exists()


def test_seed_demo_runs_with_debug_on(settings):
    settings.DEBUG = True
    call_command("seed_demo", "--interviews", "1", stdout=StringIO())
    assert User.objects.get(username="demo-superuser").is_superuser
