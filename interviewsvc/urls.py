from django.contrib import admin
from django.urls import include, path, re_path

from interviewsvc import health
from interviewsvc.views import api_not_found

urlpatterns = [
    path("health", health.health, name="health"),
    path("ready", health.ready, name="ready"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("interviewsvc.api_urls")),
    # Anything else under /api/ is a 404 in the error envelope, never an HTML page.
    re_path(r"^api(?:/.*)?$", api_not_found),
    path("", include("interviews.urls_pages")),
]

handler400 = "interviewsvc.views.handler400"
handler403 = "interviewsvc.views.handler403"
handler404 = "interviewsvc.views.handler404"
handler500 = "interviewsvc.views.handler500"
