from interviews import import_views, list_views, reports_views, reviews_views, turn_views, views
from interviews.exports import job_views
from interviews.exports import views as export_views
from interviewsvc.routes import route

urlpatterns = [
    route("interviews/start", turn_views.InterviewStartView.as_view(), name="interview-start"),
    route("interviews/continue", turn_views.InterviewContinueView.as_view(), name="interview-continue"),
    route("interviews/migrate", import_views.InterviewMigrateView.as_view(), name="interview-migrate"),
    route("interviews/stats", list_views.InterviewStatsView.as_view(), name="interview-stats"),
    route("interviews", list_views.InterviewListView.as_view(), name="interview-list"),
    # Before "interviews/{interview_id}", which would otherwise take "export" for an id.
    route("interviews/export", export_views.InterviewExportView.as_view(), name="interview-export"),
    route("interviews/export-jobs", job_views.ExportJobCreateView.as_view(), name="export-job-create"),
    route("interviews/{interview_id}", views.InterviewDetailView.as_view(), name="interview-detail"),
    route(
        "interviews/{interview_id}/export",
        export_views.InterviewExportDetailView.as_view(),
        name="interview-export-detail",
    ),
    route("interviews/{interview_id}/messages", views.InterviewMessagesView.as_view(), name="interview-messages"),
    route("interviews/{interview_id}/report", reports_views.InterviewReportView.as_view(), name="interview-report"),
    route("interviews/{interview_id}/reviews", reviews_views.InterviewReviewsView.as_view(), name="interview-reviews"),
    route("interviews/{interview_id}/ws-ticket", views.InterviewWsTicketView.as_view(), name="interview-ws-ticket"),
    route("export-jobs/{job_id}", job_views.ExportJobDetailView.as_view(), name="export-job-detail"),
    route("export-jobs/{job_id}/download", job_views.ExportJobDownloadView.as_view(), name="export-job-download"),
]
