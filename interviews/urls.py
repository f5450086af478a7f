from interviews import views
from interviewsvc.routes import route

urlpatterns = [
    route("interviews/start", views.InterviewStartView.as_view(), name="interview-start"),
    route("interviews/continue", views.InterviewContinueView.as_view(), name="interview-continue"),
    route("interviews/migrate", views.InterviewMigrateView.as_view(), name="interview-migrate"),
    route("interviews/stats", views.InterviewStatsView.as_view(), name="interview-stats"),
    route("interviews", views.InterviewListView.as_view(), name="interview-list"),
    route("interviews/{interview_id}", views.InterviewDetailView.as_view(), name="interview-detail"),
    route("interviews/{interview_id}/messages", views.InterviewMessagesView.as_view(), name="interview-messages"),
    route("interviews/{interview_id}/ws-ticket", views.InterviewWsTicketView.as_view(), name="interview-ws-ticket"),
]
