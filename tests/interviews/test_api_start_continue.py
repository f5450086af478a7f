import uuid

import pytest
from django.utils import timezone

from interviews.models import Interview, InterviewMessage, InterviewStatus
from tests.factories import InterviewFactory

pytestmark = pytest.mark.django_db

LONG_ANSWER = "I prepare the weekly payroll: I export hours from Kronos, check them in Excel and upload to SAP."


def start(client, **body):
    response = client.post("/api/v1/interviews/start", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["data"]


def test_start_persists_first_question_as_message_one(client_for, employee):
    data = start(client_for(employee), language="en", technical_level="advanced")
    interview = Interview.objects.get(pk=data["interview_id"])
    assert interview.employee_id == employee.employee_id
    assert interview.organization_id == employee.organization_id
    assert (interview.language, interview.technical_level, interview.status) == ("en", "advanced", "in_progress")
    assert data["question_number"] == 1
    assert data["is_final"] is False
    assert data["message"]["sequence_number"] == 1
    assert data["message"]["role"] == "assistant"
    assert data["message"]["content"] == data["question"]
    assert data["interview"]["message_count"] == 1
    assert data["ws_url"] == f"ws://testserver/ws/interviews/{interview.id}/"
    stored = InterviewMessage.objects.get(interview=interview)
    assert (stored.sequence_number, stored.content) == (1, data["question"])


def test_start_defaults_are_spanish_basic(client_for, employee):
    data = start(client_for(employee))
    assert data["interview"]["language"] == "es"
    assert data["interview"]["technical_level"] == "basic"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"language": "fr"}, "language"), ({"technical_level": "guru"}, "technical_level"), ({"colour": "red"}, "colour")],
)
def test_start_rejects_bad_input_with_422(client_for, employee, body, field):
    response = client_for(employee).post("/api/v1/interviews/start", body, format="json")
    body = response.json()
    assert response.status_code == 422
    assert body["error_code"] == "validation_error"
    assert body["errors"][0]["field"] == field
    assert Interview.objects.count() == 0


def test_continue_appends_answer_and_next_question(client_for, employee):
    client = client_for(employee)
    first = start(client, language="en")
    response = client.post(
        "/api/v1/interviews/continue",
        {"interview_id": first["interview_id"], "user_response": LONG_ANSWER},
        format="json",
    )
    data = response.json()["data"]
    assert response.status_code == 200
    assert data["user_message"]["sequence_number"] == 2
    assert data["user_message"]["content"] == LONG_ANSWER
    assert data["assistant_message"]["sequence_number"] == 3
    assert data["question"] == data["assistant_message"]["content"]
    assert data["question_number"] == 2
    assert data["is_final"] is False
    assert data["interview"]["message_count"] == 3
    # The scripted interviewer scores with the rubric: this answer names tools and steps.
    assert data["user_message"]["evaluation"] == {
        "score": 84,
        "feedback": "Add a little more detail to the answer.",
        "strengths": ["Names specific tools, systems or figures", "Describes concrete actions or steps"],
        "weaknesses": [],
    }
    seqs = list(
        InterviewMessage.objects.filter(interview_id=first["interview_id"]).values_list("sequence_number", "role")
    )
    assert seqs == [(1, "assistant"), (2, "user"), (3, "assistant")]


def test_continue_until_final_completes_the_interview(client_for, employee):
    client = client_for(employee)
    interview_id = start(client, language="es")["interview_id"]
    for _ in range(30):
        data = client.post(
            "/api/v1/interviews/continue",
            {"interview_id": interview_id, "user_response": LONG_ANSWER},
            format="json",
        ).json()["data"]
        if data["is_final"]:
            break
    assert data["is_final"] is True
    assert data["interview"]["status"] == "completed"
    interview = Interview.objects.get(pk=interview_id)
    assert interview.status == InterviewStatus.COMPLETED
    assert interview.completed_at is not None
    after = client.post(
        "/api/v1/interviews/continue", {"interview_id": interview_id, "user_response": LONG_ANSWER}, format="json"
    )
    assert after.status_code == 409
    assert after.json()["error_code"] == "interview_not_active"
    assert InterviewMessage.objects.filter(interview_id=interview_id).count() == interview.message_count


