"""Everything under /api/v1/. Every route accepts the path with or without a trailing slash."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from interviewsvc.routes import route

urlpatterns = [
    path("auth/", include("accounts.urls")),
    path("", include("interviews.urls")),
    route("schema", SpectacularAPIView.as_view(), name="schema"),
    route("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]
