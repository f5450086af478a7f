"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "interviewsvc.settings")
# Set Django up (and so load the apps registry) before importing any consumer.
django.setup(set_prefix=False)

from interviewsvc.asgi_handler import SyncChainASGIHandler  # noqa: E402

django_asgi_app = SyncChainASGIHandler()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from interviews.routing import websocket_urlpatterns  # noqa: E402
from interviews.sweep import SweepingApplication  # noqa: E402
from interviewsvc.asgi_limits import BodySizeLimit  # noqa: E402
from interviewsvc.daphne_body_limit import install as limit_daphne_request_bodies  # noqa: E402
from interviewsvc.daphne_close_codes import allow_protocol_close_codes  # noqa: E402

allow_protocol_close_codes()
# Request bodies are limited while they arrive: by daphne before it buffers anything, and by
# BodySizeLimit under any ASGI server (docs/operations.md, "Request bodies and hostile input").
limit_daphne_request_bodies()

# Every daphne process finishes the turns a dead one left pending (interviews/sweep.py).
application = SweepingApplication(
    ProtocolTypeRouter(
        {
            "http": BodySizeLimit(django_asgi_app),
            "websocket": AllowedHostsOriginValidator(URLRouter(websocket_urlpatterns)),
        }
    )
)