def test_continue_with_same_client_message_id_is_idempotent(client_for, employee):
    client = client_for(employee)
    interview_id = start(client)["interview_id"]
    body = {"interview_id": interview_id, "user_response": LONG_ANSWER, "client_message_id": "c-1"}
    first = client.post("/api/v1/interviews/continue", body, format="json").json()["data"]
    second = client.post("/api/v1/interviews/continue", body, format="json")
    assert second.status_code == 200
    data = second.json()["data"]
    assert data["user_message"] == first["user_message"]
    assert data["assistant_message"] == first["assistant_message"]
    assert data["question"] == first["question"]
    assert InterviewMessage.objects.filter(interview_id=interview_id).count() == 3


def test_resent_final_answer_gets_the_same_final_reply_not_409(client_for, employee):
    # The answer that completes the interview is the one most likely to be resent (the client
    # saw the connection drop as the closing message was written): its replay must still be the
    # first result, closing message and is_final included, and never "interview not active".
    client = client_for(employee)
    interview_id = start(client, language="en")["interview_id"]
    for n in range(30):
        body = {"interview_id": interview_id, "user_response": LONG_ANSWER, "client_message_id": f"c-{n}"}
        first = client.post("/api/v1/interviews/continue", body, format="json")
        assert first.status_code == 200, first.content
        if first.json()["data"]["is_final"]:
            break
    first = first.json()["data"]
    assert first["interview"]["status"] == "completed"
    count = InterviewMessage.objects.filter(interview_id=interview_id).count()

    again = client.post("/api/v1/interviews/continue", body, format="json")

    assert again.status_code == 200, again.content
    data = again.json()["data"]
    assert data["is_final"] is True
    assert data["interview"]["status"] == "completed"
    for field in ("user_message", "assistant_message", "question", "question_number"):
        assert data[field] == first[field], field
    assert InterviewMessage.objects.filter(interview_id=interview_id).count() == count
    # A new answer (another id) to the completed interview is refused as before.
    body["client_message_id"] = "after-the-end"
    after = client.post("/api/v1/interviews/continue", body, format="json")
    assert after.status_code == 409
    assert after.json()["error_code"] == "interview_not_active"


