"""The scripted interviewer through the REST API: plans, levels, follow-ups, rubric, imports."""

import logging

import pytest

from interviews.engine import rubric
from interviews.engine.plans import builtin_plan, builtin_plan_data
from interviews.models import Interview, InterviewMessage, InterviewPlan, InterviewStatus, MessageRole
from interviews.services import interview_plan_save

pytestmark = pytest.mark.django_db

RICH = {
    "es": [
        "Soy técnica de nóminas en Recursos Humanos. Cada semana preparo la nómina de 120 empleados.",
        "Primero exporto las horas de Kronos, luego las reviso en Excel y después las subo a SAP.",
        "Uso Kronos para fichajes, Excel para revisar y SAP para la nómina; el correo para avisos.",
        "Recibo los fichajes de 3 turnos y entrego un informe en PDF al jefe de finanzas el lunes.",
        "A veces faltan fichajes; entonces llamo al encargado y corrijo la hoja antes del cierre.",
        "Conectaría Kronos con SAP para no copiar datos a mano; ahorraríamos 4 horas por semana.",
    ],
    "en": [
        "I am a payroll clerk in HR. Every week I prepare the payroll for 120 employees at our plant.",
        "First I export hours from Kronos, then I check them in Excel and finally upload them to SAP.",
        "I use Kronos for clocking, Excel to review and SAP for payroll; Outlook for reminders.",
        "I receive clock-ins from 3 shifts and deliver a PDF report to the finance manager on Monday.",
        "Sometimes clock-ins are missing; then I call the supervisor and fix the sheet before closing.",
        "I would connect Kronos to SAP so nobody copies data by hand; that saves 4 hours a week.",
    ],
}
THIN = {"es": "No sé.", "en": "Not sure."}


