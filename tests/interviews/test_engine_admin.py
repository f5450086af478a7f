"""Interview plans in Django admin: list, preview, add with validation, default switching."""

import json
import threading

import pytest
from django.db import connections
from django.urls import reverse

from interviews.models import InterviewPlan
from interviews.services import interview_plan_save
from tests.factories import InterviewFactory, default_plan_row

pytestmark = pytest.mark.django_db

TOPICS = [
    {"key": "a", "question": {"es": "¿Qué haces?", "en": "What do you do?"}},
    {"key": "b", "question": {"es": {"basic": "¿Cómo?", "advanced": "¿Con qué flujo?"}, "en": "How?"}},
]


def _form(**overrides) -> dict:
    data = {
        "name": "Sales handover",
        "slug": "sales-handover",
        "description": "",
        "is_active": "on",
        "topics": json.dumps(TOPICS),
        "follow_up": json.dumps({"es": "¿Un ejemplo?", "en": "An example?"}),
        "closing": json.dumps({"es": "Gracias.", "en": "Thanks."}),
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def seeded_default():
    return default_plan_row()


def test_the_plan_list_and_change_page_render_with_a_preview(client, superuser, seeded_default):
    client.force_login(superuser)
    listing = client.get(reverse("admin:interviews_interviewplan_changelist"))
    assert listing.status_code == 200
    assert "process-elicitation" in listing.content.decode()
    page = client.get(reverse("admin:interviews_interviewplan_change", args=[seeded_default.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Questions as asked" in html
    # The preview shows the wording for every language and level.
    assert "¿cuál es tu rol, de qué proceso eres responsable" in html
    assert "what do you do on a normal working day?" in html


def test_the_add_form_starts_from_an_example(client, superuser):
    client.force_login(superuser)
    page = client.get(reverse("admin:interviews_interviewplan_add"))
    assert page.status_code == 200
    assert "Gracias! Hemos terminado" in page.content.decode()


def test_adding_a_plan_makes_it_usable_without_code(client, superuser, client_for, employee):
    client.force_login(superuser)
    response = client.post(reverse("admin:interviews_interviewplan_add"), _form())
    assert response.status_code == 302, response.content.decode()[:2000]
    plan = InterviewPlan.objects.get(slug="sales-handover")
    assert plan.topics == TOPICS
    start = client_for(employee).post("/api/v1/interviews/start", {"plan": "sales-handover"}, format="json")
    assert start.status_code == 201
    assert start.json()["data"]["question"] == "¿Qué haces?"
    # Reviewers see which plan an interview follows, and can filter by it.
    interview_id = start.json()["data"]["interview_id"]
    page = client.get(reverse("admin:interviews_interview_change", args=[interview_id])).content.decode()
    assert "Sales handover (sales-handover)" in page
    listing = client.get(reverse("admin:interviews_interview_changelist"), {"plan__id__exact": plan.pk})
    assert listing.status_code == 200
    assert interview_id in listing.content.decode()


def test_an_invalid_plan_is_refused_with_the_reason(client, superuser):
    client.force_login(superuser)
    bad = [{"question": {"es": "Solo español"}}]
    response = client.post(reverse("admin:interviews_interviewplan_add"), _form(topics=json.dumps(bad)))
    html = response.content.decode()
    assert response.status_code == 200
    assert "topic 1.question: the en wording is missing." in html
    assert not InterviewPlan.objects.filter(slug="sales-handover").exists()
    response = client.post(reverse("admin:interviews_interviewplan_add"), _form(topics="{not json"))
    assert response.status_code == 200
    assert "Enter a valid JSON" in response.content.decode()


def test_making_a_plan_default_takes_the_flag_from_the_old_one(client, superuser, seeded_default):
    client.force_login(superuser)
    response = client.post(reverse("admin:interviews_interviewplan_add"), _form(is_default="on"))
    assert response.status_code == 302
    assert list(InterviewPlan.objects.filter(is_default=True).values_list("slug", flat=True)) == ["sales-handover"]


def test_an_inactive_default_is_refused(client, superuser):
    client.force_login(superuser)
    response = client.post(reverse("admin:interviews_interviewplan_add"), _form(is_default="on", is_active=None))
    assert response.status_code == 200
    assert "The default plan must be active." in response.content.decode()


def test_a_plan_in_use_cannot_be_deleted(client, superuser, seeded_default):
    InterviewFactory(plan=seeded_default)
    client.force_login(superuser)
    url = reverse("admin:interviews_interviewplan_delete", args=[seeded_default.pk])
    response = client.post(url, {"post": "yes"})
    assert response.status_code == 200
    assert "would require deleting the following protected related objects" in response.content.decode()
    assert InterviewPlan.objects.filter(pk=seeded_default.pk).exists()


def test_staff_without_plan_permissions_cannot_edit_plans(client, staff):
    client.force_login(staff)
    assert client.get(reverse("admin:interviews_interviewplan_changelist")).status_code == 403
    assert client.post(reverse("admin:interviews_interviewplan_add"), _form()).status_code == 403
    assert not InterviewPlan.objects.filter(slug="sales-handover").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_promotions_leave_exactly_one_default():
    InterviewPlan.objects.all().delete()  # the seeded default, when the database is fresh
    plans = [
        InterviewPlan.objects.create(slug=f"plan-{n}", name=f"Plan {n}", topics=TOPICS, is_default=n == 0)
        for n in range(5)
    ]
    contenders = plans[1:]
    barrier = threading.Barrier(len(contenders))
    errors: list[BaseException] = []

    def promote(plan: InterviewPlan) -> None:
        try:
            barrier.wait()
            plan.is_default = True
            interview_plan_save(plan=plan)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=promote, args=(plan,)) for plan in contenders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    defaults = list(InterviewPlan.objects.filter(is_default=True).values_list("slug", flat=True))
    assert len(defaults) == 1
    assert defaults[0] in {p.slug for p in contenders}
