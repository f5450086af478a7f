"""Interview reports: made once per completion on every completion path, versions, the REST
endpoint, and the scripted report's content (interviews/reports/).

Tasks run in-process after commit (``TASKS_IN_PROCESS``), so the tests that need a report to
appear use committed transactions (``transaction=True``). Runs on SQLite and PostgreSQL.
"""

import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connections, transaction

from interviews import services
from interviews.models import Interview, InterviewReport, InterviewStatus
from interviews.reports.schema import PROCESS_SECTIONS, REPORT_SCHEMA, report_problems
from interviews.reports.services import interview_report_generate, interview_report_regenerate
from interviews.reports_views import ProcessSerializer, ReportOutputSerializer, TopicFindingSerializer
from interviews.tasks import report_generate
from interviewsvc.errors import PermissionDenied
from tests.factories import ORG_B, InterviewFactory, UserFactory
from tests.interviews.realtime_support import start_interview

committed = pytest.mark.django_db(transaction=True)

ANSWERS = [
    "I am the payroll clerk of the plant; every week I prepare the payroll for 200 workers.",
    "First I export the hours from Kronos, then I check them in Excel, after that I upload the file to SAP "
    "and finally I send the summary to the manager by email.",
    "I use Kronos, Excel and SAP, and Outlook for the emails with the managers.",
    "The input is the hours of each worker and the output is the payroll file that the bank receives.",
    "Sometimes Kronos has missing hours; I call the supervisor and fix them by hand in Excel before the upload.",
    "I would connect Kronos to SAP directly so that nobody has to copy the hours in Excel every week.",
]


def url(interview_id) -> str:
    return f"/api/v1/interviews/{interview_id}/report"


def complete_by_answering(user, answers=ANSWERS) -> Interview:
    interview = start_interview(user)
    for answer in answers:
        result = services.interview_continue(actor=user, interview_id=interview.id, answer=answer)
        if result.is_final:
            break
    interview.refresh_from_db()
    assert interview.status == InterviewStatus.COMPLETED
    return interview


def reports(interview) -> list[InterviewReport]:
    return list(InterviewReport.objects.filter(interview=interview).order_by("version"))


# --- made once per completion, on every path ------------------------------------------------


@committed
def test_the_interviewers_last_turn_makes_one_report(employee, client_for):
    interview = complete_by_answering(employee)
    [report] = reports(interview)
    assert (report.version, report.request_key, report.generated_by) == (1, "completed", "scripted")
    assert report_problems(report.document, sequence_numbers=set(range(1, interview.message_count + 1))) == []


@committed
def test_a_patch_to_completed_makes_one_report(admin_user, employee, client_for):
    interview = start_interview(employee)
    services.interview_continue(actor=employee, interview_id=interview.id, answer=ANSWERS[0])
    response = client_for(admin_user).patch(
        f"/api/v1/interviews/{interview.id}", {"status": "completed"}, format="json"
    )
    assert response.status_code == 200
    [report] = reports(interview)
    assert report.document["topics"][0]["messages"] == [2]


@committed
def test_the_admin_completing_an_interview_makes_one_report(superuser, employee, client):
    interview = start_interview(employee)
    client.force_login(superuser)
    response = client.post(f"/admin/interviews/interview/{interview.id}/change/", {"status": "completed"})
    assert response.status_code == 302
    assert Interview.objects.get(pk=interview.id).status == InterviewStatus.COMPLETED
    assert len(reports(interview)) == 1


@committed
def test_an_imported_completed_interview_gets_a_report_and_a_cancelled_one_none(employee, client_for):
    history = [
        {"role": "assistant", "content": "What do you do?"},
        {"role": "user", "content": ANSWERS[1]},
    ]
    api = client_for(employee)
    done = api.post(
        "/api/v1/interviews/migrate",
        {"session_id": "s1", "conversation_history": history, "language": "en"},
        format="json",
    )
    cancelled = api.post(
        "/api/v1/interviews/migrate",
        {"session_id": "s2", "conversation_history": history, "language": "en", "status": "cancelled"},
        format="json",
    )
    [report] = reports(done.json()["data"]["interview_id"])
    assert report.document["topics"][0]["messages"] == [2]
    assert reports(cancelled.json()["data"]["interview_id"]) == []
    assert api.get(url(cancelled.json()["data"]["interview_id"])).json()["error_code"] == "report_not_found"


@committed
def test_a_rolled_back_completion_asks_for_no_report(employee):
    interview = start_interview(employee)

    def complete_then_fail():
        with transaction.atomic():
            services.interview_status_change(interview_id=interview.id, status=InterviewStatus.COMPLETED)
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        complete_then_fail()
    assert reports(interview) == []


