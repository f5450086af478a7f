"""The ``openai`` provider against a real local Chat Completions server, and the fallback chain."""

import json
import logging
import time

import pytest

from interviews.engine import get_engine
from interviews.engine.chain import ProviderChain, provider_names
from interviews.engine.plans import builtin_plan
from interviews.engine.scripted import ScriptedProvider
from interviews.models import Interview, InterviewMessage
from tests.factories import InterviewFactory, add_messages
from tests.interviews import engine_support
from tests.interviews.engine_support import Reply, completion, error, turn

pytestmark = pytest.mark.django_db
fake_openai = engine_support.fake_openai
llm = engine_support.llm

ANSWER = "Primero exporto las horas de Kronos, luego las reviso en Excel y después las subo a SAP."
EVALUATION = {"score": 81, "feedback": "Muy concreta.", "strengths": ["Pasos claros"], "weaknesses": []}


def start(client, **body):
    response = client.post("/api/v1/interviews/start", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["data"]


def answer(client, interview_id, text=ANSWER):
    response = client.post(
        "/api/v1/interviews/continue", {"interview_id": interview_id, "user_response": text}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()["data"]


def scripted_first(language="es", level="basic"):
    return builtin_plan().question(0, language, level)


# --- good replies ----------------------------------------------------------------------------


def test_start_and_continue_are_answered_by_the_llm(client_for, employee, llm):
    llm.push(
        turn("¡Hola! ¿Cuál es tu puesto?", topic=1),
        turn("¿Qué herramientas usas en cada paso?", topic=3, evaluation=EVALUATION),
    )
    client = client_for(employee)
    data = start(client, language="es", technical_level="advanced")
    assert data["question"] == "¡Hola! ¿Cuál es tu puesto?"
    assert data["question_number"] == 1
    data = answer(client, data["interview_id"])
    assert data["question"] == "¿Qué herramientas usas en cada paso?"
    assert data["question_number"] == 3
    assert data["user_message"]["evaluation"] == EVALUATION
    interview = Interview.objects.get(pk=data["interview"]["id"])
    assert interview.engine_state == {
        "plan": "process-elicitation",
        "topic": 2,
        "followup": False,
        "provider": "openai",
    }

    first, second = llm.chat_requests()
    assert first.headers["authorization"] == "Bearer sk-test-key"
    body = first.json
    assert body["model"] == "fake-model"
    assert body["response_format"] == {"type": "json_object"}
    system = body["messages"][0]
    assert system["role"] == "system"
    assert "Write in Spanish only" in system["content"]
    assert "technical" in system["content"]  # the advanced level's guidance
    assert builtin_plan().question(5, "es", "advanced") in system["content"]
    # The second turn carries the transcript so far and the new answer, last.
    assert second.json["messages"][1:] == [
        {"role": "assistant", "content": "¡Hola! ¿Cuál es tu puesto?"},
        {"role": "user", "content": ANSWER},
    ]


def test_json_wrapped_in_a_code_fence_is_accepted(client_for, employee, llm):
    llm.push(completion('```json\n{"question": "What is your role?", "is_final": false}\n```'))
    assert start(client_for(employee), language="en")["question"] == "What is your role?"


def test_a_reply_without_evaluation_is_scored_with_the_rubric(client_for, employee, llm):
    llm.push(turn("Hi! What is your role?", topic=1), turn("Which tools?", topic=3))
    client = client_for(employee)
    interview_id = start(client, language="en")["interview_id"]
    data = answer(client, interview_id, "First I export hours from Kronos, then I check them in Excel.")
    evaluation = data["user_message"]["evaluation"]
    assert 0 < evaluation["score"] <= 100
    assert evaluation["feedback"]


def test_the_llm_ends_the_interview(client_for, employee, llm):
    llm.push(turn("¿Tu puesto?", topic=1), turn("¡Gracias, hemos terminado!", is_final=True, evaluation=EVALUATION))
    client = client_for(employee)
    interview_id = start(client)["interview_id"]
    data = answer(client, interview_id)
    assert data["is_final"] is True
    assert data["question"] == "¡Gracias, hemos terminado!"
    assert data["interview"]["status"] == "completed"
    assert data["question_number"] == builtin_plan().total


def test_an_llm_that_never_ends_is_closed_after_two_questions_per_topic(client_for, employee, llm):
    plan = builtin_plan()
    interview = InterviewFactory(employee=employee, language="en", engine_state={"topic": 5, "followup": False})
    add_messages(interview, 2 * (2 * plan.total) - 1)  # 12 questions asked, the last one unanswered
    Interview.objects.filter(pk=interview.pk).update(question_count=2 * plan.total)
    llm.push(turn("And another thing?", topic=6))
    data = answer(client_for(employee), interview.id)
    assert data["is_final"] is True
    assert data["question"] == plan.closing_for("en", "basic")
    assert "this turn must be the closing message" in llm.chat_requests()[0].json["messages"][0]["content"]


def test_only_the_recent_history_is_sent(client_for, employee, llm, settings, django_assert_max_num_queries):
    settings.OPENAI_HISTORY_MESSAGES = 4
    interview = InterviewFactory(employee=employee, language="en", engine_state={"topic": 1, "followup": False})
    add_messages(interview, 301)
    llm.push(turn("Next?", topic=3))
    with django_assert_max_num_queries(10):
        answer(client_for(employee), interview.id, "The answer")
    messages = llm.chat_requests()[0].json["messages"]
    assert [m["content"] for m in messages[1:]] == [f"message {n}" for n in range(298, 302)] + ["The answer"]
    assert [m["role"] for m in messages[1:]] == ["user", "assistant", "user", "assistant", "user"]


# --- failures fall back to scripted ----------------------------------------------------------


def test_a_slow_reply_past_the_timeout_falls_back_to_scripted(client_for, employee, llm, settings, caplog):
    settings.OPENAI_TIMEOUT_SECONDS = 0.3
    llm.default = Reply(body=turn("Too late", topic=1).body, delay=1.5)
    began = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="interviews.engine"):
        data = start(client_for(employee), language="es")
    assert time.monotonic() - began < 1.5  # two attempts of 0.3 s, not the server's 1.5 s
    assert data["question"] == scripted_first()
    assert len(llm.chat_requests()) == 2  # the call and one retry
    assert "falling back to scripted" in caplog.text
    assert data["interview_id"] in caplog.text
    assert Interview.objects.get(pk=data["interview_id"]).engine_state["topic"] == 0


def test_one_500_is_retried_and_the_llm_answers(client_for, employee, llm):
    llm.push(error(500), turn("¿Cuál es tu puesto?", topic=1))
    data = start(client_for(employee))
    assert data["question"] == "¿Cuál es tu puesto?"
    assert len(llm.chat_requests()) == 2


def test_two_500s_fall_back_to_scripted(client_for, employee, llm, caplog):
    llm.push(turn("¿Tu puesto?", topic=1), error(500), error(503))
    client = client_for(employee)
    interview_id = start(client)["interview_id"]
    with caplog.at_level(logging.WARNING, logger="interviews.engine"):
        data = answer(client, interview_id)
    # The scripted provider picks up where the LLM was (topic 1 asked): topic 2 is next.
    assert data["question"] == builtin_plan().question(1, "es", "basic")
    assert data["question_number"] == 2
    assert data["user_message"]["evaluation"]["score"] > 0
    assert "interviewer provider openai failed (openai provider failed: " in caplog.text
    assert interview_id in caplog.text
    assert len(llm.chat_requests()) == 3


def test_a_client_error_is_not_retried(client_for, employee, llm):
    llm.push(error(401, "bad key"))
    data = start(client_for(employee), language="en")
    assert data["question"] == scripted_first("en")
    assert len(llm.chat_requests()) == 1


@pytest.mark.parametrize(
    "reply",
    [
        completion("this is not JSON at all"),
        completion('{"question": "¿Tu puesto?"'),  # truncated
        completion(json.dumps(["question", "is_final"])),
        completion(None),
        Reply(body=b"<html>502 Bad Gateway</html>", content_type="text/html"),
        Reply(body=b'{"id": "x", "object": "chat.completion"}'),  # no choices
    ],
    ids=["prose", "truncated", "array", "null-content", "html-200", "no-choices"],
)
def test_malformed_replies_fall_back_to_scripted(client_for, employee, llm, reply):
    llm.default = reply
    data = start(client_for(employee))
    assert data["question"] == scripted_first()
    assert len(llm.chat_requests()) == 2


@pytest.mark.parametrize(
    "content",
    [
        {"is_final": False},  # no question
        {"question": "", "is_final": False},
        {"question": "¿Siguiente?"},  # no is_final
        {"question": "¿Siguiente?", "is_final": "no"},
        {"question": "¿Siguiente?", "is_final": False, "evaluation": {"score": 140, "feedback": "x"}},
        {"question": "¿Siguiente?", "is_final": False, "evaluation": {"feedback": "no score"}},
        {"question": "¿Siguiente?", "is_final": False, "evaluation": {"score": 50, "strengths": "all"}},
        {"question": "¿Siguiente?", "is_final": False, "evaluation": "great"},
    ],
    ids=[
        "no-question",
        "empty-question",
        "no-is-final",
        "string-is-final",
        "score-140",
        "no-score",
        "bad-list",
        "text",
    ],
)
def test_replies_missing_or_with_invalid_fields_fall_back(client_for, employee, llm, content):
    llm.push(turn("¿Tu puesto?", topic=1))
    client = client_for(employee)
    interview_id = start(client)["interview_id"]
    llm.default = completion(json.dumps(content))
    data = answer(client, interview_id)
    assert data["question"] == builtin_plan().question(1, "es", "basic")
    assert InterviewMessage.objects.filter(interview_id=interview_id).count() == 3


def test_a_first_turn_that_claims_to_be_final_is_not_used(client_for, employee, llm):
    llm.default = turn("Bye!", is_final=True)
    data = start(client_for(employee), language="en")
    assert data["question"] == scripted_first("en")
    assert data["is_final"] is False


def test_unreachable_server_falls_back(client_for, employee, settings):
    settings.INTERVIEWER_PROVIDERS = ["openai", "scripted"]
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"  # discard port: connection refused
    settings.OPENAI_API_KEY = "sk-test"
    assert start(client_for(employee))["question"] == scripted_first()


def test_unconfigured_openai_falls_back_without_a_request(client_for, employee, settings, fake_openai):
    settings.INTERVIEWER_PROVIDERS = "openai,scripted"  # a raw string works too
    settings.OPENAI_BASE_URL = ""
    settings.OPENAI_API_KEY = ""
    assert start(client_for(employee))["question"] == scripted_first()
    assert fake_openai.requests == []


def test_a_full_interview_survives_an_llm_that_fails_midway(client_for, employee, llm):
    """The LLM asks topics 1-2, then fails for good: scripted finishes the plan from topic 3."""
    plan = builtin_plan()
    llm.push(turn("Q1?", topic=1), turn("Q2?", topic=2, evaluation=EVALUATION))
    client = client_for(employee)
    interview_id = start(client, language="es")["interview_id"]
    questions = [answer(client, interview_id)["question"]]
    for _ in range(10):
        data = answer(client, interview_id)
        questions.append(data["question"])
        if data["is_final"]:
            break
    assert questions == [
        "Q2?",
        *[plan.question(i, "es", "basic") for i in range(2, plan.total)],
        plan.closing_for("es", "basic"),
    ]
    assert Interview.objects.get(pk=interview_id).status == "completed"


# --- the chain ---------------------------------------------------------------------------------


def test_chain_names_are_cleaned_and_scripted_is_always_last(caplog):
    with caplog.at_level(logging.ERROR, logger="interviews.engine"):
        assert provider_names(["OpenAI", " openai ", "gemini", ""]) == ["openai", "scripted"]
    assert "unknown interviewer provider 'gemini'" in caplog.text
    assert provider_names(["scripted", "openai"]) == ["scripted"]
    assert provider_names([]) == ["scripted"]


def test_default_configuration_is_scripted_only(settings):
    settings.INTERVIEWER_PROVIDERS = ["scripted"]
    assert [p.name for p in get_engine().providers] == ["scripted"]


def test_a_failed_provider_leaves_no_trace_in_engine_state(caplog):
    class Broken:
        name = "broken"

        def next_turn(self, interview, history, answer):
            interview.engine_state["topic"] = 99  # half-done work, then a crash
            raise RuntimeError("boom")

    interview = InterviewFactory(engine_state={"topic": 2, "followup": True})
    chain = ProviderChain([Broken(), ScriptedProvider()])
    with caplog.at_level(logging.WARNING, logger="interviews.engine"):
        turn_ = chain.next_turn(interview, InterviewMessage.objects.none(), ANSWER)
    # Scripted answered from the state as it was before the broken provider touched it.
    assert turn_.question == builtin_plan().question(3, "es", "basic")
    assert interview.engine_state == {"plan": None, "topic": 3, "followup": False}
    assert f"interviewer provider broken failed (boom) on interview {interview.id}" in caplog.text


def test_a_provider_returning_garbage_is_skipped():
    class Garbage:
        name = "garbage"

        def first_turn(self, interview):
            return {"question": "not a Turn"}

    interview = InterviewFactory.build(language="en")
    turn_ = ProviderChain([Garbage(), ScriptedProvider()]).first_turn(interview)
    assert turn_.question == scripted_first("en")
