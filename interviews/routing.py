"""WebSocket routes. ``interviewsvc.asgi`` wraps them in ``AllowedHostsOriginValidator``.

``AuthMiddlewareStack`` resolves the Django session cookie into ``scope["user"]`` (built-in
pages); tickets and the ``bearer`` subprotocol are checked by the consumer itself.
"""

from channels.auth import AuthMiddlewareStack
from django.urls import re_path

from interviews.realtime.consumer import InterviewConsumer

websocket_urlpatterns = [
    # Any segment matches; the consumer closes with 4404 when it is not an interview id.
    re_path(r"^ws/interviews/(?P<interview_id>[^/]+)/?$", AuthMiddlewareStack(InterviewConsumer.as_asgi())),
]
