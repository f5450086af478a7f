"""Every admin page registered in ``admin.site`` holds against what a person can type.

The forms are read from the rendered HTML and posted back the way a browser would: as shown,
with every optional field emptied, and with hostile values in each field in turn (NUL
characters, huge and deeply nested values, markup, out-of-range numbers, impossible dates,
unknown choices). No page answers 500; a refused form says why and leaves the row as it was.
NUL characters matter on PostgreSQL, which refuses them in text and ``jsonb``: this file runs
in both passes.
"""

import itertools
import json
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.models import Group
from django.forms.models import model_to_dict
from django.urls import reverse
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken

from interviews.engine.plans import builtin_plan
from interviews.models import ExportJob, Interview, InterviewExport, InterviewPlan
from tests.factories import ORG_B, InterviewFactory, UserFactory, add_messages, default_plan_row

pytestmark = pytest.mark.django_db

HOSTILE = {
    "nul": "a\x00b",
    "huge": "x" * 200_000,
    "deep_json": "[" * 100_000,
    "deep_json_closed": "[" * 5_000 + "]" * 5_000,
    "nul_in_json": '{"es": "a\\u0000b", "en": "x"}',
    "markup": '<script>alert(1)</script>"><img src=x onerror=alert(1)>',
    "negative": "-1",
    "huge_number": "9" * 40,
    "bad_date": "2026-13-45",
    "unknown_choice": "no-such-choice",
}
# Not typed by a person: the formset bookkeeping and the ids the admin put in the form.
HIDDEN_TYPES = {"hidden", "submit", "button", "file", "image", "reset"}