def test_continue_on_paused_interview_is_409_and_writes_nothing(client_for, employee):
    interview = InterviewFactory(employee=employee, status=InterviewStatus.PAUSED)
    response = client_for(employee).post(
        "/api/v1/interviews/continue", {"interview_id": str(interview.id), "user_response": "hi"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error_code"] == "interview_not_active"
    assert InterviewMessage.objects.count() == 0


def test_a_lone_surrogate_in_the_answer_is_422_not_500(client_for, employee):
    body = f'{{"interview_id": "{uuid.uuid4()}", "user_response": "a\\ud800b"}}'
    response = client_for(employee).post("/api/v1/interviews/continue", body, content_type="application/json")
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert (error["field"], error["type"]) == ("user_response", "surrogate_characters_not_allowed")


@pytest.mark.parametrize(
    ("body", "field", "error_type"),
    [
        ({"interview_id": "nope", "user_response": "x"}, "interview_id", "invalid_uuid"),
        ({"interview_id": str(uuid.uuid4()), "user_response": "   "}, "user_response", "blank"),
        ({"interview_id": str(uuid.uuid4()), "user_response": "x" * 10_001}, "user_response", "too_long"),
        ({"interview_id": str(uuid.uuid4())}, "user_response", "required"),
        ({"interview_id": str(uuid.uuid4()), "user_response": 42}, "user_response", "invalid"),
        (
            {"interview_id": str(uuid.uuid4()), "user_response": "a\x00b"},
            "user_response",
            "null_characters_not_allowed",
        ),
        (
            {"interview_id": str(uuid.uuid4()), "user_response": "x", "client_message_id": 7},
            "client_message_id",
            "invalid",
        ),
    ],
)
def test_continue_validation_errors(client_for, employee, body, field, error_type):
    response = client_for(employee).post("/api/v1/interviews/continue", body, format="json")
    errors = response.json()["errors"]
    assert response.status_code == 422
    assert {"field": field, "type": error_type} == {k: errors[0][k] for k in ("field", "type")}


def test_continue_unknown_interview_is_404(client_for, employee):
    response = client_for(employee).post(
        "/api/v1/interviews/continue", {"interview_id": str(uuid.uuid4()), "user_response": "x"}, format="json"
    )
    assert response.status_code == 404
    assert response.json()["error_code"] == "interview_not_found"


def test_engine_failure_keeps_the_answer_and_a_retry_completes_the_turn(client_for, employee, monkeypatch):
    client = client_for(employee)
    interview_id = start(client)["interview_id"]

    class Broken:
        history_messages = 0

        async def next_turn(self, *args, **kwargs):
            raise RuntimeError("interviewer exploded")

    body = {"interview_id": interview_id, "user_response": LONG_ANSWER, "client_message_id": "answer-1"}
    with monkeypatch.context() as patched:
        patched.setattr("interviews.services.turns.get_engine", lambda: Broken())
        response = client.post("/api/v1/interviews/continue", body, format="json")
    assert response.status_code == 500
    assert response.json()["error_code"] == "internal_error"
    # The answer is stored and its turn still pending, released for the next caller at once.
    interview = Interview.objects.get(pk=interview_id)
    assert interview.message_count == 2
    assert interview.pending_turn["answer_id"] == str(
        InterviewMessage.objects.get(interview_id=interview_id, sequence_number=2).id
    )
    assert interview.turn_deadline <= timezone.now()
    # Another answer is refused while that turn is pending.
    other = client.post(
        "/api/v1/interviews/continue", {"interview_id": interview_id, "user_response": LONG_ANSWER}, format="json"
    )
    assert other.status_code == 409
    assert other.json()["error_code"] == "turn_in_progress"

    retry = client.post("/api/v1/interviews/continue", body, format="json")
    assert retry.status_code == 200, retry.content
    data = retry.json()["data"]
    assert data["user_message"]["sequence_number"] == 2
    assert data["assistant_message"]["sequence_number"] == 3
    assert data["interview"]["pending_turn"] is None
    rows = list(InterviewMessage.objects.filter(interview_id=interview_id).values_list("sequence_number", "role"))
    assert rows == [(1, "assistant"), (2, "user"), (3, "assistant")]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_continue_calls_take_turns(employee):
    import threading

    from django.db import connections

    from tests.conftest import Client

    interview_id = start(Client().as_user(employee), language="en")["interview_id"]
    results, errors, barrier = [], [], threading.Barrier(20)

    def answer(n):
        try:
            barrier.wait(timeout=60)
            response = (
                Client()
                .as_user(employee)
                .post(
                    "/api/v1/interviews/continue",
                    {"interview_id": interview_id, "user_response": f"{LONG_ANSWER} ({n})"},
                    format="json",
                )
            )
            results.append(response.status_code)
        except BaseException as exc:  # a thread's exception would otherwise only be printed
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=answer, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)  # bounds a hang only
    assert not any(t.is_alive() for t in threads)
    if errors:
        raise errors[0]
    assert len(results) == 20
    assert set(results) <= {200, 409}
    assert 200 in results
    seqs = list(
        InterviewMessage.objects.filter(interview_id=interview_id)
        .order_by("sequence_number")
        .values_list("sequence_number", "role")
    )
    assert [s for s, _ in seqs] == list(range(1, len(seqs) + 1))
    # Turns never interleave: after the first question, user and assistant alternate.
    assert [r for _, r in seqs] == ["assistant"] + ["user", "assistant"] * ((len(seqs) - 1) // 2)
    assert results.count(200) == (len(seqs) - 1) // 2


def test_start_and_continue_query_counts(client_for, employee, django_assert_max_num_queries):
    client = client_for(employee)
    # user, default plan, insert the interview (first question pending); then lock, update,
    # insert the question, and the savepoint pair
    with django_assert_max_num_queries(8):
        interview_id = start(client)["interview_id"]
    # A long transcript must not make a turn more expensive: the history is never loaded whole.
    interview = Interview.objects.get(pk=interview_id)
    from tests.factories import add_messages

    add_messages(interview, 200)
    Interview.objects.filter(pk=interview_id).update(engine_state={"topic": 1, "followup": False})
    # user; step 1: lock (with the plan), update, insert the answer; step 3: lock, update, insert
    # the reply, the answer's evaluation; and a savepoint pair per step. Access is checked on
    # the locked row, without a query of its own.
    with django_assert_max_num_queries(12):
        response = client.post(
            "/api/v1/interviews/continue", {"interview_id": interview_id, "user_response": LONG_ANSWER}, format="json"
        )
    assert response.status_code == 200
