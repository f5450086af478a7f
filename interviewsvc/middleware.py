"""Request id and body-size limit, both usable under ASGI without a thread hop."""

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.utils.decorators import sync_and_async_middleware

from interviewsvc.api import error_json_response
from interviewsvc.logging import bind_request, request_id_from


def _assign_request_id(request) -> None:
    request.request_id = request_id_from(request.headers.get("X-Request-ID", ""))
    bind_request(request.request_id)


@sync_and_async_middleware
def RequestIdMiddleware(get_response):  # noqa: N802 - Django middleware naming
    """Give every request an id (echoing a valid incoming ``X-Request-ID``) and return it."""
    if iscoroutinefunction(get_response):

        async def middleware(request):
            _assign_request_id(request)
            response = await get_response(request)
            response["X-Request-ID"] = request.request_id
            return response

    else:

        def middleware(request):
            _assign_request_id(request)
            response = get_response(request)
            response["X-Request-ID"] = request.request_id
            return response

    return middleware


def _too_large(request):
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if length > settings.MAX_REQUEST_BODY_BYTES:
        return error_json_response(
            request,
            status=413,
            error_code="payload_too_large",
            message=f"Request body is larger than the limit of {settings.MAX_REQUEST_BODY_BYTES} bytes.",
        )
    return None


@sync_and_async_middleware
def BodySizeLimitMiddleware(get_response):  # noqa: N802 - Django middleware naming
    """Refuse a declared body over ``MAX_REQUEST_BODY_BYTES`` with 413 before anything parses it.

    The second line: served by daphne or any ASGI server the body is refused while it arrives
    (interviewsvc/daphne_body_limit.py, interviewsvc/asgi_limits.py). This covers Django called
    directly (the test client, a WSGI server).
    """
    if iscoroutinefunction(get_response):

        async def middleware(request):
            return _too_large(request) or await get_response(request)

    else:

        def middleware(request):
            return _too_large(request) or get_response(request)

    return middleware