class _FormParser(HTMLParser):
    """The fields of the admin's change form as a browser submits them (``name`` → values)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.in_form = False
        self.fields: list[dict] = []
        self._select: dict | None = None
        self._option: dict | None = None
        self._textarea: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and (attrs.get("id") or "").endswith("_form"):
            self.in_form = True
        if not self.in_form:
            return
        if tag == "input" and (attrs.get("name") or attrs.get("type") == "submit"):
            kind = (attrs.get("type") or "text").lower()
            checked = "checked" in attrs
            if kind in ("checkbox", "radio") and not checked:
                value = None
            else:
                value = attrs.get("value", "on" if kind in ("checkbox", "radio") else "")
            self.fields.append(
                {"name": attrs.get("name", ""), "type": kind, "value": value, "required": "required" in attrs}
            )
        elif tag == "textarea" and attrs.get("name"):
            self._textarea = {"name": attrs["name"], "type": "textarea", "value": "", "required": "required" in attrs}
            self.fields.append(self._textarea)
        elif tag == "select" and attrs.get("name"):
            self._select = {
                "name": attrs["name"],
                "type": "select-multiple" if "multiple" in attrs else "select",
                "value": [],
                "options": [],
                "required": "required" in attrs,
            }
            self.fields.append(self._select)
        elif tag == "option" and self._select is not None:
            self._option = {"value": attrs.get("value"), "text": ""}
            self._select["options"].append(self._option)
            if "selected" in attrs:
                self._select["value"].append(self._option)

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea["value"] += data
        if self._option is not None:
            self._option["text"] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self.in_form = False
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select":
            select, self._select = self._select, None
            if select is not None and select["type"] == "select" and not select["value"] and select["options"]:
                select["value"] = [select["options"][0]]  # a browser submits the first option
        elif tag == "option":
            self._option = None


def _form_fields(response) -> list[dict]:
    parser = _FormParser()
    parser.feed(response.content.decode())
    # Inline templates for new rows (``__prefix__``) are never submitted by the admin's JS.
    return [field for field in parser.fields if "__prefix__" not in field["name"]]


def _post_data(fields: list[dict], overrides: dict | None = None) -> dict:
    data: dict[str, list[str]] = {}
    for field in _filled(fields):
        name = field["name"]
        if not name or field["type"] == "submit":
            continue
        if overrides and name in overrides:
            value = overrides[name]
            if value is not None:
                data.setdefault(name, []).append(value)
            continue
        if field["type"] == "select-multiple":
            data.setdefault(name, []).extend(option["value"] or option["text"] for option in field["value"])
        elif field["type"] == "select":
            for option in field["value"]:
                data.setdefault(name, []).append(option["value"] if option["value"] is not None else option["text"])
        elif field["value"] is not None:
            data.setdefault(name, []).append(field["value"])
    # The first button, as pressing Enter does ("Save" on change forms).
    button = next((field for field in fields if field["type"] == "submit" and field["name"]), None)
    if button is not None:
        data[button["name"]] = [button["value"] or ""]
    return data


def _typed(fields: list[dict]) -> list[dict]:
    """The fields a person fills in (not the formset bookkeeping, not the CSRF token)."""
    return [
        field
        for field in fields
        if field["type"] not in HIDDEN_TYPES and field["name"] != "csrfmiddlewaretoken" and "-" not in field["name"]
    ]


_FILLED = itertools.count()


def _filled(fields: list[dict]) -> list[dict]:
    """``fields`` with the required ones an add page shows empty filled in, as a person would."""
    n = next(_FILLED)
    values = {
        "email": f"walk{n}@example.com",
        "password": "A-long-passphrase-91!",
        "number": "1",
        "url": "https://example.com",
    }
    return [
        {**field, "value": values.get(field["type"], f"walk{n}")}
        if field["required"] and field["value"] == "" and field["type"] not in HIDDEN_TYPES
        else field
        for field in fields
    ]


def _empty_optional(fields: list[dict]) -> dict:
    """Every optional field emptied: text cleared, checkboxes off, selects on their blank choice."""
    overrides: dict = {}
    for field in _typed(fields):
        if field["required"]:
            continue
        if field["type"] in ("checkbox", "radio"):
            overrides[field["name"]] = None
        elif field["type"].startswith("select"):
            blank = [o for o in field["options"] if (o["value"] or "") == ""]
            if blank or field["type"] == "select-multiple":
                overrides[field["name"]] = "" if blank else None
        else:
            overrides[field["name"]] = ""
    return overrides


@pytest.fixture
def rows(superuser):
    """One row of every registered model, so every change page has something to show."""
    employee = UserFactory(organization_id=ORG_B, first_name="Ada", email="ada@example.com")
    interview = InterviewFactory(employee=employee, organization_id=ORG_B)
    add_messages(interview, 2)
    default_plan_row()
    InterviewExport.objects.create(
        kind=InterviewExport.Kind.SINGLE,
        interview=interview,
        interview_ids=[str(interview.id)],
        format="json",
        exported_by=superuser,
        organization_id=ORG_B,
    )
    Group.objects.create(name="reviewers")
    RefreshToken.for_user(employee).blacklist()
    RefreshToken.for_user(superuser)
    common = {"user_agent": "test", "http_accept": "*/*", "path_info": "/admin/login/", "ip_address": "10.0.0.1"}
    AccessAttempt.objects.create(username="mallory", get_data="", post_data="", failures_since_start=1, **common)
    AccessLog.objects.create(username="ada", **common)
    AccessFailureLog.objects.create(username="mallory", **common)
    return {"employee": employee, "interview": interview}


def _registered():
    """Every registered admin with a changelist and forms. ExportJob's admin has neither, only
    its creator's progress page with no input (tests/interviews/test_export_jobs_admin.py)."""
    return sorted(
        ((model, model_admin) for model, model_admin in admin.site._registry.items() if model is not ExportJob),
        key=lambda item: item[0]._meta.label,
    )


def _pages(model, acting) -> list[str]:
    """The add page and the change page of every row (not the acting superuser's own: emptied,
    its checkboxes would take away the access the rest of the walk needs)."""
    info = model._meta.app_label, model._meta.model_name
    pks = list(model.objects.values_list("pk", flat=True))
    if model is type(acting):
        pks.remove(acting.pk)
    pages = [reverse("admin:{}_{}_add".format(*info))]
    pages += [reverse("admin:{}_{}_change".format(*info), args=[pk]) for pk in pks]
    if model is type(acting):
        pages += [reverse("admin:auth_user_password_change", args=[pk]) for pk in pks]
    return pages


def _form_page(client, page):
    """The form's fields, or None where the admin allows no adding (interviews, audit logs)."""
    response = client.get(page)
    assert response.status_code in (200, 403), (page, response.status_code)
    if response.status_code == 403:
        return None
    fields = _form_fields(response)
    if not any(field["type"] == "submit" for field in fields):
        # View only (audit logs, an interview's transcript): a post is refused, not saved.
        assert client.post(page, _post_data(fields)).status_code == 403, page
        return None
    return fields


def _snapshot() -> dict:
    """Every row of every registered model, to show that a refused form changed nothing."""
    return {
        model._meta.label: sorted(
            (repr(sorted(model_to_dict(row).items(), key=lambda item: item[0])) for row in model.objects.all()),
        )
        for model, _ in _registered()
    }


