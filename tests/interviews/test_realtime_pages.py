"""The built-in pages around the socket, and the socket's database reads (query counts)."""

import uuid

import pytest
from django.urls import reverse

from interviews.models import Interview
from interviews.realtime import auth, consumer
from tests.factories import PASSWORD, InterviewFactory
from tests.interviews.realtime_support import LONG_ANSWER, access_token, start_interview

pytestmark = pytest.mark.django_db


# --- the socket's reads ------------------------------------------------------------------------


def test_socket_open_is_one_query_and_decides_the_role(django_assert_max_num_queries, employee, staff):
    interview = start_interview(employee)
    with django_assert_max_num_queries(1):
        opening = auth.socket_open(user=employee, interview_id=interview.id)
    assert (opening.role, opening.last_sequence, opening.language) == ("participant", 1, "en")
    assert opening.interview["id"] == str(interview.id)
    assert auth.socket_open(user=staff, interview_id=interview.id).role == "observer"


def test_pending_question_is_two_queries(django_assert_max_num_queries, employee):
    interview = start_interview(employee)
    with django_assert_max_num_queries(2):
        frame = consumer._waiting_question(interview_id=interview.id)
    assert (frame["type"], frame["sequence_number"]) == ("question", 1)


def test_messages_after_is_one_query_whatever_the_count(django_assert_max_num_queries, employee):
    from interviews.services import interview_continue

    interview = start_interview(employee)
    for _ in range(3):
        interview_continue(interview_id=interview.id, answer=LONG_ANSWER)
    with django_assert_max_num_queries(1):
        replay = consumer._messages_after(interview_id=interview.id, after=2)
    assert [f["message"]["sequence_number"] for f in replay] == [3, 4, 5, 6, 7]


def test_bearer_user_lookup(employee):
    assert auth.socket_user_from_bearer(access_token(employee)) == employee
    assert auth.socket_user_from_bearer("nonsense") is None


# --- pages -------------------------------------------------------------------------------------


def test_pages_need_a_sign_in(client, employee):
    interview = InterviewFactory(employee=employee)
    for url in ("/", f"/interviews/{interview.id}/", f"/interviews/{interview.id}/watch/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")


def test_employee_signs_in_starts_an_interview_and_gets_the_live_page(client, employee):
    response = client.post("/login/", {"username": employee.username, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert b"Start a new interview" in home.content
    response = client.post("/interviews/new/", {"language": "en", "technical_level": "basic"})
    interview = Interview.objects.get(employee=employee)
    assert response.status_code == 302
    assert response["Location"] == f"/interviews/{interview.id}/"
    assert (interview.language, interview.message_count) == ("en", 1)
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert f"/ws/interviews/{interview.id}/".encode() in page.content
    assert b'id="answer-form"' in page.content
    assert str(interview.id).encode() in client.get("/").content


def test_start_with_bad_choices_is_422_and_creates_nothing(client, employee):
    client.force_login(employee)
    response = client.post("/interviews/new/", {"language": "fr", "technical_level": "basic"})
    assert response.status_code == 422
    assert not Interview.objects.exists()


def test_live_pages_refuse_strangers_and_unknown_interviews(client, employee, foreign_admin):
    interview = InterviewFactory(employee=employee)
    client.force_login(foreign_admin)
    assert client.get(f"/interviews/{interview.id}/watch/").status_code == 403
    assert client.get(f"/interviews/{uuid.uuid4()}/watch/").status_code == 404
    assert client.get("/interviews/not-a-uuid/").status_code == 404


def test_admin_change_page_links_to_the_live_view(client, staff, employee):
    interview = InterviewFactory(employee=employee)
    client.force_login(staff)
    change = client.get(reverse("admin:interviews_interview_change", args=[interview.id]))
    watch_url = f"/interviews/{interview.id}/watch/"
    assert change.status_code == 200
    assert f'href="{watch_url}"'.encode() in change.content
    page = client.get(watch_url)
    assert page.status_code == 200
    assert f"/ws/interviews/{interview.id}/".encode() in page.content
    assert reverse("admin:interviews_interview_change", args=[interview.id]).encode() in page.content
