"""The reviewer's admin: the interview list (title, columns, filters, query counts) and the
interview page (conversation with scores in words, exports, watch live, reviews and the form)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from interviews.models import Interview, InterviewMessage, InterviewPlan, InterviewReview, InterviewStatus
from interviews.services.reviews import interview_review_create
from tests.factories import ORG_B, InterviewFactory, UserFactory

pytestmark = pytest.mark.django_db
LIST = "admin:interviews_interview_changelist"
STARTED = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def scored_interview(employee, *, score_pairs=((40, "Vague."), (80, "Precise.")), plan=None, **fields):
    """A completed interview: a question and an evaluated answer per pair."""
    interview = InterviewFactory(
        employee=employee,
        status=InterviewStatus.COMPLETED,
        started_at=STARTED,
        completed_at=STARTED + timedelta(minutes=14, seconds=5),
        plan=plan,
        **fields,
    )
    rows, n = [], 0
    for i, (score, feedback) in enumerate(score_pairs):
        n += 1
        rows.append(
            InterviewMessage(
                interview=interview,
                role="assistant",
                content=f"Question {i + 1}?",
                sequence_number=n,
                created_at=STARTED + timedelta(minutes=n),
            )
        )
        n += 1
        rows.append(
            InterviewMessage(
                interview=interview,
                role="user",
                content=f"Answer {i + 1}",
                sequence_number=n,
                created_at=STARTED + timedelta(minutes=n),
                evaluation={
                    "score": score,
                    "feedback": feedback,
                    "strengths": [f"names tools {i}"],
                    "weaknesses": [f"no numbers {i}"],
                },
            )
        )
    InterviewMessage.objects.bulk_create(rows)
    scores = [s for s, _ in score_pairs]
    Interview.objects.filter(pk=interview.pk).update(
        message_count=n, question_count=len(score_pairs), overall_score=round(sum(scores) / len(scores))
    )
    interview.refresh_from_db()
    return interview


@pytest.fixture
def named(employee):
    employee.first_name, employee.last_name = "Lucía", "Gómez"
    employee.save()
    return employee


def test_the_list_shows_people_what_they_look_for(client, staff, named):
    plan = InterviewPlan.objects.create(slug="warehouse", name="Warehouse roles", topics=[])
    interview = scored_interview(named, plan=plan)
    interview_review_create(interview_id=interview.id, reviewer=staff, decision="needs_follow_up")
    client.force_login(staff)
    response = client.get(reverse(LIST))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Lucía Gómez · 2026-05-04 · Warehouse roles" in html
    assert "14 min 05 s" in html
    assert '<td class="field-questions_answered">2</td>' in html
    assert '<span class="score-badge score-50-69">60</span>' in html
    assert "Flagged" in html
    assert str(interview.organization_id) not in html  # no organization ids for people


def test_list_filters_review_state_score_band_and_plan(client, staff, employee):
    plan = InterviewPlan.objects.create(slug="warehouse", name="Warehouse roles", topics=[])
    low = scored_interview(employee, score_pairs=((30, "x"),))
    high = scored_interview(employee, score_pairs=((90, "x"),), plan=plan)
    unscored = InterviewFactory(employee=employee)
    interview_review_create(interview_id=high.id, reviewer=staff, decision="approved")
    client.force_login(staff)

    def shown(**query) -> set:
        response = client.get(reverse(LIST), query)
        assert response.status_code == 200
        return {i.pk for i in response.context["cl"].result_list}

    assert shown(review_state__exact="reviewed") == {high.pk}
    assert shown(review_state__exact="unreviewed") == {low.pk, unscored.pk}
    assert shown(score_band="lt50") == {low.pk}
    assert shown(score_band="ge85") == {high.pk}
    assert shown(score_band="70-84") == set()
    assert shown(score_band="none") == {unscored.pk}
    assert shown(plan__id__exact=plan.pk) == {high.pk}
    assert client.get(reverse(LIST), {"started_at__year": 2026}).status_code == 200  # date hierarchy kept


def test_the_list_costs_the_same_queries_for_3_or_30_interviews(client, staff, django_assert_max_num_queries):
    client.force_login(staff)
    plans = [InterviewPlan.objects.create(slug=f"p{n}", name=f"Plan {n}", topics=[]) for n in range(3)]

    def add(count):
        for n in range(count):
            scored_interview(UserFactory(), score_pairs=((50 + n, "ok"),), plan=plans[n % 3])

    add(3)
    with django_assert_max_num_queries(12) as few:
        assert client.get(reverse(LIST)).status_code == 200
    add(27)
    with django_assert_max_num_queries(len(few)):
        response = client.get(reverse(LIST))
    assert len(response.context["cl"].result_list) == 30


def test_the_interview_page_is_a_conversation_with_scores_in_words(client, staff, named, django_assert_max_num_queries):
    interview = scored_interview(named)
    interview_review_create(
        interview_id=interview.id,
        reviewer=staff,
        decision="approved",
        notes="Good enough.",
        score_override=70,
        override_reason="Answer 1 was fine",
    )
    client.force_login(staff)
    url = reverse("admin:interviews_interview_change", args=[interview.id])
    with django_assert_max_num_queries(12):
        response = client.get(url)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Lucía Gómez · 2026-05-04 · Built-in plan" in html
    assert 'id="overall-score">60<' in html
    assert "14 min 05 s" in html
    # Turns in order, each answer with its badge and its evaluation in words.
    assert html.index("Question 1?") < html.index("Answer 1") < html.index("Question 2?") < html.index("Answer 2")
    assert '<span class="score-badge score-lt50" title="Score of this answer">40</span>' in html
    assert '<span class="score-badge score-70-84" title="Score of this answer">80</span>' in html
    for words in ("Vague.", "Precise.", "Strengths:</strong> names tools 0", "To improve:</strong> no numbers 1"):
        assert words in html
    assert '"score"' not in html
    assert "&quot;score&quot;" not in html
    assert "'score'" not in html
    # Exports as buttons, reviews with the override, and the form.
    for fmt in ("json", "pdf", "docx", "csv", "md", "txt"):
        assert f"/api/v1/interviews/{interview.id}/export?format={fmt}" in html
    assert "Good enough." in html
    assert "Score overridden to" in html
    assert "Answer 1 was fine" in html
    assert 'id="review-form"' in html
    assert 'name="decision"' in html
    assert 'name="score_override"' in html
    assert "Watch live" not in html  # completed: nothing to watch


def test_watch_live_while_in_progress(client, staff, employee):
    interview = InterviewFactory(employee=employee)
    client.force_login(staff)
    html = client.get(reverse("admin:interviews_interview_change", args=[interview.id])).content.decode()
    assert f'href="/interviews/{interview.id}/watch/"' in html
    assert "Watch live" in html


def test_a_malformed_evaluation_is_not_shown_raw(client, staff, employee):
    interview = InterviewFactory(employee=employee)
    InterviewMessage.objects.create(
        interview=interview,
        role="user",
        content="hi",
        sequence_number=1,
        created_at=STARTED,
        evaluation={"score": "<b>99</b>", "feedback": {"x": 1}},
    )
    client.force_login(staff)
    html = client.get(reverse("admin:interviews_interview_change", args=[interview.id])).content.decode()
    assert "Not evaluated." in html
    assert "<b>99</b>" not in html
    assert "&lt;b&gt;99" not in html


def test_the_review_form_records_a_review_and_claim_starts_one(client, staff, employee):
    interview = scored_interview(employee)
    client.force_login(staff)
    review_url = reverse("admin:interviews_interview_review", args=[interview.id])
    page = reverse("admin:interviews_interview_change", args=[interview.id])
    assert client.get(review_url).status_code == 405
    assert client.post(review_url, {"action": "claim"}).status_code == 302
    interview.refresh_from_db()
    assert interview.review_state == "in_review"
    response = client.post(
        review_url,
        {"decision": "rejected", "notes": "Too short", "score_override": "20", "override_reason": "Copied answers"},
    )
    assert response.status_code == 302
    assert response["Location"] == page
    review = InterviewReview.objects.get()
    assert (review.decision, review.score_override, review.reviewer_id) == ("rejected", 20, staff.pk)
    interview.refresh_from_db()
    assert interview.review_state == "flagged"
    html = client.get(page).content.decode()
    assert "Review recorded." in html
    assert "Too short" in html


@pytest.mark.parametrize(
    "data",
    [
        {"decision": "great"},
        {"decision": "approved", "score_override": "50"},
        {"decision": "approved", "score_override": "500", "override_reason": "x"},
        {"decision": "approved", "score_override": "abc", "override_reason": "x"},
        {"decision": "approved", "notes": "x" * 20_000},
        {},
    ],
)
def test_bad_reviews_from_the_form_store_nothing_and_say_why(client, staff, employee, data):
    interview = scored_interview(employee)
    client.force_login(staff)
    response = client.post(reverse("admin:interviews_interview_review", args=[interview.id]), data, follow=True)
    assert response.status_code == 200
    assert "The review was not saved." in response.content.decode()
    assert not InterviewReview.objects.exists()


def test_other_organizations_cannot_review_or_read_reviews(client, foreign_admin, staff, employee):
    interview = scored_interview(employee)
    interview_review_create(interview_id=interview.id, reviewer=staff, decision="approved", notes="secret")
    client.force_login(foreign_admin)
    url = reverse("admin:interviews_interview_review", args=[interview.id])
    assert client.post(url, {"decision": "rejected"}).status_code == 404
    assert InterviewReview.objects.count() == 1


def test_a_superuser_reviews_any_organization(client, superuser):
    interview = scored_interview(UserFactory(organization_id=ORG_B))
    client.force_login(superuser)
    client.post(reverse("admin:interviews_interview_review", args=[interview.id]), {"decision": "approved"})
    assert InterviewReview.objects.get().reviewer == superuser