def _problem(response, what: str) -> str | None:
    """What is wrong with the admin's answer to a form, if anything."""
    # 400: a value the database cannot take (interviewsvc/admin_site.py), said in words.
    # 403: simplejwt's token admin shows a Save button but allows no change by POST.
    # 413: a form over MAX_REQUEST_BODY_BYTES (every field 200 kB at once) is refused whole.
    if response.status_code not in (200, 302, 400, 403, 413):
        return f"{what}: {response.status_code}"
    if response.status_code == 400 and not response.content.decode().endswith("."):
        return f"{what}: 400 without a sentence"
    if response.status_code == 302 and "/login/" in response["Location"]:
        return f"{what}: logged out"
    if response.status_code == 200:
        html = response.content.decode()
        if "Traceback" in html or "<script>alert(1)</script>" in html:  # shown escaped, never as markup
            return f"{what}: traceback or unescaped markup"
    return None


def _assert_answered(response, what: str) -> None:
    problem = _problem(response, what)
    assert problem is None, problem


@pytest.fixture
def admin_client(client, superuser):
    """Logged in as a superuser; a 500 is an answer to report, not an exception to stop at."""
    client.force_login(superuser)
    client.raise_request_exception = False
    return client


def test_every_admin_page_renders(client, superuser, rows):
    client.force_login(superuser)
    for model, _ in _registered():
        info = model._meta.app_label, model._meta.model_name
        changelist = client.get(reverse("admin:{}_{}_changelist".format(*info)))
        assert changelist.status_code == 200, model
        for page in _pages(model, superuser):
            _form_page(client, page)


def test_every_admin_form_saves_as_shown_and_with_empty_optional_fields(client, superuser, rows):
    client.force_login(superuser)
    saved = []
    for model, _ in _registered():
        for page in _pages(model, superuser):
            fields = _form_page(client, page)
            if fields is None:
                continue
            for label, overrides in (("as shown", {}), ("empty optional", _empty_optional(fields))):
                before = _snapshot()
                response = client.post(page, _post_data(fields, overrides))
                _assert_answered(response, f"{page} {label}")
                if response.status_code == 403 or "errornote" in response.content.decode():
                    assert _snapshot() == before, f"{page} {label}: a refused form changed rows"
                elif response.status_code == 302:
                    saved.append((page, label))
    # The forms a person edits save with their optional fields empty.
    for page in (
        reverse("admin:interviews_interviewplan_add"),
        reverse("admin:accounts_user_change", args=[rows["employee"].pk]),
        reverse("admin:auth_group_change", args=[Group.objects.get(name="reviewers").pk]),
    ):
        assert (page, "empty optional") in saved, page


@pytest.mark.parametrize("hostile", HOSTILE.values(), ids=HOSTILE.keys())
def test_no_admin_form_answers_500_on_hostile_values(admin_client, superuser, rows, hostile):
    problems = []
    for model, _ in _registered():
        for page in _pages(model, superuser):
            fields = _form_page(admin_client, page)
            if fields is None:
                continue
            for field in _typed(fields):
                before = _snapshot()
                response = admin_client.post(page, _post_data(fields, {field["name"]: hostile}))
                problems.append(_problem(response, f"{page} {field['name']}"))
                if response.status_code != 302 and _snapshot() != before:
                    problems.append(f"{page} {field['name']}: a refused form changed rows")
            every = {field["name"]: hostile for field in _typed(fields)}
            problems.append(_problem(admin_client.post(page, _post_data(fields, every)), f"{page} every field"))
    found = [problem for problem in problems if problem]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("hostile", HOSTILE.values(), ids=HOSTILE.keys())
def test_admin_lists_search_filter_and_actions_hold(admin_client, rows, hostile):
    problems = []
    for model, _ in _registered():
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for params in (
            {"q": hostile},
            {"o": hostile},
            {"p": hostile},
            *({name: hostile} for name in ("status", "language", "kind", "format", "is_active", "role")),
            {"started_at__year": hostile, "started_at__month": hostile},
            {"started_at__year": "2026", "started_at__month": hostile, "started_at__day": hostile},
            {"created_at__year": hostile},
            {"attempt_time__year": hostile},
        ):
            problems.append(_problem(admin_client.get(url, params), f"{url} {sorted(params)}"))
    response = admin_client.post(
        reverse("admin:interviews_interview_changelist"),
        {
            "action": "export_selected_interviews",
            "format": hostile,
            "_selected_action": [str(rows["interview"].pk), hostile],
            "index": "0",
        },
    )
    problems.append(_problem(response, "export action"))
    found = [problem for problem in problems if problem]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("login", ["admin:login", "pages-login"])
