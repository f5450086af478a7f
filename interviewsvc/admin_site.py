"""The admin site, with every admin page's query string bounded before it reaches the database.

Django's changelists pass the query string to the ORM as lookups, evaluated while the page
renders, where a bad value is a 500 rather than a message: ``?q=`` of 200,000 characters
("LIKE or GLOB pattern too complex" on SQLite), ``?started_at__year=-1`` ("year -1 is out of
range"), a NUL character (PostgreSQL refuses it in a literal), an integer past 64 bits
(``OverflowError`` on SQLite, also from a form's choice of related rows). Those answer 400 with
a sentence saying what to change. Installed as the default site (interviewsvc/apps.py),
so the models other apps register (auth, axes, the token blacklist) get it too.
"""

from functools import update_wrapper

from django.contrib import admin
from django.contrib.admin.views.main import SEARCH_VAR
from django.http import HttpResponseBadRequest
from django.urls import path, reverse

from accounts.forms import AdminLoginForm

SEARCH_MAX_CHARS = 200  # the API's ``search`` filter has the same bound
# Date and time parts a lookup can compare with a number, and the values each can take.
DATE_PARTS = {
    "year": (1, 9999),
    "iso_year": (1, 9999),
    "quarter": (1, 4),
    "month": (1, 12),
    "week": (1, 53),
    "day": (1, 31),
    "week_day": (1, 7),
    "iso_week_day": (1, 7),
    "hour": (0, 23),
    "minute": (0, 59),
    "second": (0, 59),
}
INT64 = (-(2**63), 2**63 - 1)


def _as_int(value: str) -> int | None:
    text = value.strip()
    return int(text) if text.lstrip("+-").isdigit() and len(text) < 64 else None


def query_problem(query) -> str | None:
    """What is wrong with an admin page's query string (a ``QueryDict``), in words; None if nothing."""
    for key, values in query.lists():
        parts = key.split("__")
        for value in values:
            if "\x00" in key or "\x00" in value:
                return "The address contains a null character."
            if key == SEARCH_VAR and len(value) > SEARCH_MAX_CHARS:
                return f"Search for at most {SEARCH_MAX_CHARS} characters."
            number = _as_int(value)
            bounds = next((DATE_PARTS[part] for part in parts if part in DATE_PARTS), None)
            if bounds is not None and (number is None or not bounds[0] <= number <= bounds[1]):
                return f"The date filter {key} must be a number from {bounds[0]} to {bounds[1]}."
            if value.strip().lstrip("+-").isdigit() and (number is None or not INT64[0] <= number <= INT64[1]):
                return f"The filter {key} is too large a number."
    return None


class AuditLogAdmin(admin.ModelAdmin):
    """An audit log in the admin: read, never added to, edited or deleted by hand."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class AdminSite(admin.AdminSite):
    login_form = AdminLoginForm  # the username bounded before axes records it (accounts/forms.py)

    def admin_view(self, view, cacheable=False):
        def guarded(request, *args, **kwargs):
            problem = query_problem(request.GET)
            if problem is not None:
                return HttpResponseBadRequest(problem, content_type="text/plain; charset=utf-8")
            try:
                response = view(request, *args, **kwargs)
                # Querysets run while the page renders: render here, where the error is caught.
                if callable(getattr(response, "render", None)) and not response.is_rendered:
                    response.render()
            except OverflowError:  # an id past 64 bits, in a form's choice of related rows (SQLite)
                return HttpResponseBadRequest(
                    "A number in the form is too large; go back and correct it.",
                    content_type="text/plain; charset=utf-8",
                )
            return response

        return super().admin_view(update_wrapper(guarded, view), cacheable)

    def get_urls(self):
        # Before the site's own patterns: "<app_label>/" would take "dashboard/" otherwise.
        return [path("dashboard/", self.admin_view(self.dashboard_view), name="dashboard"), *super().get_urls()]

    def dashboard_view(self, request):
        from interviews.dashboard import dashboard_view  # the app's page; apps load after this module

        return dashboard_view(request, site=self)

    def index(self, request, extra_context=None):
        from interviews.dashboard import dashboard_allowed

        # The index links the dashboard for those who may open it (templates/admin/index.html).
        if dashboard_allowed(request, site=self):
            url = reverse("admin:dashboard", current_app=self.name)
            extra_context = {**(extra_context or {}), "dashboard_url": url}
        return super().index(request, extra_context)
