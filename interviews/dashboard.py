"""The admin dashboard (``/admin/dashboard/``): weekly charts of the interviews the reviewer may
read, from the same selectors as ``GET /api/v1/interviews/stats?series=week``.

The page only renders the numbers into a ``json_script`` block; the vendored Chart.js and
``interviews/dashboard.js`` (static files, no inline script: the CSP allows ``'self'``) draw them.
"""

from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse

from interviews import selectors
from interviews.filters import InterviewFilter
from interviews.models import Interview, Language, ReviewState, TechnicalLevel
from interviews.permissions import scope_of

# The list filters the dashboard offers; the API takes them all.
FILTERS = ("start_date", "end_date", "language", "technical_level")


def dashboard_allowed(request, *, site) -> bool:
    """Whoever may read interviews in this admin site (interviews/admin.py) may open the
    dashboard; it shows the interviews in their scope (``permissions.scope_filter``)."""
    return site.is_registered(Interview) and site.get_model_admin(Interview).has_view_permission(request)


def dashboard_view(request, *, site) -> TemplateResponse:
    if not dashboard_allowed(request, site=site):
        raise PermissionDenied
    filterset = InterviewFilter(
        {k: v for k, v in request.GET.items() if k in FILTERS},
        queryset=selectors.interview_list_visible_to(user=request.user),
    )
    context = {
        **site.each_context(request),
        "title": "Interview dashboard",
        "filters": filterset.form,
        "languages": Language.choices,
        "levels": TechnicalLevel.choices,
        "scope": str(scope_of(request.user)),
    }
    if not filterset.is_valid():
        return TemplateResponse(request, "admin/interviews/dashboard.html", context, status=400)
    totals = selectors.interview_stats(queryset=filterset.qs, series=True)
    series = totals.pop("series")
    context |= {
        "totals": totals,
        "series": series,
        "chart_data": {"series": series, "labels": _labels(series)},
        "weekly_rows": list(
            zip(
                *(
                    series[key]
                    for key in (
                        "weeks",
                        "started",
                        "completed",
                        "abandoned",
                        "completion_rate",
                        "abandonment_rate",
                        "average_score",
                    )
                ),
                strict=True,
            )
        ),
        "filtered": bool(filterset.applied()),
    }
    return TemplateResponse(request, "admin/interviews/dashboard.html", context)


def _labels(series: dict) -> dict:
    """People's names for the keys of the breakdowns."""
    return {
        "language": dict(Language.choices),
        "technical_level": dict(TechnicalLevel.choices),
        "plan": series["plan_names"],
        "review_state": dict(ReviewState.choices),
    }