@committed
def test_a_redelivered_task_adds_no_second_version(employee):
    interview = complete_by_answering(employee)
    assert report_generate.apply(args=[str(interview.id), "completed"]).get() == 1
    assert report_generate.apply(args=[str(interview.id), "completed"]).get() == 1
    assert [r.version for r in reports(interview)] == [1]


def test_nothing_is_made_for_an_interview_that_is_not_completed(employee):
    interview = InterviewFactory(employee=employee, status=InterviewStatus.CANCELLED)
    assert interview_report_generate(interview_id=interview.id) is None
    assert reports(interview) == []


@committed
def test_regenerating_adds_a_version_and_the_latest_is_current(employee, admin_user, client_for):
    interview = complete_by_answering(employee)
    interview_report_regenerate(interview_id=interview.id, actor=admin_user)
    assert [r.version for r in reports(interview)] == [1, 2]
    body = client_for(employee).get(url(interview.id)).json()
    assert body["data"]["version"] == 2


def test_only_admins_regenerate(employee, staff):
    interview = InterviewFactory(employee=employee, status=InterviewStatus.COMPLETED)
    with pytest.raises(PermissionDenied):
        interview_report_regenerate(interview_id=interview.id, actor=staff)
    with pytest.raises(PermissionDenied):
        interview_report_regenerate(interview_id=interview.id, actor=employee)


@committed
def test_reports_are_deleted_with_their_interview(employee):
    interview = complete_by_answering(employee)
    assert len(reports(interview)) == 1
    Interview.objects.filter(pk=interview.id).delete()
    assert not InterviewReport.objects.filter(interview_id=interview.id).exists()


# --- GET interviews/{id}/report -----------------------------------------------------------------


def test_202_report_pending_while_it_is_being_made(employee, client_for, django_assert_max_num_queries):
    interview = InterviewFactory(employee=employee, status=InterviewStatus.COMPLETED)
    with django_assert_max_num_queries(4):
        response = client_for(employee).get(url(interview.id))
    assert response.status_code == 202
    assert response["Retry-After"] == "2"
    body = response.json()
    assert (body["status"], body["code"]) == ("success", 202)
    assert body["data"] == {
        "interview_id": str(interview.id),
        "status": "report_pending",
        "report_url": f"/api/v1/interviews/{interview.id}/report",
    }


@pytest.mark.parametrize("status", [InterviewStatus.IN_PROGRESS, InterviewStatus.PAUSED, InterviewStatus.CANCELLED])
def test_404_for_an_interview_that_never_completed(employee, client_for, status):
    interview = InterviewFactory(employee=employee, status=status)
    response = client_for(employee).get(url(interview.id))
    assert response.status_code == 404
    assert response.json()["error_code"] == "report_not_found"


def test_the_usual_404_403_and_422(employee, client_for):
    foreign = InterviewFactory(employee=UserFactory(organization_id=ORG_B), status=InterviewStatus.COMPLETED)
    api = client_for(employee)
    assert api.get(url(foreign.id)).json()["error_code"] == "interview_access_denied"
    assert api.get(url("0193a1b2-0000-7000-8000-000000000000")).json()["error_code"] == "interview_not_found"
    assert api.get(url("nope")).status_code == 422
    assert client_for().get(url(foreign.id)).status_code == 401


@committed
def test_200_with_the_report_for_the_employee_staff_and_admin(employee, staff, admin_user, client_for):
    interview = complete_by_answering(employee)
    for user in (employee, staff, admin_user):
        response = client_for(user).get(f"{url(interview.id)}/")
        assert response.status_code == 200, user.role
        data = response.json()["data"]
        assert (data["version"], data["generated_by"], data["interview_id"]) == (1, "scripted", str(interview.id))
        assert data["overall_score"] == Interview.objects.get(pk=interview.id).overall_score


@committed
def test_the_last_continue_and_the_complete_frame_carry_the_report_url(employee, client_for):
    interview = start_interview(employee)
    api = client_for(employee)
    for answer in ANSWERS:
        body = api.post(
            "/api/v1/interviews/continue", {"interview_id": str(interview.id), "user_response": answer}, format="json"
        ).json()["data"]
        if body["is_final"]:
            break
        assert body["report_url"] is None
    assert body["report_url"] == f"/api/v1/interviews/{interview.id}/report"
    assert api.get(body["report_url"]).status_code == 200


# --- the scripted report's content --------------------------------------------------------------


