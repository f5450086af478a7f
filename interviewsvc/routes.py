from django.urls import re_path

_PARAM = {"interview_id": r"(?P<interview_id>[^/]+)", "job_id": r"(?P<job_id>[^/]+)"}


def route(pattern: str, view, name: str):
    """A URL that matches with and without its trailing slash (no redirect).

    ``{interview_id}`` (``{job_id}``) in ``pattern`` captures one path segment; the view validates it, so a
    malformed id is a 422 ``validation_error`` rather than an unmatched route.
    """
    return re_path(rf"^{pattern.format(**_PARAM)}/?$", view, name=name)
