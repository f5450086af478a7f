"""Django's ASGI handler with the middleware chain and the view run in sync mode.

Django's own ``ASGIHandler`` loads the middleware in async mode. Our views are sync (DRF), and
the built-in middleware (security, sessions, CSRF, auth, messages, clickjacking, WhiteNoise)
is ``MiddlewareMixin``-based: under ASGI each of its ``process_request``/``process_response``
hooks hops to a worker thread and back, about fourteen thread switches per request, which cost
~4 ms per request on the benchmark machine (docs/operations.md, "Benchmarks"). Here the whole
chain runs in sync mode, in one hop to the request's worker thread, as under WSGI; async views
(``/health``, ``/ready``) are called through ``async_to_sync`` by Django as usual, and streaming
responses (exports) are still sent by the async handler.
"""

from interviewsvc.compat import guard

guard(__name__)  # Django's version range (interviewsvc/compat.py), before Django's internals are used

from asgiref.sync import sync_to_async  # noqa: E402
from django.core.handlers import base  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.http import FileResponse  # noqa: E402


class SyncChainASGIHandler(ASGIHandler):
    def __init__(self):
        base.BaseHandler.__init__(self)
        self.load_middleware(is_async=False)

    async def run_get_response(self, request):
        # thread_sensitive: the request's own thread (ThreadSensitiveContext in __call__), the one
        # request_started/request_finished and their database connection handling run in.
        response = await sync_to_async(self.get_response, thread_sensitive=True)(request)
        response._handler_class = self.__class__
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size
        return response