def test_the_login_forms_hold(client, rows, login):
    client.raise_request_exception = False
    for name, hostile in HOSTILE.items():
        response = client.post(reverse(login), {"username": hostile, "password": hostile})
        # 200: the form again, with the reason; 429: locked out after LOGIN_FAILURE_LIMIT tries.
        assert response.status_code in (200, 429), (name, response.status_code)
    # Over the bounds: a form error, nothing authenticated, nothing recorded for axes.
    client.post(reverse(login), {"username": "x" * 151, "password": "p" * 513})
    assert not AccessAttempt.objects.filter(username__startswith="x" * 151).exists()


def test_a_plan_saved_with_empty_follow_up_and_closing_uses_the_built_in_ones(client, superuser, client_for):
    client.force_login(superuser)
    topics = [{"key": "a", "question": {"es": "¿Qué haces?", "en": "What do you do?"}}]
    response = client.post(
        reverse("admin:interviews_interviewplan_add"),
        {
            "name": "Plain",
            "slug": "plain",
            "is_active": "on",
            "topics": json.dumps(topics),
            "follow_up": "",
            "closing": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    plan = InterviewPlan.objects.get(slug="plain")
    assert (plan.follow_up, plan.closing) == ({}, {})
    # Emptied again on the change page: still saved, still the built-in wording.
    page = reverse("admin:interviews_interviewplan_change", args=[plan.pk])
    response = client.post(
        page,
        {
            "name": "Plain",
            "slug": "plain",
            "is_active": "on",
            "topics": json.dumps(topics),
            "follow_up": " ",
            "closing": "",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    # An interview on it ends with the built-in closing message.
    api = client_for(UserFactory())
    start = api.post("/api/v1/interviews/start", {"plan": "plain"}, format="json")
    assert start.status_code == 201, start.content
    interview = Interview.objects.get(pk=start.json()["data"]["interview_id"])
    for _ in range(5):
        turn = api.post(
            "/api/v1/interviews/continue",
            {
                "interview_id": str(interview.pk),
                "user_response": "I run the payroll every month in the HR tool, with SAP.",
            },
            format="json",
        )
        assert turn.status_code == 200, turn.content
        if turn.json()["data"]["is_final"]:
            break
    assert turn.json()["data"]["is_final"] is True
    assert turn.json()["data"]["question"] == builtin_plan().closing_for(interview.language, interview.technical_level)


def test_a_plan_field_nested_too_deep_is_a_form_error(client, superuser):
    client.force_login(superuser)
    for field in ("topics", "follow_up", "closing"):
        response = client.post(
            reverse("admin:interviews_interviewplan_add"),
            {
                "name": "Deep",
                "slug": "deep",
                "is_active": "on",
                "topics": "[]",
                "follow_up": "",
                "closing": "",
                field: "[" * 100_000,
            },
        )
        assert response.status_code == 200
        assert "nested deeper than" in response.content.decode()
    assert not InterviewPlan.objects.filter(slug="deep").exists()


def test_expired_rows_still_render(client, superuser, rows):
    # An outstanding token past its expiry, as the blacklist app keeps them until flushed.
    token = RefreshToken.for_user(superuser)
    token.set_exp(from_time=timezone.now() - timedelta(days=30))
    client.force_login(superuser)
    assert client.get(reverse("admin:token_blacklist_outstandingtoken_changelist")).status_code == 200


def test_a_query_the_database_cannot_take_is_a_400_in_words(admin_client, rows):
    interviews = reverse("admin:interviews_interview_changelist")
    # A person's drill-down by date and a normal search still work.
    assert admin_client.get(interviews, {"started_at__year": "2026", "started_at__month": "11"}).status_code == 200
    assert admin_client.get(interviews, {"q": "payroll"}).status_code == 200
    for params, words in (
        ({"q": "x" * 201}, "Search for at most 200 characters."),
        ({"started_at__year": "-1"}, "The date filter started_at__year must be a number from 1 to 9999."),
        ({"started_at__year": "2026", "started_at__month": "13"}, "must be a number from 1 to 12."),
        ({"plan__id__exact": "9" * 30}, "The filter plan__id__exact is too large a number."),
        ({"q": "a\x00b"}, "The address contains a null character."),
    ):
        response = admin_client.get(interviews, params)
        assert response.status_code == 400, params
        assert words in response.content.decode()