@committed
def test_the_scripted_report_describes_the_process_with_message_numbers(employee):
    interview = complete_by_answering(employee)
    document = reports(interview)[0].document
    # Long, concrete answers: no follow-ups, so answer n is message 2n.
    assert [t["key"] for t in document["topics"]] == [
        "role",
        "steps",
        "tools",
        "inputs_outputs",
        "problems",
        "improvements",
    ]
    assert [t["messages"] for t in document["topics"]] == [[2], [4], [6], [8], [10], [12]]
    process = document["process"]
    assert set(process) == set(PROCESS_SECTIONS)  # jsonb (PostgreSQL) keeps no key order
    assert [s["text"] for s in process["steps"]] == [
        "First I export the hours from Kronos",
        "I check them in Excel",
        "I upload the file to SAP",
        "I send the summary to the manager by email",
    ]
    assert all(s["messages"] == [4] for s in process["steps"])
    tools = {t["text"]: t["messages"] for t in process["tools"]}
    assert tools["Kronos"] == [4, 6]  # named in the steps and tools answers (not looked for elsewhere)
    assert tools["SAP"] == [4, 6]
    assert tools["Outlook"] == [6]
    assert process["role"][0] == {"text": ANSWERS[0], "messages": [2]}
    assert process["problems"][0]["messages"] == [10]
    assert process["improvements"][0]["messages"] == [12]
    assert document["strengths"]
    assert all(f["messages"] for f in document["strengths"])
    assert "6 answers on 6 of 6 topics" in document["summary"]


def test_the_schema_is_the_one_the_api_describes():
    properties = set(REPORT_SCHEMA["properties"])
    assert properties == set(ReportOutputSerializer().fields) - {
        "interview_id",
        "version",
        "generated_by",
        "created_at",
    }
    topic = REPORT_SCHEMA["properties"]["topics"]["items"]["properties"]
    assert set(topic) == set(TopicFindingSerializer().fields)
    assert set(PROCESS_SECTIONS) == set(ProcessSerializer().fields)


def test_the_schema_refuses_what_does_not_fit():
    document = {
        "schema_version": 1,
        "language": "en",
        "overall_score": 50,
        "summary": "ok",
        "topics": [{"key": "role", "title": "Role", "score": 50, "finding": "x", "messages": [2]}],
        "process": None,
        "strengths": [],
        "weaknesses": [{"text": "thin", "messages": [2]}],
    }
    assert report_problems(document, sequence_numbers={1, 2}, topic_keys=["role"]) == []
    assert report_problems({**document, "overall_score": 101})
    assert report_problems({**document, "extra": 1})
    assert report_problems({**document, "strengths": [{"text": "", "messages": [1]}]})
    assert report_problems(document, sequence_numbers={1}) == [
        "topics.role: no message numbered 2",
        "weaknesses: no message numbered 2",
    ]
    assert report_problems(document, topic_keys=["steps"])


@committed
def test_backfill_asks_once_for_each_completed_interview_without_a_report(employee):
    old = InterviewFactory(employee=employee, status=InterviewStatus.COMPLETED)
    running = InterviewFactory(employee=employee, status=InterviewStatus.IN_PROGRESS)
    done = complete_by_answering(employee)
    out = StringIO()
    call_command("reports_backfill", stdout=out)
    assert out.getvalue().strip() == "1 report(s) asked for."
    assert [r.version for r in reports(old)] == [1]
    assert reports(running) == []
    assert [r.version for r in reports(done)] == [1]
    call_command("reports_backfill", stdout=out)
    assert [r.version for r in reports(old)] == [1]


def test_the_openapi_schema_describes_the_report_endpoint(client):
    spec = client.get("/api/v1/schema/?format=json").json()
    operation = spec["paths"]["/api/v1/interviews/{interview_id}/report/"]["get"]
    assert {"200", "202", "404", "403"} <= set(operation["responses"])
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    data = spec["components"]["schemas"][ok]["properties"]["data"]["$ref"].rsplit("/", 1)[-1]
    assert set(REPORT_SCHEMA["properties"]) <= set(spec["components"]["schemas"][data]["properties"])
    assert "report_not_found" in operation["responses"]["404"]["description"]
    continue_data = spec["components"]["schemas"]["ContinueOutput"]["properties"]
    assert continue_data["report_url"]["nullable"] is True


@committed
def test_the_report_costs_a_fixed_number_of_queries(employee, client_for, django_assert_max_num_queries):
    interview = complete_by_answering(employee)
    api = client_for(employee)
    with django_assert_max_num_queries(4):  # the user, the interview, the latest report (and a savepoint)
        assert api.get(url(interview.id)).status_code == 200


@pytest.mark.postgres
@committed
def test_concurrent_tasks_store_one_version_per_request_and_number_the_rest(employee):
    interview = complete_by_answering(employee)
    keys = ["completed", "completed", "completed", "regenerate:a", "regenerate:a", "regenerate:b"]
    barrier = threading.Barrier(len(keys))
    errors = []

    def run(key):
        try:
            barrier.wait(timeout=10)
            interview_report_generate(interview_id=interview.id, request_key=key)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    rows = InterviewReport.objects.filter(interview=interview).order_by("version")
    assert [r.version for r in rows] == [1, 2, 3]
    assert sorted(r.request_key for r in rows) == ["completed", "regenerate:a", "regenerate:b"]
