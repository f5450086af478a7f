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
from interviewsvc.daphne_close_codes import allow_protocol_close_codes  # noqa: E402

allow_protocol_close_codes()

# Every daphne process finishes the turns a dead one left pending (interviews/sweep.py).
application = SweepingApplication(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            "websocket": AllowedHostsOriginValidator(URLRouter(websocket_urlpatterns)),
        }
    )
)
