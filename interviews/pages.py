"""Built-in HTML pages: sign in, start an interview, take it (or watch it) live over the socket.

The pages only render; the conversation itself runs over ``/ws/interviews/<id>/`` with the
Django session cookie, through the same consumer and services as every other client.
"""

import uuid

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from interviews import selectors, services
from interviews.exceptions import InterviewAccessDenied, InterviewNotFound
from interviews.models import Language, TechnicalLevel
from interviews.permissions import Action, InterviewAccessPermission, is_owner

LOGIN_URL = "pages-login"


class StartForm(forms.Form):
    language = forms.ChoiceField(choices=Language.choices, initial=Language.ES)
    technical_level = forms.ChoiceField(choices=TechnicalLevel.choices, initial=TechnicalLevel.BASIC)


@require_GET
@login_required(login_url=LOGIN_URL)
def home(request):
    interviews = selectors.interview_list_visible_to(user=request.user).filter(employee=request.user)
    context = {"interviews": interviews.order_by("-started_at")[:20], "form": StartForm()}
    return render(request, "interviews/home.html", context)


@require_POST
@login_required(login_url=LOGIN_URL)
def start(request):
    form = StartForm(request.POST)
    if not form.is_valid():
        return render(request, "interviews/home.html", {"interviews": [], "form": form}, status=422)
    result = services.interview_start(user=request.user, **form.cleaned_data)
    return redirect("pages-interview", interview_id=result.interview.id)


def _live(request, interview_id: str, *, watch: bool):
    try:
        interview = selectors.interview_get(interview_id=uuid.UUID(interview_id))
    except (ValueError, InterviewNotFound):
        raise Http404("No such interview")
    try:
        InterviewAccessPermission.check(request.user, interview, Action.VIEW)
    except InterviewAccessDenied:
        return HttpResponseForbidden("You may not see this interview.")
    context = {
        "interview": interview,
        "watch": watch or not is_owner(request.user, interview),
        "ws_path": f"/ws/interviews/{interview.id}/",
        "admin_url": reverse("admin:interviews_interview_change", args=[interview.id]) if watch else "",
    }
    return render(request, "interviews/live.html", context)


@require_GET
@login_required(login_url=LOGIN_URL)
def interview_page(request, interview_id: str):
    """The interviewee's page: questions arrive and answers go over the socket."""
    return _live(request, interview_id, watch=False)


@require_GET
@login_required(login_url=LOGIN_URL)
def watch_page(request, interview_id: str):
    """The live observer view linked from the admin's interview page (read-only)."""
    return _live(request, interview_id, watch=True)