def start(client, **body):
    response = client.post("/api/v1/interviews/start", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["data"]


def answer(client, interview_id, text):
    response = client.post(
        "/api/v1/interviews/continue", {"interview_id": interview_id, "user_response": text}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()["data"]


@pytest.mark.parametrize(("language", "level"), [("es", "basic"), ("en", "advanced"), ("en", "intermediate")])
def test_full_interview_walks_the_plan_and_completes(client_for, employee, language, level):
    plan = builtin_plan()
    client = client_for(employee)
    data = start(client, language=language, technical_level=level)
    interview_id = data["interview_id"]
    asked = [data["question"]]
    assert data["question_number"] == 1
    for number, text in enumerate(RICH[language], start=1):
        data = answer(client, interview_id, text)
        assert data["user_message"]["evaluation"]["score"] > 0
        if number < plan.total:
            assert data["is_final"] is False
            assert data["question_number"] == number + 1
            asked.append(data["question"])
    assert data["is_final"] is True
    assert data["question"] == plan.closing_for(language, level)
    assert data["interview"]["status"] == "completed"
    assert asked == [plan.question(i, language, level) for i in range(plan.total)]

    interview = Interview.objects.get(pk=interview_id)
    assert interview.status == InterviewStatus.COMPLETED
    assert interview.message_count == 1 + 2 * plan.total
    assert interview.question_count == plan.total
    evaluations = list(
        InterviewMessage.objects.filter(interview=interview, role=MessageRole.USER).values_list("evaluation", flat=True)
    )
    assert len(evaluations) == plan.total
    for evaluation in evaluations:
        assert set(evaluation) == {"score", "feedback", "strengths", "weaknesses"}
        assert 0 <= evaluation["score"] <= 100
        assert evaluation["feedback"]
    assert (
        not InterviewMessage.objects.filter(interview=interview, role=MessageRole.ASSISTANT)
        .exclude(evaluation=None)
        .exists()
    )


@pytest.mark.parametrize("language", ["es", "en"])
def test_a_thin_answer_gets_one_follow_up_then_the_plan_moves_on(client_for, employee, language):
    plan = builtin_plan()
    client = client_for(employee)
    interview_id = start(client, language=language, technical_level="intermediate")["interview_id"]

    first = answer(client, interview_id, THIN[language])
    assert first["question"] == plan.follow_up_for(0, language, "intermediate")
    assert first["question_number"] == 1
    assert first["is_final"] is False
    too_brief = {"es": "Respuesta demasiado breve", "en": "Answer too brief"}[language]
    assert too_brief in first["user_message"]["evaluation"]["weaknesses"]

    second = answer(client, interview_id, THIN[language])  # still thin: no second follow-up
    assert second["question"] == plan.question(1, language, "intermediate")
    assert second["question_number"] == 2

    third = answer(client, interview_id, RICH[language][1])  # a good answer: no follow-up
    assert third["question"] == plan.question(2, language, "intermediate")
    assert third["question_number"] == 3


def test_long_answer_without_any_step_tool_or_figure_is_thin():
    vague = "Bueno, pues hago muchas cosas distintas y depende mucho del día y de lo que haya que hacer ese día."
    assert rubric.is_thin(vague)
    assert not rubric.is_thin("Exporto los datos de Kronos y los reviso en Excel cada mañana.")
    assert not rubric.is_thin("Every Monday I collect 40 timesheets and fix mistakes by phone.")


def test_level_changes_the_wording(client_for, employee):
    client = client_for(employee)
    questions = {
        level: start(client, language="es", technical_level=level)["question"] for level in ("basic", "advanced")
    }
    assert questions["basic"] != questions["advanced"]
    assert questions["basic"] == builtin_plan().question(0, "es", "basic")
    assert "alcance" in questions["advanced"]  # the advanced wording asks about scope


def test_rubric_is_deterministic_and_rewards_concrete_answers():
    rich = rubric.evaluate(RICH["es"][1], "es")
    assert rich == rubric.evaluate(RICH["es"][1], "es")
    thin = rubric.evaluate(THIN["es"], "es")
    assert rich.score > thin.score
    assert thin.score < 20
    assert "Respuesta demasiado breve" in thin.weaknesses
    assert "Describe acciones o pasos concretos" in rich.strengths
    english = rubric.evaluate(THIN["en"], "en")
    assert "Answer too brief" in english.weaknesses
    assert english.feedback != thin.feedback


# --- plans as data ---------------------------------------------------------------------------


def _custom_plan(**fields) -> InterviewPlan:
    defaults = {
        "slug": "onboarding",
        "name": "Onboarding",
        "topics": [
            {"key": "first_day", "question": {"es": "¿Cómo fue tu primer día?", "en": "How was your first day?"}},
            {
                "key": "training",
                "question": {
                    "es": {"basic": "¿Quién te enseñó?", "advanced": "¿Qué formación recibiste y de quién?"},
                    "en": {"basic": "Who taught you?", "advanced": "Which training did you get, and from whom?"},
                },
            },
        ],
        "closing": {"es": "Fin, gracias.", "en": "Done, thanks."},
    }
    plan = InterviewPlan(**{**defaults, **fields})
    plan.full_clean()
    plan.save()
    return plan


def test_a_plan_added_in_the_database_is_usable_by_slug(client_for, employee):
    plan = _custom_plan()
    client = client_for(employee)
    data = start(client, language="en", technical_level="advanced", plan="onboarding")
    interview_id = data["interview_id"]
    assert data["question"] == "How was your first day?"
    assert Interview.objects.get(pk=interview_id).plan == plan
    data = answer(client, interview_id, RICH["en"][0])
    assert data["question"] == "Which training did you get, and from whom?"
    assert data["question_number"] == 2
    data = answer(client, interview_id, RICH["en"][1])
    assert data["is_final"] is True
    assert data["question"] == "Done, thanks."
    assert data["interview"]["status"] == "completed"


def test_missing_level_wording_falls_back_to_the_nearest(client_for, employee):
    _custom_plan()
    client = client_for(employee)
    data = start(client, language="es", technical_level="intermediate", plan="onboarding")
    data = answer(client, data["interview_id"], RICH["es"][0])
    assert data["question"] == "¿Quién te enseñó?"  # intermediate → basic


def test_plan_without_follow_up_uses_the_built_in_one(client_for, employee):
    _custom_plan()
    client = client_for(employee)
    data = start(client, language="es", plan="onboarding")
    data = answer(client, data["interview_id"], THIN["es"])
    assert data["question"] == builtin_plan_data()["follow_up"]["es"]


@pytest.mark.parametrize(
    ("plan", "message"),
    [("no-such-plan", "Unknown or inactive plan"), ("inactive", "Unknown or inactive plan"), ("not a slug!", "")],
)
def test_unknown_inactive_or_malformed_plan_is_422(client_for, employee, plan, message):
    _custom_plan(slug="inactive", is_active=False)
    before = Interview.objects.count()
    response = client_for(employee).post("/api/v1/interviews/start", {"plan": plan}, format="json")
    body = response.json()
    assert response.status_code == 422
    assert body["error_code"] == "validation_error"
    assert [e["field"] for e in body["errors"]] == ["plan"]
    assert message in body["message"]
    assert Interview.objects.count() == before


def test_the_default_plan_answers_when_the_body_names_none(client_for, employee):
    plan = _custom_plan(is_default=False)
    plan.is_default = True
    interview_plan_save(plan=plan)  # takes the flag from the seeded default
    assert list(InterviewPlan.objects.filter(is_default=True)) == [plan]
    data = start(client_for(employee), language="es")
    assert data["question"] == "¿Cómo fue tu primer día?"
    assert Interview.objects.get(pk=data["interview_id"]).plan == plan


def test_without_any_plan_row_the_built_in_plan_answers(client_for, employee):
    InterviewPlan.objects.all().delete()
    client = client_for(employee)
    data = start(client, language="en")
    assert data["question"] == builtin_plan().question(0, "en", "basic")
    assert Interview.objects.get(pk=data["interview_id"]).plan is None
    # Its slug still works by name, and the interview goes on.
    data = start(client, language="en", plan=builtin_plan_data()["slug"])
    assert answer(client, data["interview_id"], RICH["en"][0])["question_number"] == 2


def test_a_plan_broken_outside_the_admin_falls_back_to_the_built_in_one(client_for, employee, caplog):
    plan = _custom_plan()
    client = client_for(employee)
    interview_id = start(client, language="en", plan="onboarding")["interview_id"]
    InterviewPlan.objects.filter(pk=plan.pk).update(topics=[{"question": "not localized"}])
    with caplog.at_level(logging.ERROR, logger="interviews.engine"):
        data = answer(client, interview_id, RICH["en"][0])
    assert data["question"] == builtin_plan().question(1, "en", "basic")
    assert "onboarding is invalid" in caplog.text


def test_plan_validation_explains_what_is_wrong():
    plan = InterviewPlan(
        slug="bad",
        name="Bad",
        topics=[{"question": {"es": "¿Hola?"}}, {"question": {"es": {"expert": "x"}, "en": ""}}, "x"],
        closing={"es": "Fin"},
    )
    with pytest.raises(Exception) as excinfo:  # noqa: PT011 (Django's ValidationError, checked below)
        plan.full_clean()
    errors = excinfo.value.message_dict
    text = " ".join(errors["topics"])
    assert "topic 1.question: the en wording is missing." in text
    assert "topic 2.question.es: unknown level(s) expert" in text
    assert "topic 2.question.en: must not be empty." in text
    assert "topic 3: must be an object" in text
    assert errors["closing"] == ["closing: the en wording is missing."]


# --- imported interviews -------------------------------------------------------------------


def _migrate(client, history, language="es"):
    """An interview imported *in progress*, as ``migrate`` allowed before imports had to be
    ended (docs/api.md): it is imported, then put back in progress directly."""
    response = client.post(
        "/api/v1/interviews/migrate",
        {"session_id": "browser-1", "conversation_history": history, "language": language},
        format="json",
    )
    assert response.status_code == 201, response.content
    interview_id = response.json()["data"]["interview_id"]
    Interview.objects.filter(pk=interview_id).update(status=InterviewStatus.IN_PROGRESS, completed_at=None)
    return interview_id


def test_an_imported_interview_in_progress_gets_the_next_topic(client_for, employee):
    plan = builtin_plan()
    history = [
        {"role": "assistant", "content": "¿Qué haces?"},
        {"role": "user", "content": RICH["es"][0]},
        {"role": "assistant", "content": "¿Cómo lo haces?"},
        {"role": "user", "content": RICH["es"][1]},
        {"role": "assistant", "content": "¿Con qué herramientas?"},
    ]
    client = client_for(employee)
    interview_id = _migrate(client, history)
    assert Interview.objects.get(pk=interview_id).engine_state == {}
    data = answer(client, interview_id, RICH["es"][2])
    # Three questions were asked: the third answered, the fourth topic is next.
    assert data["question"] == plan.question(3, "es", "basic")
    assert data["question_number"] == 4
    assert data["user_message"]["sequence_number"] == 6
    assert Interview.objects.get(pk=interview_id).engine_state["topic"] == 3


def test_an_imported_interview_past_the_plan_is_wrapped_up(client_for, employee):
    history = []
    for i in range(8):
        history += [{"role": "assistant", "content": f"Q{i}"}, {"role": "user", "content": RICH["es"][i % 6]}]
    history.append({"role": "assistant", "content": "¿Algo más?"})
    client = client_for(employee)
    interview_id = _migrate(client, history)
    data = answer(client, interview_id, THIN["es"])
    assert data["is_final"] is True
    assert data["question"] == builtin_plan().closing_for("es", "basic")
    assert data["interview"]["status"] == "completed"


def test_an_imported_interview_with_only_answers_starts_the_plan(client_for, employee):
    client = client_for(employee)
    interview_id = _migrate(client, [{"role": "user", "content": "Hola"}], language="en")
    data = answer(client, interview_id, THIN["en"])
    assert data["question"] == builtin_plan().question(0, "en", "basic")
    assert data["question_number"] == 1


def test_a_turn_on_a_long_transcript_costs_a_bounded_number_of_queries(
    client_for, employee, django_assert_max_num_queries
):
    from tests.factories import add_messages

    _custom_plan()
    client = client_for(employee)
    interview_id = start(client, language="en", plan="onboarding")["interview_id"]
    add_messages(Interview.objects.get(pk=interview_id), 300)
    Interview.objects.filter(pk=interview_id).update(engine_state={})  # placed by its history: one COUNT
    # user; lock, COUNT, update, insert the answer; lock, update, insert, evaluation, the overall
    # score (final); and a savepoint pair per step
    with django_assert_max_num_queries(14):
        data = answer(client, interview_id, RICH["en"][0])
    assert data["is_final"] is True  # 150 questions asked: past the two-topic plan


def test_documented_rubric_examples():
    """The examples in docs/engine.md, "The rubric"."""
    assert rubric.evaluate("No sé.", "es").score == 2
    example = "First I export hours from Kronos, then I check them in Excel and finally upload them to SAP."
    assert rubric.evaluate(example, "en").score == 84
    assert rubric.is_thin("Bueno, depende mucho del día y de lo que haya que hacer, la verdad es que varía.")
