from accounts import views
from interviewsvc.routes import route

urlpatterns = [
    route("token", views.TokenObtainView.as_view(), name="token-obtain"),
    route("token/refresh", views.TokenRefreshView.as_view(), name="token-refresh"),
    route("token/verify", views.TokenVerifyView.as_view(), name="token-verify"),
    route("logout", views.LogoutView.as_view(), name="logout"),
    route("me", views.MeView.as_view(), name="me"),
]
