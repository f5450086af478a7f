"""Everything under /api/v1/. Every route accepts the path with or without a trailing slash."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from interviewsvc.routes import route

urlpatterns = [
    path("auth/", include("accounts.urls")),
    path("", include("interviews.urls")),
    route("schema", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's setup script from a URL: no inline <script>, so the
    # Content-Security-Policy needs no exception for it.
    route("docs", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
]
