"""URL-level error views: the error envelope under /api/, Django's pages elsewhere."""

from django.core.exceptions import DisallowedHost
from django.views import defaults

from interviewsvc.api import error_json_response


def api_not_found(request, *args, **kwargs):
    return error_json_response(request, status=404, error_code="not_found", message=f"No route for {request.path}.")


def handler400(request, exception=None):
    """A request Django refuses before any view (a ``Host`` not in ALLOWED_HOSTS, say)."""
    if request.path.startswith("/api/"):
        message = "Bad request."
        if isinstance(exception, DisallowedHost):
            message = "The Host header names a host this service does not serve (ALLOWED_HOSTS)."
        return error_json_response(request, status=400, error_code="bad_request", message=message)
    return defaults.bad_request(request, exception)


def handler403(request, exception=None):
    if request.path.startswith("/api/"):
        return error_json_response(request, status=403, error_code="permission_denied", message="Forbidden.")
    return defaults.permission_denied(request, exception)


def handler404(request, exception=None):
    if request.path.startswith("/api/"):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)


def handler500(request):
    if request.path.startswith("/api/"):
        return error_json_response(request, status=500, error_code="internal_error", message="Internal server error.")
    return defaults.server_error(request)
