"""URL-level error views: the error envelope under /api/, Django's pages elsewhere."""

from django.views import defaults

from interviewsvc.api import error_json_response


def api_not_found(request, *args, **kwargs):
    return error_json_response(request, status=404, error_code="not_found", message=f"No route for {request.path}.")


def handler404(request, exception=None):
    if request.path.startswith("/api/"):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)


def handler500(request):
    if request.path.startswith("/api/"):
        return error_json_response(request, status=500, error_code="internal_error", message="Internal server error.")
    return defaults.server_error(request)
