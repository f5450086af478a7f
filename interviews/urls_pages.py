"""Built-in HTML pages (the browser interview and the live observer view)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from accounts.forms import LoginForm
from interviews import pages

urlpatterns = [
    path("", pages.home, name="pages-home"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="interviews/login.html", next_page="pages-home", authentication_form=LoginForm
        ),
        name="pages-login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page="pages-login"), name="pages-logout"),
    path("interviews/new/", pages.start, name="pages-start"),
    path("interviews/<str:interview_id>/", pages.interview_page, name="pages-interview"),
    path("interviews/<str:interview_id>/watch/", pages.watch_page, name="pages-watch"),
]
